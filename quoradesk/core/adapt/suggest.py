"""Which pairs to label next: those whose label teaches the most.

Usage::

    from quoradesk.core.adapt import suggest_pairs

    for s in suggest_pairs(store, 20):        # the latest finished run's pairs
        print(s.a, s.b, s.probability, s.why)

Most suggestions sit near the decision boundary of the current duplicate probability (where the
model is least sure, p(1 - p) largest); a share is spread evenly over the probability range, so
the labels also say where the model is wrong while sure. No question appears twice, nor a
close variant of one already suggested (its best neighbours in the run): twenty rewordings of
one question teach what one does. A pair already labelled is never suggested. In a reranked run
only the pairs the CrossEncoder scored are suggested: they are the ranked list a user reviews,
and the pairs an improved CrossEncoder (``improve``) re-orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..calibration import for_project
from ..review.session import default_threshold

SPREAD_SHARE = 0.3  # of the suggestions drawn evenly over the probability range, not by doubt
BINS = 10  # probability bins the spread share covers
VARIANT_RANK = 2  # a question's best neighbours in the run count as its variants


@dataclass
class Suggestion:
    a: int  # question ids, as ``quoradesk pairs`` shows them
    b: int
    text_a: str
    text_b: str
    probability: float | None  # the current duplicate probability (None: the run has no calibration)
    score: float | None  # the run's ranking score
    why: str  # "near the boundary" or "spread over the range"

    def as_json(self) -> dict:
        return {"a": self.a, "b": self.b, "text_a": self.text_a, "text_b": self.text_b,
                "probability": None if self.probability is None else round(self.probability, 4),
                "score": None if self.score is None else round(self.score, 4), "why": self.why}


def _doubt(store, run, score: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(closeness to the boundary in [0, 1], probabilities or None) of each pair."""
    cal = for_project(store, run)
    if cal is not None:
        p = cal.probabilities(score, first)
        if not np.isnan(p).all():
            p = np.where(np.isnan(p), 0.0, p)
            return 4 * p * (1 - p), p
    # No calibration (a dot-product run): the boundary is the default threshold, in rank terms.
    s = np.where(np.isnan(score), first, score)
    q = np.argsort(np.argsort(s)) / max(len(s) - 1, 1)
    qt = float(np.mean(s < default_threshold(run)))
    return 1 - np.abs(q - qt), None


def suggest_pairs(store, n: int = 20, *, run=None, seed: int = 0, spread: float = SPREAD_SHARE) -> list[Suggestion]:
    """Up to ``n`` unlabelled pairs of ``run`` (default: the latest finished run) to label next;
    ``spread``: the share of the draw's weight spread evenly over the range, the rest by doubt."""
    run = run or store.latest_run("done")
    if run is None:
        raise LookupError("No finished run to suggest pairs from: mine the questions first")
    rows = store.db.execute(
        "select p.a, p.b, coalesce(p.score, 'nan'), coalesce(p.first_score, p.sparse_score) "
        "from pairs p left join labels l on l.a = p.a and l.b = p.b "
        "where p.run_id = ? and l.label is null and (p.score is not null or ?) order by p.a, p.b",
        [run.id, not run.reranked]).fetchall()
    if not rows or n < 1:
        return []
    arr = np.array(rows, dtype=np.float64)
    a, b = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64)
    score, first = arr[:, 2], arr[:, 3]
    doubt, prob = _doubt(store, run, score, first)
    # A draw's weight: mostly doubt, a share spread evenly over the bins of the range.
    where = prob if prob is not None else np.argsort(np.argsort(first)) / max(len(first) - 1, 1)
    bins = np.minimum((where * BINS).astype(int), BINS - 1)
    per_bin = np.bincount(bins, minlength=BINS)
    even = 1.0 / (np.count_nonzero(per_bin) * per_bin[bins])
    weight = (1 - spread) * doubt / max(doubt.sum(), 1e-12) + spread * even
    rng = np.random.default_rng(seed)
    # Weighted sampling without replacement: the top keys of log(weight) + Gumbel noise.
    keys = np.log(np.maximum(weight, 1e-300)) + rng.gumbel(size=len(weight))
    order = np.argsort(-keys, kind="stable")
    variants = _variants(store, run)
    taken: set[int] = set()
    chosen: list[int] = []
    for i in order.tolist():
        qa, qb = int(a[i]), int(b[i])
        if qa in taken or qb in taken:
            continue
        chosen.append(i)
        taken |= {qa, qb} | variants.get(qa, set()) | variants.get(qb, set())
        if len(chosen) == n:
            break
    ids = sorted({int(a[i]) for i in chosen} | {int(b[i]) for i in chosen})
    texts = dict(zip(ids, store.texts(ids), strict=True))
    out = []
    for i in chosen:
        near = doubt[i] * (1 - spread) / max(doubt.sum(), 1e-12) >= spread * even[i]
        out.append(Suggestion(
            int(a[i]), int(b[i]), texts[int(a[i])], texts[int(b[i])],
            None if prob is None else float(prob[i]), None if np.isnan(score[i]) else float(score[i]),
            "near the boundary" if near else "spread over the range"))
    return out


def _variants(store, run) -> dict[int, set[int]]:
    """Each question's best ``VARIANT_RANK`` neighbours in the run, both ways."""
    out: dict[int, set[int]] = {}
    for qa, qb in store.db.execute("select a, b from pairs where run_id = ? and rank <= ?", [run.id, VARIANT_RANK]):
        out.setdefault(qa, set()).add(qb)
        out.setdefault(qb, set()).add(qa)
    return out
