"""What the Review screen shows, without Qt (dupeGuru's split: the view only renders these):
pages of ranked pairs, the histogram and threshold, labels with undo, duplicate groups,
why two questions match, and exports.

Offers :class:`ReviewSession`, :class:`PairRow`, :class:`FirstView`, :func:`default_threshold`,
:func:`explain_match` and :class:`Explanation`, :func:`duplicate_groups`, and the exports
(``export_pairs``, ``export_groups``, ``export_unique``, ``safe_cell``), :func:`percent`,
and :class:`ThresholdCheck` with :class:`Estimate` and :func:`estimate_strata` (a threshold's
precision and the duplicates it leaves below, from a labelled random sample).

Modules: ``session`` (the review state), ``explain`` (the tokens that made a pair match),
``groups`` (connected duplicates), ``export`` (CSV out, formula-safe), ``threshold_check``.
"""

from .export import export_groups, export_pairs, export_unique, run_groups, safe_cell
from .groups import duplicate_groups
from .session import COLUMN_ORDERS, FirstView, PairRow, ReviewSession, default_threshold, percent
from .threshold_check import (
    Estimate,
    ThresholdCheck,
    estimate_strata,
    run_suggestion,
    suggest_threshold,
)

__all__ = ["COLUMN_ORDERS", "Estimate", "Explanation", "FirstView", "PairRow", "ReviewSession", "ThresholdCheck",
           "default_threshold", "duplicate_groups", "estimate_strata", "explain_match", "export_groups",
           "export_pairs", "export_unique", "percent", "run_groups", "run_suggestion", "safe_cell",
           "suggest_threshold"]


def __getattr__(name: str):
    # ``explain`` imports torch (sparse tensors): loaded on first use, so a window that imports
    # this package does not pay for torch on its UI thread at start.
    if name in ("Explanation", "explain_match"):
        from . import explain

        return getattr(explain, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
