"""The models: finding them on this machine, loading each once under one lock, running them.

Offers the finding and naming of model folders (``sparse_model_path``, ``default_sparse_model_path``,
``default_reranker_path``, ``teacher_reranker_path``, ``run_sparse_model``, ``run_reranker``, ``check_model_dir``, ``model_key``, ``describe``,
``model_kind``, :class:`ModelError`), the device and the CPU's fast paths (``pick_device``,
``native_bf16``, ``native_int8``, ``encoding_paths``), and loading: ``shared_sparse_encoder``,
``shared_cross_encoder`` and ``shared_reranker`` hand every caller in the process the same
instance (released when no one holds it; ``loaded_models`` lists them), while
``load_sparse_encoder``, ``load_cross_encoder``, ``new_cross_encoder`` and ``load_dense_model``
make private copies for training. Nothing is ever downloaded.

Modules: ``paths`` (folders, checks, content keys), ``hardware`` (device, CPU features),
``loading`` (the loaders and the shared cache), ``lock`` (the one load lock), ``encode``
(SPLADE vectors into scipy CSR, the fast head; imports torch), ``int8_body`` (the int8
encoder's transformer body), ``active_vocabulary`` (the head entries the int8 encoder computes,
a file in the model's folder), ``project_vocabulary`` (those plus what a project's own
questions make fire, kept in the project), ``rerank`` (CrossEncoder scoring in length-sorted batches),
``onnx_rerank`` (the int8 reranker in ONNX Runtime). Those that import torch are imported by
name where needed, so this face stays light for the GUI.
"""

from ..resources import (
    RESOURCES,
    SHIPPED_CROSS,
    SHIPPED_CROSS_DISTILLED,
    SHIPPED_SPARSE,
    SHIPPED_SPARSE_DISTILLED,
    SHIPPED_SPARSE_MINILM,
)
from .hardware import encoding_paths, native_bf16, native_int8, pick_device
from .loading import (
    load_cross_encoder,
    load_dense_model,
    load_sparse_encoder,
    loaded_models,
    new_cross_encoder,
    preload_libraries,
    shared_cross_encoder,
    shared_reranker,
    shared_sparse_encoder,
)
from .lock import LOAD_LOCK
from .onnx_rerank import Int8CrossEncoder
from .paths import (
    CALIBRATION_FILE,
    SPARSE_MODEL_LABELS,
    SPARSE_MODELS,
    ModelError,
    base_splade_path,
    check_model_dir,
    default_reranker_path,
    default_sparse_model_path,
    describe,
    installed_sparse_models,
    minilm_path,
    model_key,
    model_kind,
    run_reranker,
    run_sparse_model,
    sparse_model_name,
    sparse_model_path,
    teacher_reranker_path,
)

__all__ = ["CALIBRATION_FILE", "Int8CrossEncoder", "LOAD_LOCK", "RESOURCES", "SHIPPED_CROSS", "SHIPPED_CROSS_DISTILLED", "SHIPPED_SPARSE", "SHIPPED_SPARSE_DISTILLED",
           "SHIPPED_SPARSE_MINILM",
           "SPARSE_MODELS", "SPARSE_MODEL_LABELS", "ModelError", "base_splade_path", "check_model_dir",
           "default_reranker_path", "default_sparse_model_path", "describe", "encoding_paths", "installed_sparse_models",
           "load_cross_encoder", "load_dense_model", "load_sparse_encoder", "loaded_models", "minilm_path",
           "model_key", "model_kind", "native_bf16", "native_int8", "new_cross_encoder", "pick_device",
           "preload_libraries", "run_reranker", "run_sparse_model", "shared_cross_encoder", "shared_reranker",
           "shared_sparse_encoder", "sparse_model_name", "sparse_model_path", "teacher_reranker_path"]
