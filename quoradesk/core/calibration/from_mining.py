"""Scores for labelled pairs as a mining run gives them, and the calibrations fitted on them.

Usage::

    from quoradesk.core.calibration import fit_by_mining, score_by_mining

    # a trained model's own calibration, from its held-out pairs (what training does):
    fits = fit_by_mining(held, sparse_model=splade_dir, reranker=cross_dir)   # {"sparse": ..., "reranked": ...}
    fits["sparse"].save(splade_dir)

    # the scores of labelled pairs in a bigger run (bench/calibrate.py mines all of dev.tsv):
    (fit, measure) = score_by_mining([fit_half, measure_half], sparse_model=..., reranker=..., questions=texts)

A pair's final score depends on the other questions mined beside it (the first stage scores a
cosine in context, core.search.margins), so scores are read from a real run in a throw-away
project, never computed pair by pair. ``pairs``: anything with ``q1``, ``q2`` and ``labels``
(training's LabelledPairs). A labelled pair the run did not mine gets no score: the app never
shows a probability for it either.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..mining import MiningJob, MiningParams
from ..questions import Detection, ImportResult, Question
from ..store import Store
from .fit import Calibration


@dataclass
class MinedLabels:
    """Per labelled pair the run mined: its final score (NaN: not reranked), first score, label."""

    score: np.ndarray
    first: np.ndarray
    label: np.ndarray

    def path(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        """(scores, labels) the given path is fitted on."""
        s = self.score if path == "reranked" else self.first
        keep = ~np.isnan(s)
        return s[keep], self.label[keep]


def score_by_mining(pair_sets, *, sparse_model, reranker=None, questions: list[str] | None = None,
                    device: str = "cpu", params: MiningParams | None = None) -> list[MinedLabels]:
    texts = list(dict.fromkeys(questions if questions is not None else
                               [t for p in pair_sets for t in (*p.q1, *p.q2)]))
    result = ImportResult(path="labelled pairs", detected=Detection(format="pairs", encoding="utf-8"),
                          questions=[Question(t, [str(i)]) for i, t in enumerate(texts, 1)], rejected=[],
                          rows_total=len(texts), merged=0, entries=len(texts))
    with tempfile.TemporaryDirectory(prefix="quoradesk-calibrate-") as tmp, Store(Path(tmp) / "c.sqlite") as store:
        store.add_import(result, sha256="labelled pairs")
        job = MiningJob(store, sparse_model=sparse_model, reranker=reranker, params=params, device=device)
        for _ in job.run():
            pass
        ids = store._ids_for_texts(texts)
        rows = {(a, b): (s, f) for a, b, s, f in store.db.execute(
            "select a, b, score, first_score from pairs where run_id = ?", [job.run_record.id])}
    out = []
    for pairs in pair_sets:
        got = []
        for a, b, label in zip(pairs.q1, pairs.q2, pairs.labels, strict=True):
            ia, ib = ids.get(a), ids.get(b)
            row = rows.get((min(ia, ib), max(ia, ib))) if ia is not None and ib is not None else None
            if row is not None:
                got.append((np.nan if row[0] is None else row[0], row[1], label))
        arr = np.asarray(got, dtype=np.float64).reshape(-1, 3)
        out.append(MinedLabels(arr[:, 0], arr[:, 1], arr[:, 2]))
    return out


def fit_by_mining(pairs, *, sparse_model, reranker=None, device: str = "cpu", source: str = "") -> dict:
    """Each scoring path's calibration from ``pairs`` (held-out labels); a path with too few
    labelled pairs of either kind is left out."""
    (mined,) = score_by_mining([pairs], sparse_model=sparse_model, reranker=reranker, device=device)
    fitted_with = {"sparse_model": str(sparse_model), "reranker": str(reranker) if reranker else None}
    fits = {}
    for path in ("reranked", "sparse") if reranker else ("sparse",):
        scores, labels = mined.path(path)
        try:
            fits[path] = Calibration.fit(scores, labels, path=path, source=source, fitted_with=fitted_with)
        except ValueError:
            continue
    return fits
