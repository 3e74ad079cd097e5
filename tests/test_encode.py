"""The cache-friendly SPLADE head against plain SparseEncoder.encode, on real questions."""

from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers import SparseEncoder
from sentence_transformers.sparse_encoder.models import SpladePooling

from quoradesk.core.encode import SpladeHeadEncoder, encode_csr
from quoradesk.core.questions import load_questions
from quoradesk.core.resources import SAMPLE_QUESTIONS


@pytest.fixture(scope="module")
def texts():
    qs = [q.text for q in load_questions(SAMPLE_QUESTIONS).questions[:150]]
    return qs + ["", "?", "why " * 300]  # empty, punctuation only, past the 512-token limit


@pytest.mark.parametrize("batch_size", [7, 32])
def test_same_vectors_as_sparse_encoder_encode(encoder, texts, batch_size):
    assert SpladeHeadEncoder.for_model(encoder) is not None
    fast = encode_csr(encoder, texts, batch_size)
    ref = encode_csr(encoder, texts, batch_size, reference=True)
    assert fast.shape == ref.shape == (len(texts), 30522)
    # Same support (no activation lost or invented) and the same weights to float rounding.
    assert ((fast != 0) != (ref != 0)).nnz == 0
    assert abs(fast - ref).max() < 1e-4
    assert np.allclose(fast.sum(axis=1), ref.sum(axis=1), rtol=1e-5)


def test_other_layouts_fall_back_to_the_model(encoder, texts):
    """Sum pooling is not what the fast head computes: the model's own encode must run."""
    summed = SparseEncoder(modules=[encoder[0], SpladePooling(pooling_strategy="sum")], device="cpu")
    assert SpladeHeadEncoder.for_model(summed) is None
    got = encode_csr(summed, texts[:20], 8)
    ref = encode_csr(summed, texts[:20], 8, reference=True)
    # The same model's forward; only the batches differ (sorted by tokens, not characters).
    assert abs(got - ref).max() < 1e-4
    # and it differs from max pooling, so the test would notice the wrong path
    assert abs(got - encode_csr(encoder, texts[:20], 8)).max() > 0.1


def test_a_freshly_loaded_model_takes_the_fast_path_from_its_first_batch(splade_path, texts):
    """SparseEncoder loads in training mode until its first encode(); the loader must hand
    out an eval-mode model, or the first chunk of a run is encoded by the slow forward."""
    from quoradesk.core import models
    from quoradesk.core.encode import encode_batches

    fresh = models.load_sparse_encoder(splade_path, "cpu")
    assert not fresh.training
    next(encode_batches(fresh, texts[:4], 4))
    assert getattr(fresh, "_quoradesk_head_encoder", None) is not None


@pytest.mark.parametrize("name", ["fast", "accurate"])
def test_bf16_encoding_stays_close_to_float32(name, texts):
    """What mining does on a CPU with native bfloat16 (emulated, and slower, elsewhere: the
    closeness holds either way)."""
    from quoradesk.core import models
    from quoradesk.core.index import prepare

    model = models.load_sparse_encoder(models.sparse_model_path(name), "cpu")
    f32 = prepare(encode_csr(model, texts[:60], 16), "cosine")
    b16 = prepare(encode_csr(model, texts[:60], 16, bf16=True), "cosine")
    self_cos = np.asarray(f32.multiply(b16).sum(axis=1)).ravel()
    assert self_cos.min() > 0.995, name
    assert abs(b16.getnnz(axis=1).mean() - f32.getnnz(axis=1).mean()) < 0.05 * f32.getnnz(axis=1).mean()
    assert b16.dtype == np.float32


@pytest.mark.parametrize("name", ["fast", "accurate"])
def test_bf16_weights_cast_once_give_autocasts_very_vectors(name, texts):
    """bf16 encoding runs on bfloat16 copies of the weights made once (SpladeHeadEncoder.bf16_modules),
    not on autocast's cast of the float32 weights at every call: the same operands, so the same
    vectors bit for bit; and copies made again when the weights change in place (training)."""
    import torch

    from quoradesk.core import models

    model = models.load_sparse_encoder(models.sparse_model_path(name), "cpu")
    fast = SpladeHeadEncoder.for_model(model)
    batch = texts[:40]

    def autocast_over_float32():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fast.encode_batch(batch)  # the float32 modules, cast by autocast call by call

    got = fast.encode_batch(batch, bf16=True)
    assert (got != autocast_over_float32()).nnz == 0 and got.nnz > 0
    body, _, weight, _ = fast.bf16_modules()
    assert weight.dtype == torch.bfloat16 and fast.bf16_modules()[0] is body  # made once
    linear = next(m for m in fast.body.modules() if isinstance(m, torch.nn.Linear))
    assert linear.weight.dtype == torch.float32  # the model itself is untouched
    with torch.no_grad():
        linear.weight.mul_(1.5)  # as an optimizer step would, in place
    assert fast.bf16_modules()[0] is not body
    changed = fast.encode_batch(batch, bf16=True)
    assert (changed != autocast_over_float32()).nnz == 0 and (changed != got).nnz > 0


def test_bf16_encoding_is_a_cpu_setting_that_follows_the_hardware():
    from quoradesk.core import models
    from quoradesk.core.mining import MiningParams

    assert MiningParams().on_device("cpu").encode_bf16 == models.native_bf16()
    assert MiningParams().on_device("cuda").encode_bf16 is False
    assert MiningParams(encode_bf16=False).on_device("cpu").encode_bf16 is False
    assert "encode_bf16" in MiningParams().key()  # a run records how it encoded
