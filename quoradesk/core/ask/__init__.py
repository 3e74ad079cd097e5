"""Has this been asked before? One new question against a project's stored questions, for the
Ask tab, ``quoradesk ask`` and ``serve``.

Offers :class:`AskService` (open a project's index once, then ``ask`` and ``add``),
:class:`AskResult` and :class:`Match` (what an answer holds, ``to_dict`` for JSON),
:class:`AskError` (a question or project that cannot be asked), :func:`clean_question`,
:func:`keep_index_after_mining` (what the app and the CLI call once a run finishes), and the limits ``MAX_ENCODE_ON_OPEN``, ``RERANK_CANDIDATES``, ``FOLD_ADDED``.

Modules: ``service`` (the service and its answers), ``index_cache`` (the index a project keeps
beside it, ``<project>.ask/``, so a new process answers at once).
"""

from .index_cache import AskIndex, cache_folder, keep_index
from .service import (
    FOLD_ADDED,
    MAX_ENCODE_ON_OPEN,
    RERANK_CANDIDATES,
    AskError,
    AskResult,
    AskService,
    Match,
    clean_question,
    keep_index_after_mining,
)

__all__ = ["FOLD_ADDED", "MAX_ENCODE_ON_OPEN", "RERANK_CANDIDATES", "AskError", "AskIndex", "AskResult", "AskService",
           "Match", "cache_folder", "clean_question", "keep_index", "keep_index_after_mining"]
