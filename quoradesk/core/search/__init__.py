"""Candidate search over SPLADE vectors and the ranking in context.

Offers, from ``index``: :func:`make_index` (exact inverted index or pruned posting lists, by the
estimated work), :class:`SparseIndex`, :class:`PrunedIndex`, :func:`prepare` (vectors scaled for
the similarity), :func:`canonical_pairs` and :func:`strong_neighbours`; from ``margins``:
:func:`usual_closeness`, :func:`in_context` and :func:`margin_scores` (a pair's cosine plus its
margin over the two questions' usual closeness: the score runs and Ask rank by); from ``rows``:
:class:`CompactRows` (the vectors in one narrow copy, for searching large corpora block by block).
Pure numpy and scipy.sparse: no model, no store.
"""

from .index import PrunedIndex, SparseIndex, canonical_pairs, make_index, prepare, strong_neighbours
from .margins import NEIGHBOURS, in_context, margin_scores, usual_closeness
from .rows import CompactRows

__all__ = ["NEIGHBOURS", "CompactRows", "PrunedIndex", "SparseIndex", "canonical_pairs", "in_context", "make_index",
           "margin_scores", "prepare", "strong_neighbours", "usual_closeness"]
