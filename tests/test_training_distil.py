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


def test_a_shallower_crossencoder_learns_its_teachers_scores(tmp_path):
    """training.distil_cross (the default reranker is made this way from the shipped CrossEncoder,
    scripts/train_default_models.py --what cross-distilled): two of the teacher's six layers,
    taught on the project's own labelled pairs and their neighbours, score those pairs closer to
    the teacher than the same two layers untaught."""
    from owned_data import sample_pairs

    from quoradesk.core.models.rerank import rerank_scores
    from quoradesk.core.training.distil_cross import cross_student_base

    teacher_dir = models.teacher_reranker_path()
    pairs = sample_pairs()
    train = training.LabelledPairs([p[1] for p in pairs], [p[2] for p in pairs], [p[0] for p in pairs], "sample")
    config = training.CrossDistilConfig(layers=(0, 5), top_k=1, epochs=1, learning_rate=1e-4, batch_size=16)
    events = []
    result = training.distil_cross(teacher_dir, train, None, tmp_path / "student", models.sparse_model_path("fast"),
                                   config, on_event=events.append)
    texts = list(zip(train.q1, train.q2, strict=True))
    teacher = np.array(rerank_scores(models.load_cross_encoder(teacher_dir, "cpu"), texts, 64))
    untaught = models.load_cross_encoder(cross_student_base(teacher_dir, (0, 5), tmp_path / "untaught"), "cpu")
    student = models.load_cross_encoder(result.path, "cpu")
    assert student[0].model.config.num_hidden_layers == 2
    before = np.mean((np.array(rerank_scores(untaught, texts, 64)) - teacher) ** 2)
    after = np.mean((np.array(rerank_scores(student, texts, 64)) - teacher) ** 2)
    assert after < 0.7 * before, (before, after)  # measured: 0.241 -> 0.128
    card = result.card
    assert card["distilled_layers"] == [0, 5] and card["teacher_pairs"] >= len(train) and card["base_model"] == str(teacher_dir)
    assert any(e.kind == "teacher" for e in events) and events[-1].kind == "done"
    with pytest.raises(training.TrainingError, match="cannot keep"):
        cross_student_base(teacher_dir, (0, 9), tmp_path / "too-deep")
