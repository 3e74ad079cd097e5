"""A shallower CrossEncoder taught by a deeper one: the distilled reranker
(``scripts/train_default_models.py --what cross-distilled``).

Usage::

    from quoradesk.core.training.distil_cross import CrossDistilConfig, distil_cross

    result = distil_cross("resources/models/cross-quora", train, held_out, "out/cross-quora-l4",
                          splade="resources/models/splade-minilm-l4-quora")

The student starts as the teacher with only ``layers`` of its transformer layers (embeddings and
classifier kept) and learns the teacher's probability (BinaryCrossEntropyLoss on soft labels,
``train_cross``) on the pairs a reranker meets in mining: each training question's nearest
``top_k`` training questions by the SPLADE, plus the labelled pairs and the swapped comparisons,
all scored by the teacher in float32. Only training questions are used, so a held-out split stays
unseen by both.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from .data import LabelledPairs, TrainingError, teacher_pairs
from .distil import keep_layers
from .events import TrainEvent
from .negatives import swapped_comparisons
from .trainers import CrossConfig, TrainResult, train_cross, write_card


@dataclass
class CrossDistilConfig:
    layers: tuple[int, ...] = (0, 2, 3, 5)  # the teacher's layers the student keeps
    top_k: int = 2  # neighbours per training question scored by the teacher
    epochs: float = 2.0
    learning_rate: float = 1e-4
    batch_size: int = 32
    seed: int = 12


def cross_student_base(teacher_dir: str | Path, layers, out_dir: str | Path) -> Path:
    """A copy of the CrossEncoder in ``teacher_dir`` (float32) keeping only ``layers`` of its
    transformer layers; its int8 file, calibration and card are not copied (they belong to the
    teacher's weights)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    teacher_dir, out = Path(teacher_dir), Path(out_dir)
    model = AutoModelForSequenceClassification.from_pretrained(str(teacher_dir), dtype=torch.float32,
                                                               local_files_only=True)
    keep_layers(model, layers, teacher_dir)
    shutil.copytree(teacher_dir, out, ignore=shutil.ignore_patterns(
        "onnx", "quoradesk_*.json", "model.safetensors", "README.md", "_checkpoints"))
    model.config.dtype = "float32"
    model.save_pretrained(str(out))
    return out


def cross_teacher_pairs(train: LabelledPairs, splade, teacher, top_k: int, *, stop: threading.Event | None = None,
                        on_progress: Callable[[int, int], None] | None = None) -> LabelledPairs:
    """Each training question's ``top_k`` nearest training questions by the SPLADE (as mining
    finds candidates), the labelled pairs and their swapped comparisons, as unique pairs labelled
    with the ``teacher``'s probability."""
    scored = teacher_pairs(train, splade, teacher, top_k, extra=swapped_comparisons(train),
                           what="the distillation pairs", stop=stop, on_progress=on_progress)
    return LabelledPairs(scored.q1, scored.q2, scored.scores, train.source)


def distil_cross(teacher_dir: str | Path, train: LabelledPairs, held_out: LabelledPairs | None, out_dir: str | Path,
                 splade: str | Path, config: CrossDistilConfig | None = None, *, device: str = "cpu",
                 on_event: Callable[[TrainEvent], None] | None = None, stop: threading.Event | None = None,
                 overwrite: bool = False, half: bool = False) -> TrainResult:
    """Train into ``out_dir`` a student of the CrossEncoder in ``teacher_dir`` on ``train``'s
    questions (the SPLADE in ``splade`` finds their neighbours); ``held_out`` evaluates it and
    fits its duplicate probability, as ``train_cross`` does."""
    from .. import models

    config = config or CrossDistilConfig()
    if not len(train):
        raise TrainingError("No pairs to distil on")
    teacher = models.load_cross_encoder(teacher_dir, device)  # float32: the scores to learn
    splade_model = models.load_sparse_encoder(splade, device)
    report = (lambda done, total: on_event(TrainEvent("teacher", 0, 0.0, {"done": done, "total": total}))) \
        if on_event else None
    soft = cross_teacher_pairs(train, splade_model, teacher, config.top_k, stop=stop, on_progress=report)
    del teacher, splade_model
    with tempfile.TemporaryDirectory(prefix="cross-student-") as tmp:
        base = cross_student_base(teacher_dir, config.layers, Path(tmp) / "base")
        # float32 steps, as the teacher was trained: bf16 autocast lost it 0.008 held-out AP.
        recipe = CrossConfig(epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
                             seed=config.seed, bf16=False, eval_steps=10**9)
        result = train_cross(base, soft, held_out, out_dir, recipe, device=device, on_event=on_event, stop=stop,
                             overwrite=overwrite, half=half, miner=splade)  # its probability fitted with this SPLADE
    result.card.update(kind="cross-encoder (distilled)", base_model=str(teacher_dir), distilled_layers=list(config.layers),
                       distil_config=asdict(config), teacher_pairs=len(soft), labelled_pairs=len(train),
                       loss="BinaryCrossEntropyLoss on the teacher's probabilities")
    write_card(Path(out_dir), result.card)
    return result
