"""Which calibration a run's pairs get, and applying it pair by pair.

Usage::

    from quoradesk.core.calibration import for_run

    cal = for_run(run)                        # None when neither model has one
    cal.probability(pair.score, pair.first_score)
    cal = for_project(store, run)             # ... adjusted by the user's labels of the run's pairs
    cal.probabilities(scores, first_scores)   # arrays

A reranked pair's probability comes from the reranked path (the CrossEncoder's folder); a pair
the reranker never scored, or a run without one, from the sparse path (the SPLADE's folder).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models import run_reranker, run_sparse_model
from .fit import Calibration, Recalibration

MIN_LABELS = 10  # accepted and rejected pairs of a run before its project's own fit is made


@dataclass
class RunCalibration:
    reranked: Calibration | None
    sparse: Calibration | None
    project: Recalibration | None = None  # the user's labels' adjustment (for_project)
    # A CrossEncoder improved on the user's labels (core.adapt) learnt those up to this time:
    # its scores of them are no evidence of its calibration, so the re-fit counts later ones only.
    labels_after: float = 0.0

    def probabilities(self, scores, first_scores) -> np.ndarray:
        s = np.asarray([np.nan if v is None else v for v in scores], dtype=np.float64)
        f = np.asarray([np.nan if v is None else v for v in first_scores], dtype=np.float64)
        out = np.full(len(s), np.nan)
        if self.reranked is not None:
            out = np.where(np.isnan(s), out, self.reranked.probability(s))
        if self.sparse is not None:  # what the reranked map left (a pair never reranked)
            out = np.where(np.isnan(out), self.sparse.probability(f), out)
        return out if self.project is None else self.project.apply(out)

    def probability(self, score: float | None, first_score: float | None) -> float | None:
        p = self.probabilities([score], [first_score])[0]
        return None if np.isnan(p) else float(p)


def for_run(run) -> RunCalibration | None:
    """The calibrations stored with a run's models (None: neither has one)."""
    sparse_dir, cross_dir = run_sparse_model(run), run_reranker(run)
    cal = RunCalibration(Calibration.load(cross_dir, "reranked"), Calibration.load(sparse_dir, "sparse"),
                         labels_after=_labels_learnt_until(cross_dir))
    if run.reranked and cal.reranked is None:
        return None  # a reranked run's scores mean nothing to the sparse path's map
    if not run.reranked and run.params.get("similarity", "cosine") != "cosine":
        return None
    return cal if cal.reranked or cal.sparse else None


def for_project(store, run) -> RunCalibration | None:
    """``for_run``, re-fitted on the user's labels of this run's pairs (accepted: duplicate,
    rejected: not) once there are ``MIN_LABELS`` of them: the shipped fit is the prior, so the
    probability moves towards what this project's questions are like as labels come in."""
    cal = for_run(run)
    return None if cal is None else refit_on_labels(store, run, cal)


def refit_on_labels(store, run, cal: RunCalibration) -> RunCalibration:
    """``cal`` (a run's shipped calibration, ``for_run``) re-fitted on the user's labels of the
    run's pairs, as ``for_project`` does; for a caller that keeps ``cal`` and refits per label."""
    rows = store.db.execute(
        "select p.score, p.first_score, l.label from labels l join pairs p on p.a = l.a and p.b = l.b "
        "where p.run_id = ? and l.label in ('accepted', 'rejected') and coalesce(l.updated, 0) > ?",
        [run.id, cal.labels_after]).fetchall()
    if len(rows) < MIN_LABELS:
        return cal
    probs = cal.probabilities([r[0] for r in rows], [r[1] for r in rows])
    labels = np.array([r[2] == "accepted" for r in rows], dtype=np.float64)
    keep = ~np.isnan(probs)
    if keep.sum() < MIN_LABELS:
        return cal
    return RunCalibration(cal.reranked, cal.sparse, Recalibration.fit(probs[keep], labels[keep]), cal.labels_after)


def _labels_learnt_until(cross_dir) -> float:
    """When the labels a project's improved CrossEncoder trained on were last changed (its card's
    ``user_labels_until``); 0 for any other model."""
    if cross_dir is None:
        return 0.0
    try:
        value = json.loads((Path(cross_dir) / "quoradesk_training.json").read_text()).get("user_labels_until")
        return float(value or 0.0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0.0
