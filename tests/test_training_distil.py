"""training.distil_sparse: a shallower SPLADE taught by a deeper one, on the project's own sample
(the shipped fast SPLADE teaching one of its two layers: the shipped distilled model is made
the same way from the accurate one, scripts/train_default_models.py --what sparse-distilled)."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from quoradesk.core import models, training
from quoradesk.core.models import active_vocabulary
from quoradesk.core.models.encode import encode_csr
from quoradesk.core.questions import load_questions
from quoradesk.core.resources import SAMPLE_QUESTIONS
from quoradesk.core.search.index import prepare


@pytest.fixture(scope="module")
def sample():
    return [q.text for q in load_questions(SAMPLE_QUESTIONS).questions]


def _cosines(a, b) -> np.ndarray:
    return np.asarray(prepare(a, "cosine").multiply(prepare(b, "cosine")).sum(axis=1)).ravel()


def _truncated(folder, layers):
    model = models.load_sparse_encoder(folder, "cpu")
    training.keep_layers(model[0].auto_model, layers)
    return model.eval()


def test_the_student_learns_its_teachers_vectors(tmp_path, sample):
    teacher_dir = models.sparse_model_path("fast")
    events = []
    out = training.distil_sparse(teacher_dir, sample, tmp_path / "student",
                                 training.DistilConfig(layers=(1,), epochs=3, learning_rate=1e-3, batch_size=16),
                                 bf16=False, on_event=events.append)
    student = models.load_sparse_encoder(out, "cpu")
    assert student[0].auto_model.config.num_hidden_layers == 1
    teacher = encode_csr(models.load_sparse_encoder(teacher_dir, "cpu"), sample, 32)
    before = _cosines(encode_csr(_truncated(teacher_dir, (1,)), sample, 32), teacher)
    after = _cosines(encode_csr(student, sample, 32), teacher)
    assert np.median(after) > np.median(before) + 0.02, (np.median(before), np.median(after))
    losses = [e.values["vector_loss"] for e in events if e.kind == "loss"]
    assert [e.kind for e in events] == ["teacher", "loss", "loss", "loss"] and losses[-1] < losses[0]


def test_distillation_refuses_what_it_cannot_do(tmp_path, sample):
    fast = models.sparse_model_path("fast")
    with pytest.raises(training.TrainingError, match="has 2 layers"):
        training.distil_sparse(fast, sample, tmp_path / "a", training.DistilConfig(layers=(0, 5)))
    with pytest.raises(training.TrainingError, match="No questions"):
        training.distil_sparse(fast, [], tmp_path / "b")
    bare = tmp_path / "bare"
    shutil.copytree(fast, bare)
    (bare / active_vocabulary.FILE_NAME).unlink()
    with pytest.raises(training.TrainingError, match="no active vocabulary"):
        training.distil_sparse(bare, sample, tmp_path / "c")
    stop = threading.Event()
    stop.set()
    with pytest.raises(training.TrainingError, match="stopped"):
        training.distil_sparse(fast, sample, tmp_path / "d", training.DistilConfig(layers=(1,)), stop=stop)
    assert not (tmp_path / "d").exists()  # nothing half-made is left


def test_a_shallow_base_keeps_evenly_spread_layers(tmp_path):
    """shallow_base (a CrossEncoder's base, `quoradesk train --layers`) cuts with the same helper."""
    import torch
    from transformers import AutoModel

    base = models.minilm_path()
    out = training.shallow_base(base, 3, tmp_path / "shallow")
    full, cut = (AutoModel.from_pretrained(str(p), local_files_only=True) for p in (base, out))
    assert cut.config.num_hidden_layers == 3
    for kept, source in zip(cut.encoder.layer, (0, 2, 4)):
        assert torch.equal(kept.output.dense.weight, full.encoder.layer[source].output.dense.weight)
    with pytest.raises(training.TrainingError, match="cannot keep 7"):
        training.shallow_base(base, 7, tmp_path / "too-deep")
