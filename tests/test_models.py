"""Model folders resolve locally; broken ones fail early with the path in the message."""

from __future__ import annotations

import shutil

import pytest

from quoradesk.core import models
from quoradesk.core.models import ModelError


def test_default_model_is_local_and_loads(splade_path, encoder):
    assert splade_path.is_dir()
    emb = encoder.encode(["How do I learn Python?"])
    assert emb.shape[1] == 30522 and emb.is_sparse


def test_device_choice():
    assert models.pick_device("auto") in ("cpu", "cuda", "mps")
    assert models.pick_device("cpu") == "cpu"
    with pytest.raises(ModelError, match="Unknown device"):
        models.pick_device("tpu")


def test_missing_folder(tmp_path):
    with pytest.raises(ModelError, match=str(tmp_path / "nope")):
        models.load_sparse_encoder(tmp_path / "nope")


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(ModelError, match="not a model folder"):
        models.load_sparse_encoder(tmp_path)


def test_half_written_model_folder(tmp_path, splade_path):
    broken = tmp_path / "half"
    shutil.copytree(splade_path, broken)
    weights = broken / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # an interrupted copy
    with pytest.raises(ModelError, match="truncated"):
        models.load_sparse_encoder(broken)
    weights.unlink()
    with pytest.raises(ModelError, match="no model.safetensors"):
        models.load_sparse_encoder(broken)


def test_pickle_only_weights_are_not_loaded(tmp_path, splade_path):
    folder = tmp_path / "pickled"
    shutil.copytree(splade_path, folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    with pytest.raises(ModelError, match="pickle weights are not loaded"):
        models.load_sparse_encoder(folder)


def test_model_key_follows_content(tmp_path, splade_path):
    copy = tmp_path / "copy"
    shutil.copytree(splade_path, copy)
    assert models.model_key(copy) == models.model_key(splade_path)
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("0.1", "0.2"))
    assert models.model_key(copy) != models.model_key(splade_path)


def test_saved_sparse_encoder_round_trips(tmp_path, encoder):
    out = tmp_path / "saved"
    encoder.save(str(out))
    again = models.load_sparse_encoder(out)
    texts = ["Why is the sky blue?"]
    assert (again.encode(texts).to_dense() - encoder.encode(texts).to_dense()).abs().max() < 1e-5
