"""A CrossEncoder run by ONNX Runtime with int8 weights: the fast reranker on a CPU.

Usage::

    from quoradesk.core import models
    from quoradesk.core.models.onnx_rerank import Int8CrossEncoder

    source = models.load_cross_encoder(path)                 # the float32 CrossEncoder
    fast = Int8CrossEncoder.for_model(source, path)          # exported once, then cached
    fast.predict([("How do I learn Python?", "Best way to learn Python?")], batch_size=64)

Why: on a CPU, reranking is most of a mining run, and float32 already ran near an AVX2 CPU's
peak. ONNX Runtime's dynamically quantised int8 matrix products (int8 weights per output
channel, activations quantised on the fly) scored 1.3-1.55x the pairs per second of the
float32 CrossEncoder on 1,500 held-out pairs and 2.2x on the 9,741 pairs of a 19k-question
mining run (2-core Xeon with VNNI), with held-out pair AP 0.880 against 0.879
(bench/rerank.py, bench/mine.py); the shipped model trained with hard negatives, 0.885
against 0.889. torch's own dynamic quantisation (torch.ao, deprecated) ran
as fast on that CPU but at AP 0.875, and only 1.2-1.35x on a 2-core AVX2 EPYC.

The model is exported with torch's TorchScript-based ONNX exporter: ONNX Runtime ran its
graph 1.5x faster than the graph of torch's newer exporter for this BERT (measured, both
quantised the same way). Export and quantisation take about 5 s, once per model: the file is
cached under ``user_cache_dir()/onnx/<model content key>/``, so a retrained model gets its own.
The shipped CrossEncoder carries its file (``onnx/`` in its folder, see ``ship_int8``), so the
default model is never exported on a user's machine.
Tokenisation and the activation (sigmoid for one label) are the CrossEncoder's own, so only the
matrix arithmetic differs. One difference to know: activations are quantised with one scale per
batch, so a pair's score moves a little with the pairs batched beside it (on held-out pairs,
batches of 8 against 64: mean 0.018, at most 0.23), where float32 gives the same score to float
rounding. Ranking is not hurt (the AP above); keeping some layers in float32 did not make the
scores steadier (measured: feed-forward or attention outputs left unquantised, 0.10-0.27 at most).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..resources import user_cache_dir

FILE_NAME = "model_qint8.onnx"
# A model folder may carry its int8 file (the shipped CrossEncoder does: no export on a first
# run, none inside the bundle) in onnx/, beside the content key of the weights it was made from.
SHIPPED = Path("onnx") / FILE_NAME
SHIPPED_KEY = Path("onnx") / "model_qint8.key"


class Int8CrossEncoder:
    """Scores pairs like ``CrossEncoder.predict``, through an int8 ONNX Runtime session.

    It keeps the source CrossEncoder for its tokenizer and activation only.
    """

    def __init__(self, source, onnx_file: str | Path, threads: int | None = None):
        import onnxruntime as ort
        import torch

        self.source = source
        self.onnx_file = Path(onnx_file)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The same thread budget as torch's, which the app and CLI set for the whole run.
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        # Its threads otherwise spin on the cores for a while after each run, against torch's
        # encoding and the tokenising of the next batch on the same two cores: Ask's encoder
        # ran at half speed right after a rerank (19-21 ms a question against 10-11).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        from .lock import LOAD_LOCK

        with LOAD_LOCK:  # every model of the app is made under the one lock (see loading)
            self.session = ort.InferenceSession(str(self.onnx_file), options,
                                                providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    @classmethod
    def for_model(cls, source, model_dir: str | Path, cache_dir: str | Path | None = None
                  ) -> Int8CrossEncoder:
        """The int8 reranker for the CrossEncoder ``source`` loaded from ``model_dir``."""
        return cls(source, int8_file(source, model_dir, cache_dir))

    @property
    def tokenizer(self):
        return self.source.tokenizer

    @property
    def max_seq_length(self):
        return self.source.max_seq_length

    def predict(self, pairs, batch_size: int = 64, show_progress_bar: bool = False, **_) -> np.ndarray:
        """Scores of ``pairs`` (a list of (text, text)), in their order, batch by batch."""
        import torch

        scores = []
        for lo in range(0, len(pairs), batch_size):
            features = self.source.preprocess(list(pairs[lo : lo + batch_size]))
            feed = {name: features[name].numpy().astype(np.int64, copy=False) for name in self.input_names}
            logits = torch.from_numpy(self.session.run(None, feed)[0])
            if logits.shape[-1] == 1:
                logits = logits[..., 0]
            scores.append(self.source.activation_fn(logits).numpy())
        return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)


def int8_file(source, model_dir: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The cached int8 ONNX file of ``source`` (loaded from ``model_dir``), made if missing.

    Made in a temporary folder and moved into place, under a file lock: a crash leaves no
    half-written model, and two processes do not export the same model at once.
    """
    from filelock import FileLock

    from .paths import model_key

    key = model_key(model_dir)
    shipped, stamp = Path(model_dir) / SHIPPED, Path(model_dir) / SHIPPED_KEY
    if shipped.is_file() and stamp.is_file() and stamp.read_text().strip() == key:
        return shipped
    folder = Path(cache_dir or user_cache_dir()) / "onnx" / key
    target = folder / FILE_NAME
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".lock")):
        if target.is_file():  # another process made it while we waited
            return target
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            fp32 = Path(tmp) / "model.onnx"
            export_onnx(source, fp32)
            quantised = Path(tmp) / FILE_NAME
            quantize_int8(fp32, quantised)
            os.replace(quantised, target)
    return target


def ship_int8(source, model_dir: str | Path) -> Path:
    """Put the int8 file of ``source`` (loaded from ``model_dir``) into the model folder itself,
    with the key of the weights it was made from (scripts/train_default_models.py does this for
    the shipped CrossEncoder). A folder whose weights change later gets a new file in the cache
    instead: the key no longer matches."""
    import shutil

    from .paths import model_key

    model_dir = Path(model_dir)
    with tempfile.TemporaryDirectory() as cache:
        made = int8_file(source, model_dir, cache)
        if made == model_dir / SHIPPED:  # already there, from these weights
            return made
        (model_dir / SHIPPED).parent.mkdir(exist_ok=True)
        shutil.copyfile(made, model_dir / SHIPPED)
    (model_dir / SHIPPED_KEY).write_text(model_key(model_dir) + "\n")
    return model_dir / SHIPPED


def export_onnx(source, path: Path) -> None:
    """Export the CrossEncoder's transformer (inputs as its tokenizer gives them, output the
    logits) with batch and sequence length left free."""
    import torch

    transformer = source[0].model.eval()
    sample = source.preprocess([("How do I learn Python?", "What is the best way to learn Python?")])
    names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in sample]

    class Logits(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs, strict=True))).logits

    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices
        torch.onnx.export(
            Logits(transformer), tuple(sample[k].cpu() for k in names), str(path),
            input_names=names, output_names=["logits"], opset_version=17, dynamo=False,
            dynamic_axes={**{k: {0: "batch", 1: "tokens"} for k in names}, "logits": {0: "batch"}},
        )


def quantize_int8(source: Path, target: Path) -> None:
    """int8 weights per output channel, activations quantised at run time (ONNX Runtime)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process, printed through the root logger
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
