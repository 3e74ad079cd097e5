"""A shallower SPLADE distilled from a deeper one: the first stage of the distilled model
(``scripts/train_default_models.py --what sparse-distilled``; the second is ``train_sparse``'s
recipe on the labelled pairs, from this stage's output).

Usage::

    from quoradesk.core.training.distil import DistilConfig, distil_sparse

    folder = distil_sparse("resources/models/splade-minilm-quora", questions, "out/student",
                           DistilConfig(layers=(0, 2, 3, 5)))

The student is the teacher with only ``layers`` of its transformer layers (its embeddings and
vocabulary head unchanged and frozen). Its layers learn, on unlabelled questions, the teacher's
last hidden state at every token (mean squared error) and the teacher's SPLADE vector over its
active vocabulary (the head's max-pooled log1p(relu) over those entries, summed squared error
per question, weighted by ``vector_weight``). Why not sentence-transformers' trainer with its
``SparseMSELoss``: that loss takes the teacher's whole vectors as a dataset column (16,000
questions x 30,522 floats) and reaches no hidden state; measured, the hidden states alone
stopped at held-out pair AP 0.831 (3 layers, 8 epochs), with the vectors 0.842 (5 epochs; 4
layers 0.845).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .data import TrainingError
from .events import TrainEvent


@dataclass
class DistilConfig:
    layers: tuple[int, ...] = (0, 2, 3, 5)  # the teacher's layers the student keeps (its first and last)
    epochs: int = 5
    learning_rate: float = 3e-4
    batch_size: int = 32
    vector_weight: float = 0.01  # the vector loss (about 40-60 a question) against the hidden one (0.07-0.1)
    seed: int = 0


def keep_layers(model, layers, name: object = "the model") -> None:
    """Cut a transformers BERT-style ``model`` (a bare ``BertModel`` or one under a head, such
    as a masked-LM) down to the transformer ``layers`` it lists, in place; ``name`` names it
    in the error when a layer is not there."""
    import torch

    bert = model.bert if hasattr(model, "bert") else model
    total = model.config.num_hidden_layers
    if not layers or not all(0 <= i < total for i in layers):
        raise TrainingError(f"{name} has {total} layers; cannot keep {list(layers)}")
    bert.encoder.layer = torch.nn.ModuleList(bert.encoder.layer[i] for i in layers)
    model.config.num_hidden_layers = len(layers)


def distil_sparse(teacher_dir: str | Path, questions: list[str], out_dir: str | Path,
                  config: DistilConfig | None = None, *, bf16: bool | None = None,
                  on_event: Callable[[TrainEvent], None] | None = None,
                  stop: threading.Event | None = None) -> Path:
    """Save into ``out_dir`` a student of the SPLADE in ``teacher_dir`` (a BERT masked-LM
    SparseEncoder with an active vocabulary file) taught on ``questions``; return the folder.
    ``bf16``: the student's products in bfloat16 autocast (default: where the CPU has it)."""
    import numpy as np
    import torch

    from .. import models
    from ..models import active_vocabulary

    config = config or DistilConfig()
    teacher_dir = Path(teacher_dir)
    columns = active_vocabulary.load(teacher_dir)
    if columns is None:
        raise TrainingError(f"{teacher_dir} has no active vocabulary for its weights "
                            f"(scripts/train_default_models.py --what active-vocabulary)")
    if not questions:
        raise TrainingError("No questions to distil on")
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    teacher = models.load_sparse_encoder(teacher_dir, "cpu")
    student = models.load_sparse_encoder(teacher_dir, "cpu")
    hf = student[0].auto_model
    keep_layers(hf, config.layers, teacher_dir)
    bf16 = models.native_bf16() if bf16 is None else bf16

    head = hf.cls.predictions
    rows = torch.from_numpy(columns)
    weight_t = head.decoder.weight.detach()[rows].t().contiguous()
    bias = head.bias.detach()[rows].contiguous()

    def vectors(hidden, mask, transform):
        """The SPLADE vectors over the active vocabulary (padding positions left out)."""
        logits = transform(hidden) @ weight_t.to(hidden.dtype) + bias.to(hidden.dtype)
        logits = logits.masked_fill(~mask.unsqueeze(-1), -1e4)
        return torch.log1p(torch.relu(logits.amax(dim=1).float()))

    tokenizer = teacher.tokenizer
    encoded = tokenizer(questions, truncation=True, max_length=teacher.max_seq_length)
    order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]

    def features(batch):
        return tokenizer.pad({k: [encoded[k][i] for i in batch] for k in encoded}, return_tensors="pt")

    # The teacher's targets, once: about 1 GB for 16,000 questions.
    body, transform = teacher[0].auto_model.bert.eval(), teacher[0].auto_model.cls.predictions.transform
    targets = []
    with torch.inference_mode():
        for batch in batches:
            f = features(batch)
            hidden = body(**f).last_hidden_state
            targets.append((hidden.clone(), vectors(hidden, f["attention_mask"].bool(), transform).bfloat16()))
    if on_event:
        on_event(TrainEvent("teacher", 0, 0.0, {"questions": len(questions)}))
    del teacher, body, transform

    for p in hf.parameters():
        p.requires_grad_(False)
    for p in hf.bert.encoder.parameters():  # embeddings and head stay the teacher's
        p.requires_grad_(True)
    trained = [p for p in hf.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=config.learning_rate, weight_decay=0.01)
    steps = config.epochs * len(batches)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, s / 100) * max(0.0, 1 - s / steps))
    step = 0
    started = time.perf_counter()
    for epoch in range(config.epochs):
        hf.train()
        sums = [0.0, 0.0]
        shuffled = list(range(len(batches)))
        rng.shuffle(shuffled)
        for j in shuffled:
            if stop is not None and stop.is_set():
                raise TrainingError("Distillation stopped")
            f = features(batches[j])
            mask = f["attention_mask"].bool()
            hidden_target, vector_target = targets[j]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                hidden = hf.bert(**f).last_hidden_state
                vector_loss = ((vectors(hidden, mask, head.transform) - vector_target.float()) ** 2).sum(1).mean()
            hidden_loss = ((hidden.float() - hidden_target) ** 2)[mask].mean()
            optimizer.zero_grad()
            (hidden_loss + config.vector_weight * vector_loss).backward()
            optimizer.step()
            schedule.step()
            step += 1
            sums[0] += hidden_loss.item()
            sums[1] += vector_loss.item()
        if on_event:
            on_event(TrainEvent("loss", step, float(epoch + 1), {
                "hidden_loss": sums[0] / len(batches), "vector_loss": sums[1] / len(batches),
                "seconds": time.perf_counter() - started}))
    hf.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    student.save(str(out))
    return out
