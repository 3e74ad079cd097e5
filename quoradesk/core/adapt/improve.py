"""Improve from my labels: fine-tune the project's CrossEncoder on the user's reviewed pairs,
check it on labels it did not see, and re-rank the latest run with it, without re-encoding.

Usage::

    from quoradesk.core.adapt import ImproveJob

    job = ImproveJob(store)                 # checks the labels first: too few says so, changes nothing
    for event in job.run():                 # ImproveProgress: stage, done, total, message
        print(event.stage, event.done, event.total)
    job.result.accepted, job.result.message, job.result.run_id

The recipe, for a CPU in minutes: the CrossEncoder the latest run reranked with (else the
project's, else the shipped one) trained for ``epochs`` on the user's accepted (1) and rejected
(0) pairs in both orders, beside "replay" pairs: unlabelled pairs of the same run with the old
model's score as a soft target, so it keeps what it knew (of Quora, and of this project) where
the labels say nothing. A quarter of the labels on the run's pairs (whole groups of connected
questions) is held back; the new model is kept only when the run's order of those pairs, scored
as mining scores them, has a higher average precision than the old one's, else nothing changes
and the message says so. A kept model gets its own duplicate probability (the old calibration
re-fitted on the held-back labels), goes into ``<project>.models/`` and re-ranks the latest
run's candidates into a new run; the project's next runs and Ask use it. Cancel at any point
leaves the project as it was: no folder, no run, no setting.
"""

from __future__ import annotations

import contextlib
import queue
import random
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import models
from ..calibration import Calibration, Recalibration, for_run
from ..mining import MiningJob, MiningParams
from ..training import CrossConfig, LabelledPairs, TrainingError, train_cross, write_card
from ..training.data import connected, teacher_scores
from .project_models import models_folder, project_reranker, set_project_reranker

MIN_LABELS = 40  # accepted + rejected pairs before fine-tuning is tried
MIN_EACH = 10  # of each kind: one-sided labels teach a model to say one thing
HELD_OUT = 0.25


@dataclass
class ImproveConfig:
    epochs: float = 2.0
    batch_size: int = 16
    learning_rate: float = 3e-5
    replay_per_label: float = 2.0  # unlabelled pairs scored by the old model, per training label
    held_out: float = HELD_OUT
    seed: int = 12


@dataclass
class ImproveProgress:
    stage: str  # prepare | train | check | rerank | done | cancelled
    done: int
    total: int
    message: str = ""


@dataclass
class ImproveResult:
    accepted: bool
    message: str
    ap_before: float | None = None
    ap_after: float | None = None
    held_out: int = 0
    train_labels: int = 0
    replay: int = 0
    run_id: int | None = None  # the re-ranked run, when accepted
    model_dir: Path | None = None
    seconds: dict = field(default_factory=dict)


def labelled_run_pairs(store, run) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Every accepted or rejected pair (a < b) and its 0/1 label, labels on this run's pairs first."""
    rows = store.db.execute(
        "select l.a, l.b, l.label = 'accepted', p.a is not null from labels l "
        "left join pairs p on p.run_id = ? and p.a = l.a and p.b = l.b "
        "where l.label in ('accepted', 'rejected') order by 4 desc, l.a, l.b", [run.id]).fetchall()
    return [(r[0], r[1]) for r in rows], np.array([r[2] for r in rows], dtype=np.int64)


def check_labels(labels: np.ndarray) -> None:
    """Too few or one-sided labels: a TrainingError that says how many more of which."""
    pos, neg = int(labels.sum()), int(len(labels) - labels.sum())
    if len(labels) < MIN_LABELS or pos < MIN_EACH or neg < MIN_EACH:
        raise TrainingError(
            f"Improving needs at least {MIN_LABELS} labelled pairs with {MIN_EACH} duplicates (accepted) and "
            f"{MIN_EACH} non-duplicates (rejected); the project has {pos} accepted and {neg} rejected. "
            "Label more (quoradesk suggest, or Label next in Review); nothing was changed. Meanwhile the "
            "duplicate probability already follows your labels.")


def split_labels(keys: list[tuple[int, int]], labels: np.ndarray, in_run: np.ndarray, fraction: float,
                 seed: int) -> tuple[list[int], list[int]]:
    """(training, held-out) positions: whole connected groups of questions held out, about
    ``fraction`` of each kind, drawn only from pairs of the run (the check scores them as it does)."""
    root = connected([q for k in keys for q in k], keys)
    groups: dict[int, list[int]] = {}
    for i, (a, _) in enumerate(keys):
        groups.setdefault(root[a], []).append(i)
    order = sorted(groups.values(), key=lambda g: g[0])
    random.Random(seed).shuffle(order)
    want = {y: fraction * int((labels[in_run] == y).sum()) for y in (0, 1)}
    got, held = {0: 0, 1: 0}, []
    for g in order:
        if not all(in_run[i] for i in g):
            continue
        counts = {y: sum(int(labels[i] == y) for i in g) for y in (0, 1)}
        if all(got[y] + counts[y] <= max(want[y], 1) for y in (0, 1)):
            held += g
            for y in (0, 1):
                got[y] += counts[y]
    held_set = set(held)
    return [i for i in range(len(keys)) if i not in held_set], sorted(held)


def pipeline_ap(first: np.ndarray, reranked: np.ndarray, ce: np.ndarray, weight: float, labels: np.ndarray) -> float:
    """Average precision of the run's order of some pairs: reranked pairs by ``weight`` x
    CrossEncoder + (1 - weight) x first-stage score, ahead of every pair never reranked (by its
    first-stage score), as the Review list orders them."""
    from sklearn.metrics import average_precision_score

    key = np.where(reranked, 1e3 + weight * ce + (1 - weight) * first, first)
    return float(average_precision_score(labels, key))


class ImproveJob:
    def __init__(self, store, *, run=None, config: ImproveConfig | None = None, device: str = "auto"):
        self.store = store
        self.run_record = run or store.latest_run("done")
        if self.run_record is None:
            raise LookupError("No finished run to improve: mine the questions first")
        self.config = config or ImproveConfig()
        self.device = models.pick_device(device)
        self.keys, self.labels = labelled_run_pairs(store, self.run_record)
        check_labels(self.labels)  # before anything is loaded or written
        run = self.run_record
        self.base = models.run_reranker(run) or project_reranker(store) or models.default_reranker_path()
        if self.base is None:
            raise TrainingError("No CrossEncoder to improve: the shipped one is not installed")
        self.sparse = models.run_sparse_model(run)
        if self.sparse is None:
            raise TrainingError(f"The SPLADE model run #{run.id} used ({run.sparse_model}) is not on this machine: "
                                "mine again with a model that is, then improve")
        self.params = self._params()  # the run's, as re-ranking with the new model uses them
        self._stop = threading.Event()
        self._mining: MiningJob | None = None
        self.result: ImproveResult | None = None

    def cancel(self) -> None:
        """From any thread: training stops after its step, re-ranking after its batch."""
        self._stop.set()
        if self._mining is not None:
            self._mining.cancel()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    # ------------------------------------------------------------ the steps

    def run(self) -> Iterator[ImproveProgress]:
        partial = models_folder(self.store) / f".partial-{uuid.uuid4().hex[:8]}"
        new_run, finished = None, False
        try:
            new_run = yield from self._run(partial)
            if new_run is not None:
                if not (yield from self._rerank(new_run)):
                    raise InterruptedError("cancelled while re-ranking")
                set_project_reranker(self.store, self.result.model_dir)
                note = self.store.get_run(new_run.id).note
                self.store.update_run(new_run.id, note="; ".join(filter(None, [
                    note, f"re-ranked by the CrossEncoder improved on {self.result.train_labels} of your labels "
                          f"(run #{self.run_record.id}'s candidates)"])))
                self.result.run_id = new_run.id
                finished = True
        except GeneratorExit:  # the consumer dropped us mid-way (Ctrl-C in the CLI): leave nothing behind
            self._stop.set()
            self._undo(partial, new_run)
            raise
        except BaseException:
            self._undo(partial, new_run)
            if not self.cancelled:
                raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        # Said after everything is kept: a consumer that stops listening at "done" changes nothing.
        if self.cancelled and not finished:
            self._undo(partial, new_run)
            self.result = ImproveResult(False, "Cancelled: nothing was changed")
            yield ImproveProgress("cancelled", 0, 0, self.result.message)
        else:
            yield ImproveProgress("done", 1, 1, self.result.message)

    def _undo(self, partial: Path, new_run) -> None:
        """Everything this job wrote, removed: the project is as it was."""
        shutil.rmtree(partial, ignore_errors=True)
        if new_run is not None and self.store.db.execute("select 1 from runs where id = ?", [new_run.id]).fetchone():
            self.store.delete_run(new_run.id)
        if self.result is not None and self.result.model_dir is not None:
            shutil.rmtree(self.result.model_dir, ignore_errors=True)
            self.result.model_dir = None
        with contextlib.suppress(OSError):  # the folder this job made, if it holds nothing else
            models_folder(self.store).rmdir()

    def _run(self, partial: Path):
        started = time.perf_counter()
        cfg, run = self.config, self.run_record
        yield ImproveProgress("prepare", 0, 1, "choosing the held-back labels and the replay pairs")
        in_run = self._in_run()
        train_i, held_i = split_labels(self.keys, self.labels, in_run, cfg.held_out, cfg.seed)
        if int(self.labels[held_i].sum()) < 3 or len(held_i) - int(self.labels[held_i].sum()) < 3:
            raise TrainingError("Too few labels on the latest run's pairs to check an improved model on (3 of each "
                                "kind held back are needed): label pairs of that run; nothing was changed")
        ids = sorted({q for k in self.keys for q in k})
        text = dict(zip(ids, self.store.texts(ids), strict=True))
        labelled = LabelledPairs([text[a] for a, _ in self.keys], [text[b] for _, b in self.keys],
                                 self.labels.tolist(), f"your labels in {self.store.path.name}")
        train, held = labelled.subset(train_i), labelled.subset(held_i)
        replay = self._replay(int(round(cfg.replay_per_label * len(train_i))))
        if self.cancelled:
            return None
        seconds = {"prepare": time.perf_counter() - started}

        t0 = time.perf_counter()
        result = yield from self._train(train.plus(replay), held, partial)
        if result is None:
            return None
        seconds["train"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        yield ImproveProgress("check", 0, 1, f"scoring the {len(held_i)} held-back labels")
        first, reranked, old_ce = self._held_scores(held_i)
        new_ce = np.asarray(result.model.predict(list(zip(held.q1, held.q2, strict=True)), batch_size=32,
                                                 show_progress_bar=False), dtype=np.float64)
        weight = float(self.params.rerank_weight)
        y = self.labels[held_i]
        before = pipeline_ap(first, reranked, old_ce, weight, y)
        after = pipeline_ap(first, reranked, new_ce, weight, y)
        seconds["check"] = time.perf_counter() - t0
        common = dict(ap_before=round(before, 4), ap_after=round(after, 4), held_out=len(held_i),
                      train_labels=len(train_i), replay=len(replay), seconds=seconds)
        if self.cancelled:
            return None
        if after <= before:
            self.result = ImproveResult(False, (
                f"Kept the current model: on {len(held_i)} of your labels it did not see, the improved one ranks "
                f"them no better (average precision {after:.3f} against {before:.3f}). Nothing was changed."), **common)
            return None
        out = self._keep(result, partial, held_i, new_ce, first, reranked, weight, before, after)
        self.result = ImproveResult(True, (
            f"Improved: on {len(held_i)} of your labels it did not see, average precision {before:.3f} -> "
            f"{after:.3f}. The latest run is re-ranked with it; next runs and Ask use it."), model_dir=out, **common)
        return self.store.copy_run_to_rerank(
            run, reranker=models.describe(out), reranker_key=models.model_key(out),
            params=self.params.key(), device=self.device)

    def _in_run(self) -> np.ndarray:
        found = self.store.pairs_by_keys(self.run_record.id, self.keys)
        have = {(p.a, p.b) for p in found}
        return np.array([k in have for k in self.keys], dtype=bool)

    def _replay(self, n: int) -> LabelledPairs:
        """``n`` unlabelled pairs of the run with the old model's probability as their label."""
        run = self.run_record
        rows = self.store.db.execute(
            "select p.a, p.b, p.rerank_score from pairs p left join labels l on l.a = p.a and l.b = p.b "
            "where p.run_id = ? and l.label is null and (p.rerank_score is not null or ?) order by p.a, p.b",
            [run.id, not run.reranked]).fetchall()
        rows = random.Random(self.config.seed).sample(rows, min(n, len(rows)))
        ids = sorted({q for r in rows for q in r[:2]})
        text = dict(zip(ids, self.store.texts(ids), strict=True))
        pairs = [(text[a], text[b]) for a, b, _ in rows]
        if run.reranked:
            scores = [float(r[2]) for r in rows]
        else:  # a run without reranking: the old model scores them now
            scores = teacher_scores(models.shared_cross_encoder(self.base, self.device), pairs, stop=self._stop)
        return LabelledPairs([p[0] for p in pairs], [p[1] for p in pairs], scores, "replay")

    def _train(self, pairs: LabelledPairs, held: LabelledPairs, partial: Path):
        """train_cross on a thread of its own, its events yielded from here as they come."""
        cfg = self.config
        steps = max(1, int(len(pairs) * 2 / cfg.batch_size * cfg.epochs))
        config = CrossConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                             seed=cfg.seed, logging_steps=max(1, steps // 20), eval_steps=10**9)
        events: queue.Queue = queue.Queue()
        box: dict = {}

        def work():
            try:
                box["result"] = train_cross(self.base, pairs, held, partial, config, device=self.device,
                                            on_event=events.put, stop=self._stop, overwrite=True, calibrate=False)
            except BaseException as exc:  # re-raised on the generator's thread
                box["error"] = exc
            finally:
                events.put(None)

        thread = threading.Thread(target=work, name="improve-train", daemon=True)
        thread.start()
        try:
            yield ImproveProgress("train", 0, steps, f"fine-tuning on {len(pairs):,} pairs")
            while (event := events.get()) is not None:
                if event.kind == "loss":
                    loss = event.values.get("loss")
                    yield ImproveProgress("train", min(event.step, steps), steps,
                                          f"loss {loss:.3f}" if loss is not None else "")
        finally:  # also when the consumer drops us mid-training: the thread stops within a step
            if thread.is_alive():
                self._stop.set()
            thread.join()
        if "error" in box:
            raise box["error"]
        if self.cancelled or box["result"].stopped:
            return None
        return box["result"]

    def _held_scores(self, held_i: list[int]):
        """(first-stage score, reranked by the run's rule, the run's CrossEncoder score) of the
        held-back pairs; pairs the run did not rerank get the old model's score now (used only
        where the run's rule reranks them)."""
        run = self.run_record
        keys = [self.keys[i] for i in held_i]
        pairs = {(p.a, p.b): p for p in self.store.pairs_by_keys(run.id, keys)}
        params = self.params
        first = np.array([pairs[k].first_score for k in keys], dtype=np.float64)
        rank = np.array([pairs[k].rank for k in keys])
        reranked = (rank <= params.rerank_top) & (first >= params.rerank_floor)
        old = np.array([np.nan if pairs[k].rerank_score is None else pairs[k].rerank_score for k in keys])
        missing = np.nonzero(reranked & np.isnan(old))[0]
        if len(missing):
            texts = self.store.texts([q for i in missing for q in keys[i]])
            scores = teacher_scores(models.shared_cross_encoder(self.base, self.device),
                                    list(zip(texts[0::2], texts[1::2], strict=True)))
            old[missing] = scores
        return first, reranked, np.nan_to_num(old)

    def _params(self) -> MiningParams:
        """The latest run's parameters, with reranking (a run without it gets the defaults')."""
        known = {k: v for k, v in self.run_record.params.items() if k in MiningParams.__dataclass_fields__}
        params = MiningParams(**known)
        if not self.run_record.reranked:
            d = MiningParams(similarity=params.similarity)
            params = replace(params, rerank_weight=d.rerank_weight, rerank_floor=d.rerank_floor)
        return params.on_device(self.device)

    def _keep(self, result, partial: Path, held_i, new_ce, first, reranked, weight, before, after) -> Path:
        """The new model's probability and card written, its folder moved into place."""
        y = self.labels[held_i]
        fused = np.where(reranked, weight * new_ce + (1 - weight) * first, np.nan)
        old = for_run(self.run_record) if self.run_record.reranked else None
        base_cal = (old.reranked if old is not None else None) or Calibration.load(self.base, "reranked")
        if base_cal is not None and np.isfinite(fused).sum() >= 6:
            ok = np.isfinite(fused)
            recal = Recalibration.fit(base_cal.probability(fused[ok]), y[ok])
            x = np.linspace(min(base_cal.x), max(base_cal.x), 64)
            Calibration("reranked", "shipped map re-fitted on held-back labels", [float(v) for v in x],
                        [float(v) for v in recal.apply(base_cal.probability(x))], int(ok.sum()),
                        int(y[ok].sum()), "your held-back labels", {"from": str(self.base)}, time.time()).save(partial)
        times = self.store.db.execute(
            "select max(updated) from labels where label in ('accepted', 'rejected')").fetchone()[0]
        write_card(partial, {**result.card, "kind": "cross-encoder (improved on a project's labels)",
                             "project": self.store.path.name, "improved_from": str(self.base),
                             "user_labels_until": times, "held_out_check": {
                                 "pairs": len(held_i), "duplicates": int(y.sum()),
                                 "ap_before": round(before, 4), "ap_after": round(after, 4)},
                             "from_run": self.run_record.id})
        out = models_folder(self.store) / f"cross-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        partial.rename(out)
        return out

    def _rerank(self, new_run) -> Iterator[ImproveProgress]:
        job = MiningJob(self.store, sparse_model=self.sparse, reranker=self.result.model_dir,
                        params=self.params, device=self.device, continue_run=new_run.id)
        self._mining = job
        if self.cancelled:
            return False
        for event in job.run():
            if event.stage == "rerank":
                yield ImproveProgress("rerank", event.done, event.total, event.message)
        return job.run_record.status == "done"

