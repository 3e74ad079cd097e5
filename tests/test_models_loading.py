"""Models are made under one lock and shared: many threads loading at once never fail and
never get two copies of one model; a model no one holds any more is released."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from quoradesk.core import models

THREADS = 6


def at_once(jobs) -> tuple[list, list]:
    """Run each callable of ``jobs`` on its own thread, all released together."""
    start = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def run(i, job):
        start.wait()
        try:
            results[i] = job()
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_threads_loading_the_same_and_different_models_share_one_copy_each():
    accurate = models.sparse_model_path("accurate")  # the tied-head SPLADE the Review tab and Ask both load
    fast = models.sparse_model_path("fast")
    cross = models.default_reranker_path()
    kinds = [
        lambda: models.shared_sparse_encoder(accurate, "cpu"),
        lambda: models.shared_sparse_encoder(fast, "cpu"),
        lambda: models.shared_cross_encoder(cross, "cpu", int8=True),
    ]
    held = None  # the first round's models, kept: every later round gets the very same objects
    for _ in range(3):
        jobs = [kinds[i % len(kinds)] for i in range(THREADS * len(kinds))]
        results, errors = at_once(jobs)
        assert errors == []
        for k in range(len(kinds)):
            same = {id(r) for i, r in enumerate(results) if i % len(kinds) == k}
            assert len(same) == 1, "two copies of one model"
        held = held or results[: len(kinds)]
        assert all(results[k] is held[k] for k in range(len(kinds)))
    # the int8 reranker's float32 source is the shared float32 CrossEncoder
    assert held[2].source is models.shared_cross_encoder(cross, "cpu")
    encoded = held[0].encode(["How do I learn Python?"])
    assert encoded.shape[1] == 30522


def test_private_loads_on_many_threads_do_not_break_each_other():
    """transformers' loading is not thread-safe (meta tensors, tied weights): each private
    load, as training makes, still runs under the one lock."""
    accurate = models.sparse_model_path("accurate")
    results, errors = at_once([lambda: models.load_sparse_encoder(accurate, "cpu")] * 4
                              + [lambda: models.load_cross_encoder(models.SHIPPED_CROSS, "cpu")] * 2)
    assert errors == []
    assert len({id(r) for r in results}) == len(results)  # private: a copy each
    vectors = [r.encode(["Why is the sky blue?"]).to_dense() for r in results[:4]]
    assert all((v == vectors[0]).all() for v in vectors)


def test_a_model_no_one_holds_is_released(tmp_path):
    import shutil

    fast = tmp_path / "splade"  # a folder of its own: no other test holds this one
    shutil.copytree(models.sparse_model_path("fast"), fast)
    encoder = models.shared_sparse_encoder(fast, "cpu")
    from quoradesk.core.models.encode import encode_csr

    encode_csr(encoder, ["How do I learn Python?", "What is Python?"])  # builds the fast head
    key = next(k for k, m in models.loaded_models().items() if m is encoder)
    gone = weakref.ref(encoder)
    gc.collect()  # whatever earlier tests left
    gc.disable()  # no cycle collector needed: the last reference going frees the model
    try:
        del encoder
        assert gone() is None
    finally:
        gc.enable()
    assert key not in models.loaded_models()
    assert models.shared_sparse_encoder(fast, "cpu") is not None  # loads again on demand


def test_a_load_failure_names_the_model_and_what_to_do(tmp_path):
    import shutil

    broken = tmp_path / "broken-splade"
    shutil.copytree(models.sparse_model_path("fast"), broken)
    config = broken / "config.json"
    config.write_text(config.read_text().replace('"hidden_size": 128', '"hidden_size": 96'))
    with pytest.raises(models.ModelError) as failed:
        models.shared_sparse_encoder(broken, "cpu")
    message = str(failed.value)
    assert str(broken) in message and "reinstall" in message
    assert "size mismatch" not in message and "Tensor" not in message  # torch's own text stays in the log
