"""The cache-friendly SPLADE head against plain SparseEncoder.encode, on real questions."""

from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers import SparseEncoder
from sentence_transformers.sparse_encoder.models import SpladePooling

from quoradesk.core.models.encode import SpladeHeadEncoder, encode_csr
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
    from quoradesk.core.models.encode import encode_batches

    fresh = models.load_sparse_encoder(splade_path, "cpu")
    assert not fresh.training
    next(encode_batches(fresh, texts[:4], 4))
    assert getattr(fresh, "_quoradesk_head_encoder", None) is not None


@pytest.mark.parametrize("name", ["fast", "accurate", "distilled"])
def test_bf16_encoding_stays_close_to_float32(name, texts):
    """What mining does on a CPU with native bfloat16 (emulated, and slower, elsewhere: the
    closeness holds either way)."""
    from quoradesk.core import models
    from quoradesk.core.search.index import prepare

    model = models.load_sparse_encoder(models.sparse_model_path(name), "cpu")
    f32 = prepare(encode_csr(model, texts[:60], 16), "cosine")
    b16 = prepare(encode_csr(model, texts[:60], 16, bf16=True), "cosine")
    self_cos = np.asarray(f32.multiply(b16).sum(axis=1)).ravel()
    assert self_cos.min() > 0.995, name
    assert abs(b16.getnnz(axis=1).mean() - f32.getnnz(axis=1).mean()) < 0.05 * f32.getnnz(axis=1).mean()
    assert b16.dtype == np.float32


@pytest.mark.parametrize("name", ["fast", "accurate", "distilled"])
def test_bf16_weights_cast_once_give_autocasts_very_vectors(name, texts):
    """bf16 encoding runs on bfloat16 copies of the weights made once (SpladeHeadEncoder.bf16_modules),
    not on autocast's cast of the float32 weights at every call: the same operands, so the same
    vectors bit for bit (the copy attends plainly, not by sdpa, and so does the comparison); and
    copies made again when the weights change in place (training)."""
    import torch

    from quoradesk.core import models

    model = models.load_sparse_encoder(models.sparse_model_path(name), "cpu")
    fast = SpladeHeadEncoder.for_model(model)
    batch = texts[:40]

    def autocast_over_float32():
        # The float32 modules, cast by autocast call by call, attending as the copy does
        # (plain attention: faster than sdpa's CPU kernels there).
        config = fast.body.config
        kept, config._attn_implementation = config._attn_implementation, "eager"
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return fast.encode_batch(batch)
        finally:
            config._attn_implementation = kept

    got = fast.encode_batch(batch, bf16=True)
    assert (got != autocast_over_float32()).nnz == 0 and got.nnz > 0
    body, _, weight, _ = fast.bf16_modules()
    assert weight.dtype == torch.bfloat16 and fast.bf16_modules()[0] is body  # made once
    linear = next(m for m in fast.body.modules() if isinstance(m, torch.nn.Linear))
    assert linear.weight.dtype == torch.float32  # the model itself is untouched
    assert body.config._attn_implementation == "eager" and fast.body.config._attn_implementation == "sdpa"
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


@pytest.mark.parametrize("name", ["fast", "accurate", "distilled"])
def test_int8_head_stays_close_to_float32(name, texts):
    """The MLM head's product in int8 (what mining does on a CPU with VNNI), with float32 and
    with bf16 products elsewhere: each vector within 0.005 cosine of float32's, about as many
    active terms, and a different computation (the test would notice the float path)."""
    from quoradesk.core import models
    from quoradesk.core.search.index import prepare

    model = models.load_sparse_encoder(models.sparse_model_path(name), "cpu")
    f32 = encode_csr(model, texts[:60], 16)
    for bf16 in (False, True):
        i8 = encode_csr(model, texts[:60], 16, int8=True, bf16=bf16)
        assert i8.dtype == np.float32 and abs(i8 - f32).max() > 0
        self_cos = np.asarray(prepare(f32, "cosine").multiply(prepare(i8, "cosine")).sum(axis=1)).ravel()
        assert self_cos.min() > 0.995, (name, bf16)
        assert abs(i8.getnnz(axis=1).mean() - f32.getnnz(axis=1).mean()) < 0.05 * f32.getnnz(axis=1).mean()


def test_int8_head_does_not_depend_on_the_batch(encoder, texts):
    """Each position is quantised with its own scale, so a question encoded alone gets the
    vector it gets in a batch of others (to float rounding): a question asked again in Ask
    scores 1.0 against its stored vector."""
    from quoradesk.core.search.index import prepare

    batch = prepare(encode_csr(encoder, texts[:40], 40, int8=True), "cosine")
    for i in (0, 7, 39):
        alone = prepare(encode_csr(encoder, [texts[i]], 1, int8=True), "cosine")
        assert alone.multiply(batch[i]).sum() == pytest.approx(1.0, abs=1e-5)


def test_int8_head_weights_made_once_and_again_after_a_change(texts):
    import torch

    from quoradesk.core import models

    model = models.load_sparse_encoder(models.sparse_model_path("fast"), "cpu")
    fast = SpladeHeadEncoder.for_model(model)
    weight8, scales, _ = fast.int8_head()
    assert weight8.dtype == torch.int8 and weight8.shape == fast.weight.shape
    # Per vocabulary row: the largest weight of each row maps to +-127.
    assert int(weight8.abs().amax(dim=1).min()) == 127
    assert torch.allclose(weight8.float() * scales[:, None], fast.weight.detach(), atol=float(scales.max()))
    assert fast.int8_head()[0] is weight8  # made once
    before = fast.encode_batch(texts[:20], int8=True)
    with torch.no_grad():
        fast.weight.mul_(1.5)  # in place, as an optimizer step would
    assert fast.int8_head()[0] is not weight8
    assert (fast.encode_batch(texts[:20], int8=True) != before).nnz > 0


@pytest.mark.parametrize("int8_body", [False, True])
def test_int8_head_falls_back_to_the_float_head_where_torch_cannot(encoder, texts, monkeypatch, int8_body):
    """A torch build or CPU without the int8 product: the batch is encoded by the float head
    (the very vectors of int8=False), and the int8 path is not tried again; with the int8 body
    asked for too, by the float body and head."""
    import torch

    fast = SpladeHeadEncoder.for_model(encoder)
    want = fast.encode_batch(texts[:20])

    def no_int8_product(*args, **kwargs):
        raise RuntimeError("_int_mm: not implemented for this CPU")

    monkeypatch.setattr(torch, "_int_mm", no_int8_product)
    monkeypatch.setattr(fast, "_int8_works", True)
    got = fast.encode_batch(texts[:20], int8=True, int8_body=int8_body)
    assert (got != want).nnz == 0 and fast._int8_works is False


def test_int8_head_is_a_cpu_setting_that_follows_the_hardware():
    from quoradesk.core import models
    from quoradesk.core.mining import MiningParams

    assert MiningParams().on_device("cpu").encode_int8 == models.native_int8()
    assert MiningParams().on_device("cuda").encode_int8 is False
    assert MiningParams(encode_int8=False).on_device("cpu").encode_int8 is False
    assert "encode_int8" in MiningParams().key()  # a run records how it encoded
