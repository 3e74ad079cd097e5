"""What the Review screen shows, without Qt: pages of pairs, the score histogram, the
threshold, labels with undo, groups and explanations (dupeGuru's split: the view only
renders these objects, so all of it is tested without a window).

Usage::

    from quoradesk.core.review import ReviewSession

    review = ReviewSession(store)                   # the latest finished run
    review.threshold = 0.5
    rows = review.page(0, 100)                      # PairRow objects, best first
    review.label(rows[0], "accepted"); review.undo()
    counts, edges = review.histogram()
    why = review.explain(rows[0])                   # why.content: [("python", 4.99), ...]

    # A window reads what it paints first on a worker thread, with a connection of its own,
    # then carries on with its own connection:
    first = ReviewSession(worker_store, run_id).first_view(page=500)
    review = first.session.on_store(ui_store)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..calibration import for_run, refit_on_labels
from ..store import Pair, Store
from .export import run_groups

if TYPE_CHECKING:  # explain imports torch, which the window loads in the background
    from .explain import Explanation

# Table columns -> store orders (score: reranker where it ran, else sparse; the probability is
# monotone in it, so it sorts the same).
COLUMN_ORDERS = ("score", "score", "question_a", "question_b", "label")


def percent(probability: float | None) -> str:
    """A probability as a person reads it: "97%", "<1%", ">99%", "–" when there is none."""
    if probability is None:
        return "–"
    if probability < 0.005:
        return "<1%"
    if probability > 0.995:
        return ">99%"
    return f"{probability * 100:.0f}%"


@dataclass
class PairRow:
    pair: Pair
    position: int  # 1-based place in the ranking
    probability: float | None = None  # that it is a duplicate (core.calibration); None: no calibration

    @property
    def cells(self) -> tuple[str, str, str, str, str]:
        """The five columns of the table: score, duplicate probability, question A, question B, label."""
        p = self.pair
        return ("–" if p.score is None else f"{p.score:.3f}", percent(self.probability), p.text_a, p.text_b,
                p.label or "")


@dataclass
class FirstView:
    """Everything the Review tab paints when a run opens, read in one go (off the UI thread):
    the histogram, the count above the threshold, the first page and, when the model is at
    hand or loads, the first pair's explanation."""

    session: ReviewSession
    counts: np.ndarray
    edges: np.ndarray
    total: int  # pairs at or above the threshold (and matching the search)
    all_pairs: int
    rows: list[PairRow]
    explanation: Explanation | None = None


def default_threshold(run) -> float:
    """Where the Review slider starts. Reranked runs score 0.5 x reranker + 0.5 x cosine (in
    context, core.search.margins, since schema 2): duplicates land near 0.85, non-duplicates under
    0.45. Cosine alone (no reranker) sits higher for everything with the distilled SPLADE:
    unrelated questions reach 0.4 to 0.55 through shared expansion tokens, duplicates 0.8 to 0.9;
    in context the best-F1 cut over the held-out run's pairs moved from 0.630 to 0.665 (19k:
    0.725 to 0.754), so 0.7 stays."""
    if run.reranked or run.params.get("similarity", "cosine") != "cosine":
        return 0.5
    return 0.7


class ReviewSession:
    def __init__(
        self, store: Store, run_id: int | None = None, threshold: float | None = None, encoder=None
    ):
        """``encoder``: the run's SparseEncoder if the caller has it loaded already (the
        window right after mining); otherwise ``explain`` loads it on first use."""
        self.store = store
        run = store.get_run(run_id) if run_id else store.latest_run("done")
        if run is None:
            raise LookupError("No finished run to review yet: mine the questions first")
        self.run = run
        self.threshold = default_threshold(run) if threshold is None else threshold
        self.order = "score"
        self.descending = True
        self.search = ""  # keep pairs where either question contains this text
        self._encoder = encoder
        self._scores: np.ndarray | None = None
        self._explained: dict[tuple[int, int, int], Explanation] = {}  # pairs explained so far
        self._shipped_calibration = for_run(run)  # None: the run's models have no calibration
        self.calibration = self._refit()

    @property
    def score_name(self) -> str:
        sim = self.run.params.get("similarity", "dot")
        if self.run.params.get("margin_weight"):  # core.search.margins: the cosine beside its neighbours'
            sim = f"{sim} in context"
        if not self.run.reranked:
            return f"{sim} similarity"
        w = self.run.params.get("rerank_weight", 1.0)
        return "reranker score" if w == 1.0 else f"score: {w:g} x reranker + {1 - w:g} x {sim}"

    def scores(self) -> np.ndarray:
        """Every pair's ranking score (pairs never reranked count as not passing)."""
        if self._scores is None:
            self._scores = self.store.ranking_scores(self.run.id)
        return self._scores

    def histogram(self, bins: int = 40) -> tuple[np.ndarray, np.ndarray]:
        s = self.scores()
        if len(s) == 0:
            return np.zeros(bins), np.linspace(0, 1, bins + 1)
        lo, hi = float(s.min()), float(s.max())
        return np.histogram(s, bins=bins, range=(lo, hi if hi > lo else lo + 1))

    def first_view(self, page: int, explain: bool = True) -> FirstView:
        """Read what opening this run shows. ``explain``: also load the explaining model (if
        not given) and explain the best pair (kept, so showing it later costs nothing); a
        model that cannot load leaves the explanation out, and the pairs reviewable."""
        counts, edges = self.histogram()
        total = self.count()
        rows = self.page(0, min(page, total))
        view = FirstView(self, counts, edges, total, self.count(above_threshold=False), rows)
        if explain and rows:
            try:
                view.explanation = self.explain(rows[0])
            except Exception:  # a model moved away: show_current says why when the row shows
                pass
        return view

    def on_store(self, store: Store) -> ReviewSession:
        """This session (run, threshold, order, search, loaded model, scores) over another
        connection to the same project: SQLite connections stay in the thread that made them."""
        other = copy.copy(self)
        other.store = store
        return other

    def count(self, above_threshold: bool = True) -> int:
        if not above_threshold:
            return self.store.count_pairs(self.run.id)
        return self.store.count_pairs_matching(self.run.id, self.threshold, self.search)

    def sort_by_column(self, column: int, descending: bool) -> None:
        self.order = COLUMN_ORDERS[column]
        self.descending = descending

    def page(
        self, offset: int, limit: int, above_threshold: bool = True, after: PairRow | None = None
    ) -> list[PairRow]:
        """Rows offset+1..offset+limit; pass the previous page's last row as ``after`` to
        page through the index (constant cost however deep)."""
        pairs = self.store.top_pairs(
            self.run.id, limit=limit, offset=offset,
            min_score=self.threshold if above_threshold else None,
            order=self.order, descending=self.descending, search=self.search,
            after=after.pair if after is not None else None,
        )
        return [PairRow(p, offset + i + 1, self.probability(p)) for i, p in enumerate(pairs)]

    def _refit(self):
        """The run's calibration re-fitted on the project's labels (``for_project``), the
        shipped maps read once per session."""
        cal = self._shipped_calibration
        return None if cal is None else refit_on_labels(self.store, self.run, cal)

    def probability(self, pair: Pair) -> float | None:
        return None if self.calibration is None else self.calibration.probability(pair.score, pair.first_score)

    def threshold_probability(self) -> float | None:
        """The duplicate probability of a pair scoring exactly the threshold."""
        if self.calibration is None:
            return None
        return self.calibration.probability(self.threshold, self.threshold)

    def check_rows(self, check) -> list[PairRow]:
        """A threshold check's sample (core.review.ThresholdCheck) as rows to label, in its order."""
        return self.rows_for(check.pairs)

    def rows_for(self, keys: list[tuple[int, int]]) -> list[PairRow]:
        """The run's pairs named by (a, b) as rows, in that order: a check's sample, or the pairs
        core.adapt.suggest_pairs asks to label next."""
        return [PairRow(p, i, self.probability(p))
                for i, p in enumerate(self.store.pairs_by_keys(self.run.id, keys), start=1)]

    def label(self, row: PairRow, label: str | None) -> None:
        self.store.set_label(row.pair.a, row.pair.b, label)
        row.pair.label = label
        self.calibration = self._refit()  # the user's labels re-fit it

    def undo(self) -> tuple[int, int] | None:
        pair = self.store.undo_label()
        self.calibration = self._refit()
        return pair

    def groups(self) -> list[list[int]]:
        return run_groups(self.store, self.run.id, self.threshold)

    def explain(self, row: PairRow, top_k: int = 8, encoder=None) -> Explanation:
        """The tokens shared by the pair's SPLADE vectors: content tokens first, heaviest
        first, then punctuation and function words (``explain.Explanation``)."""
        from .explain import explain_match

        key = (row.pair.a, row.pair.b, top_k)
        if key not in self._explained:
            encoder = encoder or self.encoder()
            m = self.store.load_encodings(
                self.run.sparse_model_key, [row.pair.a, row.pair.b], dim=encoder.get_embedding_dimension()
            )
            self._explained[key] = explain_match(encoder, m[0], m[1], top_k=top_k)
        return self._explained[key]

    @property
    def encoder_loaded(self) -> bool:
        """Whether ``explain`` can answer without loading a model first (the GUI loads it
        on a worker thread when this is False)."""
        return self._encoder is not None

    def encoder(self):
        if self._encoder is None:
            from pathlib import Path

            from .. import models

            # a recorded folder whose model changed since still loads (as before); its tokens differ
            path = models.run_sparse_model(self.run) or Path(self.run.sparse_model)
            if not path.is_dir():  # a shipped model since replaced, or a folder moved away
                raise models.ModelError(
                    f"the SPLADE model run #{self.run.id} used ({self.run.sparse_model}) is not on this "
                    "machine (an earlier shipped model, or a folder since moved): mine again to see why "
                    "pairs match")
            self._encoder = models.shared_sparse_encoder(path, "cpu")
        return self._encoder
