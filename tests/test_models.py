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


def test_users_model_folder_loads_with_networking_blocked(tmp_path, splade_path, monkeypatch):
    """A folder the user picked (here: a copy saved elsewhere, renamed) loads with every socket
    call failing, and asking for remote code in its config changes nothing."""
    import json
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("loading a user's model folder tried to reach the network")

    folder = tmp_path / "my model"
    shutil.copytree(splade_path, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForMaskedLM": "evil_module.EvilModel"}  # remote code, refused
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    model = models.load_sparse_encoder(folder, "cpu")
    assert type(model[0].auto_model).__name__ == "BertForMaskedLM"  # the stock class, not auto_map's
    assert not (folder / "evil_module.py").exists()


def test_tampered_safetensors_header_is_refused(tmp_path, splade_path):
    folder = tmp_path / "tampered"
    shutil.copytree(splade_path, folder)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:24] = b"#" * 16  # the JSON header that says where each tensor lies
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="unreadable or half-written"):
        models.load_sparse_encoder(folder)
