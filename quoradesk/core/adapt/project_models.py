"""The models a project learned from its user's labels: where they live (a folder beside the
project file, ``<project>.models/``) and which one the project's next runs and Ask use.

Usage::

    from quoradesk.core.adapt import project_reranker

    reranker = project_reranker(store) or models.default_reranker_path()
"""

from __future__ import annotations

from pathlib import Path

from .. import models

META_RERANKER = "adapt/reranker"  # the improved CrossEncoder's folder, relative to the project's


def models_folder(store) -> Path:
    """``<project file>.models/``: moved or copied with the project, it keeps its models."""
    return store.path.with_name(store.path.name + ".models")


def project_reranker(store) -> Path | None:
    """The CrossEncoder this project improved (``quoradesk improve``), when its folder is still
    here and loadable; None: the shipped one serves."""
    recorded = store.meta(META_RERANKER) if store is not None else None
    if not recorded:
        return None
    folder = store.path.parent / recorded
    try:
        return models.check_model_dir(folder, "CrossEncoder model")
    except models.ModelError:
        return None


def set_project_reranker(store, folder: Path) -> None:
    store.set_meta(META_RERANKER, str(Path(folder).relative_to(store.path.parent)))

