"""Fine-tune the SPLADE SparseEncoder and the CrossEncoder on labelled duplicate pairs.

The recipes are sentence-transformers' Quora examples: SPLADE with ``SpladeLoss`` around
``SparseMultipleNegativesRankingLoss`` (positive pairs only, both directions, a batch sampler
without duplicates), the CrossEncoder with ``BinaryCrossEntropyLoss`` on labelled pairs.

Usage::

    from quoradesk.core import training

    pairs = training.read_pair_file("dev.tsv")                    # or pairs_from_store(store)
    train, held_out = training.split_held_out(pairs, 0.15, seed=12)  # no shared question text
    result = training.train_sparse(base_dir, train, held_out, "out/splade",
                                   training.SparseConfig(epochs=1),
                                   on_event=print, stop=threading.Event())
    result.metrics, result.seconds, result.path

``on_event`` receives every logged loss and every evaluation as a :class:`TrainEvent` (the
Train tab plots them); setting ``stop`` ends training within one step and still saves a
loadable model. Every check on the data, the base model and the output folder runs before
the first step, so a bad input costs no training time.
"""

from __future__ import annotations

import json
import platform
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import models
from ..calibration import fit_by_mining
from .data import (
    LabelledPairs,
    ScoredPairs,
    TrainingError,
    check_pairs,
    teacher_pairs,
)
from .distil import keep_layers
from .events import TaskLosses, TrainEvent, _callback, task_loss_trainer
from .negatives import hard_negatives, swapped_comparisons

SPARSE_LOSSES = ("mnrl", "mnrl-cos", "cosent", "mnrl+cosent", "distil", "mnrl-cos+distil")


@dataclass
class SparseConfig:
    epochs: float = 1.0
    batch_size: int = 64
    learning_rate: float = 2e-5
    lambda_query: float = 5e-5  # SpladeLoss query_regularizer_weight (seed recipe)
    lambda_corpus: float = 3e-5  # SpladeLoss document_regularizer_weight
    warmup_ratio: float = 0.1
    max_steps: int = -1
    eval_steps: int | None = None  # default: ~10 evaluations per run
    logging_steps: int = 10
    seed: int = 12
    # bfloat16 autocast in training: None = where the device computes it natively (_use_bf16).
    bf16: bool | None = None
    # "mnrl": the seed recipe (positives only, in-batch negatives, dot product);
    # "mnrl-cos": the same with cosine similarity (scale 20), matching cosine mining;
    # "cosent": SparseCoSENTLoss on every labelled pair (non-duplicates as hard negatives);
    # "mnrl+cosent": both, as the seeds' multi-task example does for pair classification;
    # "distil": SparseCoSENTLoss on teacher-scored pairs (see ``teacher_pairs``): each
    # training question's nearest SPLADE neighbours, ranked as a CrossEncoder ranks them;
    # "mnrl-cos+distil": both "mnrl-cos" and "distil" (multi-task).
    loss: str = "mnrl"
    distil_top_k: int = 3  # neighbours per training question scored by the teacher


@dataclass
class CrossConfig:
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    max_steps: int = -1
    eval_steps: int | None = None
    logging_steps: int = 10
    seed: int = 12
    # bfloat16 autocast in training: None = where the device computes it natively (_use_bf16).
    bf16: bool | None = None
    # Extra non-duplicates (training_negatives): "swapped": each comparison or direction in the
    # training questions swapped ("Is A better than B?" / "Is B better than A?");
    # hard_negatives > 0: the pipeline's own candidates, each training question's nearest
    # ``hard_negatives`` neighbours by the SPLADE ``miner`` that no label makes duplicates,
    # minus those the ``teacher`` CrossEncoder scores at or above max_teacher_score.
    swapped: bool = False
    # Times each swapped pair is repeated. About 100 Quora training questions have a swappable
    # comparison; repeating their swaps 10 times taught the model that comparisons are never
    # duplicates (paraphrases scored ~0.01), so once.
    swapped_repeats: int = 1
    # Restated comparisons as duplicates beside the swaps (training_negatives.swapped_comparisons):
    # measured better on swaps, worse on AP; off.
    restated: bool = False
    hard_negatives: int = 0
    max_teacher_score: float = 0.5


@dataclass
class TrainResult:
    path: Path
    metrics: dict
    seconds: float
    steps: int
    stopped: bool
    card: dict
    model: object = None  # the trained model, still in memory (float32)


def shallow_base(base: str | Path, layers: int, out_dir: str | Path) -> Path:
    """A copy of a BERT-style ``base`` with only ``layers`` of its transformer layers, spread
    evenly (6 -> 3 keeps layers 0, 2, 4, as DistilBERT was initialised): a CrossEncoder
    trained from it reranks faster (bench/rerank.py)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    base = _check_base(base, "CrossEncoder base model")
    model = AutoModel.from_pretrained(str(base), local_files_only=True, trust_remote_code=False,
                                      dtype=torch.float32)
    total = model.config.num_hidden_layers
    if not 0 < layers <= total:
        raise TrainingError(f"{base} has {total} layers; cannot keep {layers}")
    keep_layers(model, [round(i * total / layers) for i in range(layers)], base)
    out = Path(out_dir)
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(base), local_files_only=True).save_pretrained(str(out))
    return out


def _check_output(out_dir: str | Path, overwrite: bool) -> Path:
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise TrainingError(f"Output folder {out} exists and is not empty; choose another or allow overwriting")
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _check_base(base: str | Path, kind: str) -> Path:
    try:
        return models.check_model_dir(base, kind)
    except models.ModelError as exc:
        raise TrainingError(f"Base model unusable: {exc}") from exc


def _hardware(device: str) -> dict:
    import torch

    info = {"device": device, "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads()}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _steps(n_examples: int, batch: int, epochs: float, max_steps: int) -> int:
    per_epoch = max(1, n_examples // batch)
    return max_steps if max_steps > 0 else max(1, int(per_epoch * epochs))


def _card(kind: str, base: Path, train: LabelledPairs, held_out: LabelledPairs | None, n_examples: int,
          config, device: str, loss: str, **extra) -> dict:
    """What every recipe writes to a model's quoradesk_training.json before training;
    ``_finish`` adds the held-out metrics, time and steps."""
    return {"kind": kind, "base_model": str(base), "data": train.source, "train_pairs": len(train),
            "train_examples": n_examples, "held_out_pairs": len(held_out or []), "config": asdict(config),
            **extra, "hardware": _hardware(device), "bf16": _use_bf16(config, device), "loss": loss}


def write_card(out: Path, card: dict) -> None:
    """Write a model card (quoradesk_training.json) into the model folder ``out``."""
    (out / "quoradesk_training.json").write_text(json.dumps(card, indent=2, sort_keys=True))


def _trainer_args(config, out: Path, device: str, evaluated: bool, total_steps: int) -> dict:
    """The training arguments every recipe here shares (sparse, cross and dense configs have
    these fields): no checkpoints, ~10 evaluations a run unless set, bf16 where it is native."""
    return dict(
        output_dir=str(out / "_checkpoints"),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_ratio=config.warmup_ratio,
        eval_strategy="steps" if evaluated else "no",
        eval_steps=config.eval_steps or max(1, total_steps // 10),
        logging_steps=config.logging_steps,
        save_strategy="no",
        seed=config.seed,
        report_to="none",
        use_cpu=device == "cpu",
        bf16=_use_bf16(config, device),
        disable_tqdm=True,
    )


def _use_bf16(config, device: str) -> bool:
    """Train in bfloat16 autocast on a GPU, and on a CPU that computes it natively
    (models.native_bf16: AVX512-BF16 or AMX): on 2 EPYC cores a step took 1.95x less time for
    the accurate SPLADE, 1.72x for the CrossEncoder, 1.85x for the dense model, with the same
    losses to two digits (bench/train_bf16.py).
    Elsewhere bf16 is emulated and slower, so float32. ``config.bf16`` overrides the choice
    (True is still refused where autocast has no bf16: MPS)."""
    if device.startswith("cuda"):
        return config.bf16 is not False
    if device != "cpu":
        return False
    return config.bf16 if config.bf16 is not None else models.native_bf16()


def _prepare(base, kind: str, train: LabelledPairs, out_dir, overwrite: bool, device: str):
    """Every check that can fail, before any model is loaded or step taken."""
    base = _check_base(base, kind)
    check_pairs(train)
    out = _check_output(out_dir, overwrite)
    return base, out, models.pick_device(device)


def _calibrate(out: Path, held_out: LabelledPairs | None, path: str, device: str, **mining) -> dict:
    """The trained model's own duplicate probability (core.calibration), fitted on its held-out
    pairs as a mining run with it scores them, stored in its folder; what the card says of it."""
    if held_out is None or len(held_out) == 0:
        return {"fitted": False, "why": "no held-out pairs"}
    fits = fit_by_mining(held_out, device=device, source=f"held-out split ({len(held_out)} pairs)", **mining)
    cal = fits.get(path)
    if cal is None:
        return {"fitted": False, "why": "too few held-out pairs of both kinds among the mined pairs"}
    cal.save(out)
    return {"fitted": True, "path": path, "method": cal.method, "pairs": cal.n, "duplicates": cal.positives}


def _finish(trainer, model, evaluator, reporter, out: Path, half: bool, on_event, card: dict,
            calibrate: Callable[[], dict] | None = None) -> TrainResult:
    """Train, evaluate on the held-out pairs, save (optionally fp16) with its card and, with
    ``calibrate``, its calibration."""
    from transformers.trainer_callback import PrinterCallback

    # Without tqdm, transformers prints every log as a dict on stdout; our events say it instead.
    trainer.remove_callback(PrinterCallback)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    after = evaluator(model) if evaluator else {}
    if half:
        model.half()
    model.save(str(out))
    if half:
        model.float()
    shutil.rmtree(out / "_checkpoints", ignore_errors=True)
    steps, stopped = trainer.state.global_step, type(reporter).stopped
    card = {**card, "metrics_after": after, "training_seconds": round(seconds, 1), "steps": steps,
            "stopped_early": stopped, "half_precision": half}
    if calibrate is not None:
        card["calibration"] = calibrate()
    write_card(out, card)
    if on_event:
        on_event(TrainEvent("done", steps, float(trainer.state.epoch or 0), after))
    return TrainResult(out, after, seconds, steps, stopped, card, model)


# ---------------------------------------------------------------- SPLADE


def train_sparse(
    base: str | Path,
    train: LabelledPairs,
    held_out: LabelledPairs | None,
    out_dir: str | Path,
    config: SparseConfig | None = None,
    *,
    device: str = "auto",
    on_event: Callable[[TrainEvent], None] | None = None,
    stop: threading.Event | None = None,
    overwrite: bool = False,
    half: bool = False,
    teacher: str | Path | ScoredPairs | None = None,
) -> TrainResult:
    """``teacher``: for the distil losses, a CrossEncoder folder (its scores of the pairs
    ``teacher_pairs`` builds are computed first) or those pairs already scored."""
    config = config or SparseConfig()
    if config.loss not in SPARSE_LOSSES:
        raise TrainingError(f"Unknown SPLADE loss {config.loss!r}: use one of {', '.join(SPARSE_LOSSES)}")
    distil = "distil" in config.loss
    if distil and teacher is None:
        raise TrainingError(f"The {config.loss!r} loss needs a teacher CrossEncoder (--teacher)")
    if distil and not isinstance(teacher, ScoredPairs):
        teacher = Path(teacher)
        try:
            models.check_model_dir(teacher, "teacher CrossEncoder")
        except Exception as exc:
            raise TrainingError(f"Teacher unusable: {exc}") from exc
    base, out, device = _prepare(base, "SPLADE base model", train, out_dir, overwrite, device)

    from datasets import Dataset, DatasetDict
    from sentence_transformers import SparseEncoderTrainer, SparseEncoderTrainingArguments
    from sentence_transformers.sparse_encoder.evaluation import SparseBinaryClassificationEvaluator
    from sentence_transformers.sparse_encoder.losses import (
        SparseCoSENTLoss,
        SparseMultipleNegativesRankingLoss,
        SpladeLoss,
    )
    from sentence_transformers.training_args import BatchSamplers

    model = models.load_sparse_encoder(base, device)

    def splade(inner):
        return SpladeLoss(
            model, loss=inner,
            query_regularizer_weight=config.lambda_query,
            document_regularizer_weight=config.lambda_corpus,
        )

    datasets, losses = {}, {}
    if "mnrl" in config.loss:
        anchors, positives = train.duplicates_both_ways()
        datasets["mnrl"] = Dataset.from_dict({"anchor": anchors, "positive": positives})
        if config.loss.startswith("mnrl-cos"):
            from sentence_transformers.util import cos_sim

            inner = SparseMultipleNegativesRankingLoss(model, scale=20.0, similarity_fct=cos_sim)
        else:
            inner = SparseMultipleNegativesRankingLoss(model)
        losses["mnrl"] = splade(inner)
    if "cosent" in config.loss:
        datasets["cosent"] = Dataset.from_dict({
            "sentence1": train.q1, "sentence2": train.q2, "score": [float(y) for y in train.labels],
        })
        losses["cosent"] = splade(SparseCoSENTLoss(model))
    if distil:
        if not isinstance(teacher, ScoredPairs):
            teacher_model = models.shared_cross_encoder(teacher, device)
            report = (lambda done, total: on_event(TrainEvent("teacher", 0, 0.0, {"done": done, "total": total}))) \
                if on_event else None
            teacher = teacher_pairs(train, model, teacher_model, config.distil_top_k, stop=stop,
                                    on_progress=report)
            del teacher_model
        datasets["distil"] = Dataset.from_dict({
            "sentence1": teacher.q1, "sentence2": teacher.q2, "score": list(teacher.scores),
        })
        losses["distil"] = splade(SparseCoSENTLoss(model))
    if len(datasets) == 1:
        dataset, loss = next(iter(datasets.values())), next(iter(losses.values()))
    else:
        dataset, loss = DatasetDict(datasets), losses
    evaluator = None
    if held_out is not None and len(held_out):
        evaluator = SparseBinaryClassificationEvaluator(
            held_out.q1, held_out.q2, held_out.labels, name="held_out", batch_size=64,
            write_csv=False, similarity_fn_names=["dot", "cosine"],  # mining ranks by dot
        )
    n_examples = sum(len(d) for d in datasets.values())
    total = _steps(n_examples, config.batch_size, config.epochs, config.max_steps)
    args = SparseEncoderTrainingArguments(
        **_trainer_args(config, out, device, evaluator is not None, total),
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        dataloader_drop_last=True,
    )
    # Several tasks: report each one's loss on its own (their scales differ tenfold).
    tasks = TaskLosses() if len(datasets) > 1 else None
    reporter = _callback(on_event, stop, tasks)
    trainer_class = task_loss_trainer(SparseEncoderTrainer, tasks) if tasks else SparseEncoderTrainer
    trainer = trainer_class(
        model=model, args=args, train_dataset=dataset, loss=loss, evaluator=evaluator,
        callbacks=[reporter],
    )
    before = evaluator(model) if evaluator else {}
    loss_name = {
        "mnrl": "SpladeLoss(SparseMultipleNegativesRankingLoss)",
        "mnrl-cos": "SpladeLoss(SparseMultipleNegativesRankingLoss(cos_sim, scale=20))",
        "cosent": "SpladeLoss(SparseCoSENTLoss)",
        "mnrl+cosent": "SpladeLoss(SparseMultipleNegativesRankingLoss) + SpladeLoss(SparseCoSENTLoss)",
        "distil": "SpladeLoss(SparseCoSENTLoss) on CrossEncoder-scored neighbour pairs",
        "mnrl-cos+distil": "SpladeLoss(SparseMultipleNegativesRankingLoss(cos_sim, scale=20)) + "
                           "SpladeLoss(SparseCoSENTLoss) on CrossEncoder-scored neighbour pairs",
    }[config.loss]
    return _finish(
        trainer, model, evaluator, reporter, out, half, on_event,
        _card("sparse-encoder (SPLADE)", base, train, held_out, n_examples, config, device, loss_name,
              teacher_pairs=len(teacher) if distil else None, metrics_before=before),
        calibrate=lambda: _calibrate(out, held_out, "sparse", device, sparse_model=out),
    )


# ---------------------------------------------------------------- CrossEncoder


def train_cross(
    base: str | Path,
    train: LabelledPairs,
    held_out: LabelledPairs | None,
    out_dir: str | Path,
    config: CrossConfig | None = None,
    *,
    device: str = "auto",
    on_event: Callable[[TrainEvent], None] | None = None,
    stop: threading.Event | None = None,
    overwrite: bool = False,
    half: bool = False,
    miner: str | Path | None = None,
    teacher: str | Path | None = None,
    calibrate: bool = True,
) -> TrainResult:
    """``miner`` (a SPLADE folder) and ``teacher`` (a CrossEncoder folder, optional filter):
    what ``config.hard_negatives`` mines with (training_negatives.hard_negatives).
    ``train``'s labels may be soft (a teacher's probability in [0, 1]): BinaryCrossEntropyLoss
    takes them as they are. ``calibrate=False``: the caller fits the probability itself
    (core.adapt, on the user's held-out labels)."""
    config = config or CrossConfig()
    if train.positives == len(train):
        raise TrainingError("The CrossEncoder needs non-duplicate pairs (label 0) too")
    if config.hard_negatives > 0:
        if miner is None:
            raise TrainingError("Mining hard negatives needs a SPLADE model to mine with (--miner)")
        for folder, what in ((miner, "SPLADE to mine negatives with"), (teacher, "teacher CrossEncoder")):
            if folder is not None:
                try:
                    models.check_model_dir(Path(folder), what)
                except Exception as exc:
                    raise TrainingError(f"{what[0].upper()}{what[1:]} unusable: {exc}") from exc
                if Path(folder).resolve() == Path(out_dir).resolve():
                    raise TrainingError(f"The {what} is the output folder, which training replaces")
    base, out, device = _prepare(base, "CrossEncoder base model", train, out_dir, overwrite, device)
    n_pairs = len(train)
    extra = {}
    if config.swapped:
        swaps = swapped_comparisons(train, restated=config.restated)
        extra["swapped_negatives"] = len(swaps) - swaps.positives
        extra["swapped_positives"] = swaps.positives
        for _ in range(max(1, config.swapped_repeats)):
            train = train.plus(swaps)
    if config.hard_negatives > 0:
        report = (lambda done, total: on_event(TrainEvent("teacher", 0, 0.0, {"done": done, "total": total}))) \
            if on_event else None
        mined = hard_negatives(
            train, models.shared_sparse_encoder(miner, device),
            # A filter: its int8 engine on a CPU (3x the pairs a second) where it can be made
            models.shared_reranker(teacher, device, int8=True)[0] if teacher is not None else None,
            top_k=config.hard_negatives, max_teacher_score=config.max_teacher_score, stop=stop,
            on_progress=report,
        )
        # Mined after the swaps are added: a swap's neighbours are its question's paraphrases,
        # which the swap does not mean either.
        extra.update(hard_negatives=len(mined), miner=str(miner), negatives_teacher=str(teacher))
        train = train.plus(mined)

    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderClassificationEvaluator
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    try:
        import torch

        model = models.new_cross_encoder(base, device, num_labels=1, trust_remote_code=False,
                                         model_kwargs={"dtype": torch.float32})
    except Exception as exc:
        raise TrainingError(f"Base model unusable: cannot load {base} as a CrossEncoder: {exc}") from exc
    # Both orders: the score must not depend on which question comes first.
    dataset = Dataset.from_dict({
        "sentence1": train.q1 + train.q2,
        "sentence2": train.q2 + train.q1,
        "label": [float(y) for y in train.labels] * 2,
    })
    loss = BinaryCrossEntropyLoss(model)
    evaluator = None
    if held_out is not None and len(held_out):
        evaluator = CrossEncoderClassificationEvaluator(
            list(zip(held_out.q1, held_out.q2, strict=True)), held_out.labels, name="held_out",
            batch_size=64, write_csv=False,
        )
    total = _steps(len(dataset), config.batch_size, config.epochs, config.max_steps)
    args = CrossEncoderTrainingArguments(**_trainer_args(config, out, device, evaluator is not None, total))
    reporter = _callback(on_event, stop)
    trainer = CrossEncoderTrainer(
        model=model, args=args, train_dataset=dataset, loss=loss, evaluator=evaluator,
        callbacks=[reporter],
    )
    return _finish(
        trainer, model, evaluator, reporter, out, half, on_event,
        _card("cross-encoder", base, train, held_out, len(dataset), config, device, "BinaryCrossEntropyLoss",
              labelled_pairs=n_pairs, **extra),
        # Its scores fused as mining fuses them: with the SPLADE it mined negatives with, else the default.
        calibrate=(lambda: _calibrate(out, held_out, "reranked", device,
                                      sparse_model=miner or models.default_sparse_model_path(), reranker=out))
        if calibrate else None,
    )
