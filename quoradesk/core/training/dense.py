"""Fine-tune a dense bi-encoder (a SentenceTransformer) on labelled duplicate pairs: the
seeds' first Quora example (training_MultipleNegativesRankingLoss / OnlineContrastiveLoss).

Usage::

    from quoradesk.core import training
    from quoradesk.core.training.dense import DenseConfig, train_dense

    train, held_out = training.split_held_out(training.read_pair_file("dev.tsv"), 0.15, seed=12)
    result = train_dense(minilm_dir, train, held_out, "out/dense", DenseConfig(loss="mnrl"),
                         on_event=print, stop=threading.Event())
    result.metrics["held_out_cosine_ap"]

``mnrl`` learns from the duplicates alone, every other question of a batch serving as a
negative (both directions of each pair, a batch sampler without duplicate texts);
``online-contrastive`` from every labelled pair, pulling duplicates together and pushing
apart the non-duplicates that score high. Events, stop and the saved card are those of
``training.train_sparse`` and ``train_cross``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .data import LabelledPairs, TrainingError
from .events import TrainEvent, _callback
from .trainers import TrainResult, _card, _finish, _prepare, _steps, _trainer_args

DENSE_LOSSES = ("mnrl", "online-contrastive")


@dataclass
class DenseConfig:
    epochs: float = 1.0
    batch_size: int = 64
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    max_steps: int = -1
    eval_steps: int | None = None  # default: ~10 evaluations per run
    logging_steps: int = 10
    seed: int = 12
    # bfloat16 autocast in training: None = where the device computes it natively (_use_bf16).
    bf16: bool | None = None
    loss: str = "mnrl"


def train_dense(
    base: str | Path,
    train: LabelledPairs,
    held_out: LabelledPairs | None,
    out_dir: str | Path,
    config: DenseConfig | None = None,
    *,
    device: str = "auto",
    on_event: Callable[[TrainEvent], None] | None = None,
    stop: threading.Event | None = None,
    overwrite: bool = False,
    half: bool = False,
) -> TrainResult:
    config = config or DenseConfig()
    if config.loss not in DENSE_LOSSES:
        raise TrainingError(f"Unknown dense loss {config.loss!r}: use one of {', '.join(DENSE_LOSSES)}")
    if config.loss == "online-contrastive" and train.positives == len(train):
        raise TrainingError("OnlineContrastiveLoss needs non-duplicate pairs (label 0) too")
    base, out, device = _prepare(base, "SentenceTransformer base model", train, out_dir, overwrite, device)

    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.evaluation import BinaryClassificationEvaluator
    from sentence_transformers.losses import MultipleNegativesRankingLoss, OnlineContrastiveLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    from .. import models

    try:
        model = models.load_dense_model(base, device, model_kwargs={"dtype": torch.float32})
    except Exception as exc:
        raise TrainingError(f"Base model unusable: cannot load {base} as a SentenceTransformer: {exc}") from exc
    if config.loss == "mnrl":
        anchors, positives = train.duplicates_both_ways()
        dataset = Dataset.from_dict({"anchor": anchors, "positive": positives})
        loss = MultipleNegativesRankingLoss(model)
    else:
        dataset = Dataset.from_dict({"sentence1": train.q1, "sentence2": train.q2,
                                     "label": [int(y) for y in train.labels]})
        loss = OnlineContrastiveLoss(model)
    evaluator = None
    if held_out is not None and len(held_out):
        evaluator = BinaryClassificationEvaluator(held_out.q1, held_out.q2, held_out.labels, name="held_out",
                                                  batch_size=64, write_csv=False)
    total = _steps(len(dataset), config.batch_size, config.epochs, config.max_steps)
    args = SentenceTransformerTrainingArguments(
        **_trainer_args(config, out, device, evaluator is not None, total),
        # In-batch negatives must not be copies of the anchor's own positive.
        batch_sampler=BatchSamplers.NO_DUPLICATES if config.loss == "mnrl" else BatchSamplers.BATCH_SAMPLER,
    )
    reporter = _callback(on_event, stop)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss,
                                         evaluator=evaluator, callbacks=[reporter])
    return _finish(
        trainer, model, evaluator, reporter, out, half, on_event,
        _card("sentence-transformer (dense)", base, train, held_out, len(dataset), config, device,
              type(loss).__name__),
    )
