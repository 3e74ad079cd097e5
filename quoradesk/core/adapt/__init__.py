"""Learning the user's domain: which pairs to label next, and a CrossEncoder improved on the
user's labels that re-ranks the latest run, kept only when labels it did not see say it is better.

Offers :func:`suggest_pairs` with :class:`Suggestion` (the pairs whose label teaches the most),
:class:`ImproveJob` with :class:`ImproveConfig`, :class:`ImproveProgress` and
:class:`ImproveResult` (fine-tune, check, re-rank; a generator with cancel), ``check_labels``
(whether there are enough labels to try), and the project's own models: :func:`project_reranker`
(the CrossEncoder its next runs and Ask use, None for the shipped one) and :func:`models_folder`.

Modules: ``suggest``, ``improve``, ``project_models`` (where a project's models live).
"""

from .improve import (
           MIN_EACH,
           MIN_LABELS,
           ImproveConfig,
           ImproveJob,
           ImproveProgress,
           ImproveResult,
           check_labels,
)
from .project_models import models_folder, project_reranker
from .suggest import Suggestion, suggest_pairs

__all__ = ["MIN_EACH", "MIN_LABELS", "ImproveConfig", "ImproveJob", "ImproveProgress", "ImproveResult", "Suggestion",
           "check_labels", "models_folder", "project_reranker", "suggest_pairs"]
