"""Load models: every one under one process-wide lock, and each shared model once.

Usage::

    from quoradesk.core import models

    encoder = models.shared_sparse_encoder(path, "cpu")          # the same object for every caller
    reranker, note = models.shared_reranker(path, "cpu", int8=True)
    trainable = models.load_sparse_encoder(path, "cpu")          # a private copy, for training
    models.loaded_models()                                       # what the cache holds now

Why one lock: transformers' loading is not thread-safe (its meta-device construction and the
tied-weights state are process-wide: transformers issue 41782), so the Review tab's explainer
and the Ask tab's service loading the same tied-head SPLADE on two threads broke each other
("Cannot copy out of meta tensor"). Every model this app makes, shared or private, SPLADE,
CrossEncoder, dense model or ONNX Runtime session, is made while holding :data:`LOAD_LOCK`.

Why one copy: mining, the Review explainer, Ask, training's evaluators and ``serve`` each loaded
their own, and every reopen of a project added ~97 MB that was never given back. The shared
models are cached by what defines the loaded object (the folder, its content key, the device,
int8 or not) and held by weak references: a model no open project, job or service keeps any
more is released, so reopening or switching projects does not grow memory. Shared models are
for inference only; whatever trains takes a private copy (``load_sparse_encoder`` and friends).

Nothing here reaches a network: the hub is switched off in ``quoradesk/__init__.py`` and every
loader gets ``local_files_only=True``.
"""

from __future__ import annotations

import logging
import os
import weakref
from pathlib import Path

from .lock import LOAD_LOCK
from .paths import ModelError, check_model_dir, describe, model_key

log = logging.getLogger(__name__)

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# (kind, folder, content key, device, int8) -> the loaded model, while anyone holds it.
_shared: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _quiet_transformers() -> None:
    """No per-load weight progress bars: our own progress reporting is enough."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _failed(what: str, path: Path, exc: Exception) -> ModelError:
    """A load failure in words a user can act on; the library's own text goes to the log."""
    log.warning("loading %s from %s failed", what, path, exc_info=exc)
    return ModelError(
        f"Could not load the {what} {describe(path)} ({type(exc).__name__}). Its folder is there but "
        f"its files do not make a working model: reinstall QuoraDesk if it is a shipped model, or "
        f"choose or train another one")


def load_sparse_encoder(path: str | Path, device: str = "cpu"):
    """A private SparseEncoder from a SparseEncoder folder, or SPLADE built from a bare
    masked-LM folder (training fine-tunes what this returns; inference uses
    :func:`shared_sparse_encoder`)."""
    p = check_model_dir(path, "SPLADE model")
    _quiet_transformers()
    import torch
    from sentence_transformers import SparseEncoder

    with LOAD_LOCK:
        try:
            if (p / "modules.json").is_file():
                model = SparseEncoder(
                    str(p), device=device, local_files_only=True, trust_remote_code=False,
                    model_kwargs={"dtype": torch.float32},  # shipped weights may be fp16
                )
                # A freshly loaded model is in training mode until its first encode() call, and
                # encode_batches keeps the model's own (slow) forward for training mode.
                return _loaded_from(model.eval(), p)
            import json

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
            return _loaded_from(SparseEncoder(modules=[body, pooling], device=device).eval(), p)
        except ModelError:
            raise
        except Exception as exc:  # transformers raises many types for a broken folder
            raise _failed("SPLADE model", p, exc) from exc


def _loaded_from(model, folder: Path):
    """Record the folder and the weights as loaded: the folder's active vocabulary (the int8
    encoder's restricted head, encode.SpladeHeadEncoder.active_columns) serves the model only
    while they are unchanged."""
    from .encode import weights_stamp  # imports torch, as loading the model just did

    model._quoradesk_loaded = (folder, weights_stamp(model))
    return model


def load_cross_encoder(path: str | Path, device: str = "cpu", *, int8: bool = False):
    """A private CrossEncoder in float32. ``int8`` on a CPU: the same model run by ONNX Runtime
    with int8 weights (:class:`~quoradesk.core.models.onnx_rerank.Int8CrossEncoder`: the shipped
    model carries its file, another is exported on first use and cached): measured 1.3-2.2x the
    pairs per second on 2 cores, held-out pair AP 0.885 against 0.889. Other devices run the
    float32 model as it is."""
    p = check_model_dir(path, "CrossEncoder model")
    _quiet_transformers()
    import torch
    from sentence_transformers import CrossEncoder

    with LOAD_LOCK:
        try:
            model = CrossEncoder(
                str(p), device=device, local_files_only=True, trust_remote_code=False,
                model_kwargs={"dtype": torch.float32},  # shipped weights may be fp16
            )
        except Exception as exc:
            raise _failed("CrossEncoder", p, exc) from exc
        return _int8(model, p) if int8 and str(device) == "cpu" else model


def _int8(model, p: Path):
    from .onnx_rerank import Int8CrossEncoder

    try:
        return Int8CrossEncoder.for_model(model, p)
    except Exception as exc:  # the exporter and ONNX Runtime raise many types
        raise ModelError(f"Could not make the int8 reranker from {p} ({exc}); untick Fast "
                         f"reranking (--no-rerank-int8) to rerank in float32") from exc


def new_cross_encoder(base: str | Path, device: str = "cpu", **kwargs):
    """A private CrossEncoder to train from ``base`` (a new head, say: ``num_labels=1``)."""
    from sentence_transformers import CrossEncoder

    _quiet_transformers()
    with LOAD_LOCK:
        return CrossEncoder(str(base), device=device, local_files_only=True, **kwargs)


def load_dense_model(path: str | Path, device: str = "cpu", **kwargs):
    """A private SentenceTransformer (the dense reference, or a base to train)."""
    from sentence_transformers import SentenceTransformer

    _quiet_transformers()
    with LOAD_LOCK:
        return SentenceTransformer(str(path), device=device, local_files_only=True,
                                   trust_remote_code=False, **kwargs)


def _shared_load(key: tuple, make):
    """The cached model for ``key``, made by ``make()`` if no one holds it now."""
    with LOAD_LOCK:
        model = _shared.get(key)
        if model is None:
            model = _without_card_cycle(make())
            _shared[key] = model
        return model


def _without_card_cycle(model):
    """sentence-transformers' model card data refers back to its model, a cycle that only the
    cyclic garbage collector frees (about 270 ms a pass with the models loaded, on whichever
    thread it falls). A shared model is never saved, so it needs no card: without the cycle,
    the last holder letting go frees the model at once."""
    card = getattr(getattr(model, "source", model), "model_card_data", None)
    if card is not None and hasattr(card, "model"):
        card.model = None
    return model


def _key(kind: str, path: str | Path, device: str, int8: bool = False) -> tuple:
    p = Path(path).expanduser().resolve()
    return (kind, str(p), model_key(p), str(device), bool(int8))  # p: checked by the caller


def shared_sparse_encoder(path: str | Path, device: str = "cpu"):
    """The one SparseEncoder of this folder and device in this process (for inference)."""
    check_model_dir(path, "SPLADE model")
    return _shared_load(_key("sparse", path, device), lambda: load_sparse_encoder(path, device))


def shared_cross_encoder(path: str | Path, device: str = "cpu", *, int8: bool = False):
    """The one CrossEncoder (or its int8 form) of this folder and device in this process. The
    int8 form keeps the float32 one for its tokenizer: that is the shared float32 copy too."""
    check_model_dir(path, "CrossEncoder model")
    int8 = bool(int8) and str(device) == "cpu"
    if not int8:
        return _shared_load(_key("cross", path, device), lambda: load_cross_encoder(path, device))
    p = Path(path).expanduser()
    return _shared_load(_key("cross", path, device, True),
                        lambda: _int8(shared_cross_encoder(p, device), p))


def shared_reranker(path: str | Path, device: str = "cpu", *, int8: bool = False) -> tuple[object, str]:
    """``shared_cross_encoder``, falling back to float32 where the int8 model cannot be made (a
    CrossEncoder the ONNX exporter cannot take still reranks): (the model, why it fell back,
    or "")."""
    try:
        return shared_cross_encoder(path, device, int8=int8), ""
    except ModelError as exc:
        if not int8:
            raise
        why = exc.__cause__ or exc
        return (shared_cross_encoder(path, device),
                f"the int8 reranker could not be made ({why}); reranked in float32 instead")


def loaded_models() -> dict[tuple, object]:
    """The shared models alive now, by cache key (kind, folder, content key, device, int8)."""
    with LOAD_LOCK:
        return dict(_shared.items())


def preload_libraries() -> None:
    """Import what loading and running the models needs (torch, transformers' BERT,
    sentence-transformers). A desktop app calls it on a background thread at start: these
    imports hold Python's GIL for up to 0.4 s at a time (extension modules loading), which
    froze the window when the first mining run did them on its worker."""
    import torch  # noqa: F401
    import transformers.models.bert.modeling_bert  # noqa: F401
    from sentence_transformers import CrossEncoder, SparseEncoder  # noqa: F401

    from . import encode  # noqa: F401
