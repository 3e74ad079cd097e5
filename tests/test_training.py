"""Training and evaluation on small real slices; bad training input fails before any step."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
from owned_data import write_pairs

from quoradesk.core import models, training
from quoradesk.core.training import TrainingError, evaluate
from quoradesk.core.training.events import LossHistory


@pytest.fixture(scope="module")
def owned_pairs(tmp_path_factory):
    """2,000 of the project's own labelled pairs (owned_data): the sample's and variants."""
    return training.read_pair_file(write_pairs(tmp_path_factory.mktemp("pairs") / "pairs.tsv", 2000))


@pytest.fixture(scope="module")
def split(owned_pairs):
    return training.split_held_out(owned_pairs, 0.15, seed=12)


@pytest.fixture(scope="module")
def quora_pairs(dev_tsv):
    return training.read_pair_file(dev_tsv)


@pytest.fixture(scope="module")
def quora_split(quora_pairs):
    """The split the shipped models were trained on the rest of: its held-out part is unseen."""
    return training.split_held_out(quora_pairs, 0.15, seed=12)


def assert_held_out_shares_no_question(pairs, split):
    train, held = split
    assert len(train) + len(held) == len(pairs) and 0.13 <= len(held) / len(pairs) <= 0.17
    assert not (set(train.q1) | set(train.q2)) & (set(held.q1) | set(held.q2))
    assert 0.4 < held.positives / len(held) < 0.65


def test_held_out_split_shares_no_question(owned_pairs, split):
    assert_held_out_shares_no_question(owned_pairs, split)


def test_quora_held_out_split_shares_no_question(quora_pairs, quora_split):
    assert_held_out_shares_no_question(quora_pairs, quora_split)  # 1,500 of 10,000 held out


def train_on_32_duplicates(base, train, out, epochs: int, learning_rate: float):
    """Cosine-MNRL SPLADE training on 32 duplicate pairs, batches of 16, loss logged each
    step; checks that the loss fell by 30% and returns the result."""
    few = train.subset([i for i, y in enumerate(train.labels) if y][:32])
    losses = []
    result = training.train_sparse(
        base, few, None, out,
        training.SparseConfig(epochs=epochs, batch_size=16, learning_rate=learning_rate, logging_steps=1,
                              loss="mnrl-cos"),
        device="cpu", on_event=lambda e: e.kind == "loss" and losses.append(e.values["loss"]),
    )
    assert result.steps == len(losses) == 4 * epochs  # both directions: 64 examples, 4 batches
    assert np.mean(losses[-4:]) < 0.7 * np.mean(losses[:4])
    return result


def test_sparse_training_lowers_the_loss(split, tmp_path):
    result = train_on_32_duplicates(models.base_splade_path(), split[0], tmp_path / "sp", epochs=6,
                                    learning_rate=2e-4)
    loaded = models.load_sparse_encoder(result.path, "cpu")
    assert loaded.encode(["How do I learn Python?"]).shape[1] == 30522
    card = result.card
    assert card["train_pairs"] == 32 and card["hardware"]["device"] == "cpu"
    assert card["bf16"] is models.native_bf16()  # bf16 where this CPU computes it natively
    assert (result.path / "quoradesk_training.json").is_file()


@pytest.mark.parametrize("device, setting, native, expected", [
    ("cpu", None, True, True), ("cpu", None, False, False),  # AVX512-BF16/AMX only: emulated is slower
    ("cpu", False, True, False), ("cpu", True, False, True),  # the config's word wins
    ("cuda", None, False, True), ("cuda:1", False, True, False),
    ("mps", True, True, False),  # no bf16 autocast there
])
def test_training_precision_follows_the_device(device, setting, native, expected, monkeypatch):
    from quoradesk.core.training.dense import DenseConfig
    from quoradesk.core.training.trainers import _use_bf16

    monkeypatch.setattr(models, "native_bf16", lambda: native)
    for config in (training.SparseConfig(bf16=setting), training.CrossConfig(bf16=setting),
                   DenseConfig(bf16=setting)):
        assert _use_bf16(config, device) is expected


def test_splade_from_the_dense_model_expands_questions_and_trains(split, tmp_path, monkeypatch):
    """The accurate SPLADE's starting point: MiniLM's body with a masked-LM head tied to its
    own word embeddings, usable (sparse, expanding) before training, and trainable."""
    from quoradesk.core.training.splade_base import mask_special_tokens, splade_from_dense

    train, _ = split
    base = splade_from_dense(models.minilm_path(), tmp_path / "base", sorted(set(train.q1)), active_terms=128)
    monkeypatch.setattr(socket.socket, "connect", lambda *a, **k: pytest.fail("network"))
    encoder = models.load_sparse_encoder(base, "cpu")
    rows = encoder.encode(["How do I learn Python quickly?", "Is Delhi better than Mumbai to live in?"])
    active = (rows.to_dense() > 0).sum(1)
    assert (active > 40).all() and (active < 400).all()  # sparse: ~128 terms a question
    top = [[t for t, _ in row] for row in encoder.decode(rows, top_k=12)]
    assert {"python", "learn", "quickly"} <= set(top[0]) and {"delhi", "mumbai"} <= set(top[1])
    # MiniLM already knows paraphrase, so its expansion reaches related words untrained
    assert {"learning", "quick", "rapidly", "fast", "bombay", "india"} & (set(top[0]) | set(top[1]))

    result = train_on_32_duplicates(base, train, tmp_path / "sp", epochs=4, learning_rate=1e-4)
    trained = models.load_sparse_encoder(result.path, "cpu")
    assert trained.encode(["How do I learn Python?"]).shape[1] == 30522
    # [CLS] weighs in every question of a head on a dense body; masked, it never shows
    assert "[CLS]" in [t for t, _ in trained.decode(trained.encode(["How do I learn Python?"]), top_k=30)[0]]
    assert mask_special_tokens(trained) > 5
    row = trained.encode(["How do I learn Python?"])
    assert not {"[CLS]", "[SEP]"} & {t for t, _ in trained.decode(row, top_k=None)[0]}


def test_splade_from_dense_refuses_what_it_cannot_build(tmp_path):
    from quoradesk.core.training.splade_base import splade_from_dense

    with pytest.raises(TrainingError, match="At least 16 sample questions"):
        splade_from_dense(models.minilm_path(), tmp_path / "a", ["How?"] * 3)
    with pytest.raises(models.ModelError, match="not found"):
        splade_from_dense(tmp_path / "missing", tmp_path / "b", ["How?"] * 20)


def test_stop_request_ends_training_within_one_step(split, tmp_path, splade_path):
    train, held = split
    stop = threading.Event()
    steps_seen = []

    def on_event(e):
        steps_seen.append(e.step)
        if e.kind == "loss" and e.step >= 2:
            stop.set()

    result = training.train_cross(
        splade_path, train.subset(list(range(400))), held.subset(list(range(40))), tmp_path / "ce",
        training.CrossConfig(epochs=1, batch_size=8, logging_steps=1, eval_steps=1000),
        device="cpu", on_event=on_event, stop=stop,
    )
    # Asked while step 2 was being logged (the Trainer logs after a step ends): step 3 is
    # the one step allowed to finish before training stops.
    assert result.stopped and result.steps == 3
    reloaded = models.load_cross_encoder(result.path, "cpu")
    assert reloaded.predict([("How do I learn Python?", "What is Python?")]).shape == (1,)


def test_sparse_evaluation_matches_an_independent_computation(split, encoder):
    from sklearn.metrics import average_precision_score

    _, held = split
    few = held.subset(list(range(120)))
    m = evaluate.evaluate_sparse(encoder, few)
    a = encoder.encode(few.q1).to_dense()
    b = encoder.encode(few.q2).to_dense()
    cos = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
    assert m["cosine_ap"] == pytest.approx(average_precision_score(few.labels, cos.numpy()), abs=1e-4)
    assert 0 < m["active_dims"] < 300


def test_shipped_models_load_offline_and_classify_held_out_pairs(quora_split, monkeypatch):
    _, held = quora_split

    def no_network(*args, **kwargs):
        raise AssertionError("a model load tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    ce = models.load_cross_encoder(models.SHIPPED_CROSS, "cpu")
    few = held.subset(list(range(60)))
    scores = ce.predict(list(zip(few.q1, few.q2, strict=True)))
    accuracy = np.mean((scores > 0.5) == np.array(few.labels))
    assert accuracy >= 0.75  # the full held-out split measures 0.84
    for name in ("fast", "accurate", "distilled"):
        sp = models.load_sparse_encoder(models.sparse_model_path(name), "cpu")
        emb = sp.encode(["How can I lose weight fast?", "What is the quickest way to lose weight?",
                         "What is the capital of France?"])
        sims = sp.similarity(emb, emb)
        assert sims[0, 1] > sims[0, 2] + 0.3, name  # fast: 0.85 vs 0.43


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "content, message",
    [
        ("0\tWhat is A?\tWhat is B?\t1\n0\tWhy C?\tWhy D?\t2\n", "0 duplicate pairs"),
        ("What is A?\nWhat is B?\n", "not a labelled pair file"),
        ("1\tWhat is A?\tIs it A?\t1\nyes\tWhy C?\tWhy D?\t2\n0\tE?\tF?\t3\n", "'yes' is not 0 or 1"),
        ("1\tWhat is A?\tIs it A?\t1\n2\tWhy C?\tWhy D?\t2\n1\tE?\tIs it E?\t3\n", "'2' is not 0 or 1"),
    ],
    ids=["no-positives", "one-column", "label-yes", "label-2"],
)
def test_bad_training_files_fail_before_training(tmp_path, content, message):
    path = write(tmp_path, "pairs.tsv", content)
    with pytest.raises(TrainingError, match=message):
        training.read_pair_file(path)


def test_existing_output_and_bad_base_fail_before_training(split, tmp_path, splade_path):
    train, _ = split
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user file")
    started = time.perf_counter()
    with pytest.raises(TrainingError, match="exists and is not empty"):
        training.train_sparse(splade_path, train, None, out, device="cpu")
    assert (out / "keep.txt").read_text() == "user file"
    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    (not_a_model / "a.txt").write_text("x")
    with pytest.raises(TrainingError, match="Base model unusable"):
        training.train_cross(not_a_model, train, None, tmp_path / "new", device="cpu")
    assert not (tmp_path / "new").exists()
    assert time.perf_counter() - started < 10  # checked, not trained


def test_project_pairs_become_training_data(tmp_path):
    from quoradesk.core.questions import load_questions
    from quoradesk.core.store import Store

    src = write(tmp_path, "q.txt", "How do I learn Python?\nBest way to learn Python?\nWhy is the sky blue?\n"
                "How can I learn Python fast?\n")
    store = Store(tmp_path / "p.sqlite")
    store.add_import(load_questions(src))
    with pytest.raises(TrainingError, match="No labelled pairs"):
        training.pairs_from_store(store)
    store.set_label(1, 3, "rejected")
    with pytest.raises(TrainingError, match="0 duplicate pairs"):
        training.pairs_from_store(store)
    store.set_label(1, 2, "accepted")
    store.set_label(1, 4, "accepted")
    store.set_label(1, 3, "rejected")
    pairs = training.pairs_from_store(store)
    assert pairs.labels == [1, 0, 1] and pairs.q2[1] == "Why is the sky blue?"


def test_distillation_pairs_are_neighbours_scored_by_the_teacher(split, encoder):
    train, _ = split
    few = train.subset(list(range(60)))
    teacher = models.load_cross_encoder(models.teacher_reranker_path(), "cpu")
    scored = training.teacher_pairs(few, encoder, teacher, top_k=2)
    texts = set(few.q1) | set(few.q2)
    pairs = list(zip(scored.q1, scored.q2, strict=True))
    assert len(set(pairs)) == len(pairs) and all(a < b for a, b in pairs)
    assert set(scored.q1) | set(scored.q2) <= texts  # training questions only
    # ``extra``'s pairs join as they are (the CrossEncoder student's swapped comparisons): their
    # questions get no neighbours of their own.
    other = train.subset(list(range(60, 63)))
    widened = training.teacher_pairs(few, encoder, teacher, top_k=2, extra=other)
    assert set(zip(widened.q1, widened.q2, strict=True)) == set(pairs) | {
        (min(a, b), max(a, b)) for a, b in zip(other.q1, other.q2, strict=True)}
    # Every labelled pair is in, and the teacher ranks duplicates above non-duplicates.
    by_pair = dict(zip(pairs, scored.scores, strict=True))
    labelled = [(min(a, b), max(a, b), y) for a, b, y in zip(few.q1, few.q2, few.labels, strict=True)]
    pos = [by_pair[(a, b)] for a, b, y in labelled if y]
    neg = [by_pair[(a, b)] for a, b, y in labelled if not y]
    assert np.mean(pos) > np.mean(neg) + 0.2
    assert len(pairs) > len(set((a, b) for a, b, _ in labelled))  # neighbours added
    assert all(0.0 <= s <= 1.0 for s in scored.scores)


def test_distillation_trains_and_needs_a_teacher(split, tmp_path):
    train, _ = split
    few = train.subset(list(range(48)))
    config = training.SparseConfig(loss="distil", epochs=3, batch_size=16, learning_rate=2e-4,
                                   logging_steps=1, distil_top_k=2)
    started = time.perf_counter()
    with pytest.raises(TrainingError, match="needs a teacher"):
        training.train_sparse(models.base_splade_path(), few, None, tmp_path / "a", config, device="cpu")
    with pytest.raises(TrainingError, match="Teacher unusable"):
        training.train_sparse(models.base_splade_path(), few, None, tmp_path / "a", config, device="cpu",
                              teacher=tmp_path)
    assert time.perf_counter() - started < 10 and not (tmp_path / "a").exists()
    losses, history = [], LossHistory()

    def on_event(e):
        if e.kind == "loss":
            losses.append(e.values["loss"])
            history.add(e)

    result = training.train_sparse(
        models.base_splade_path(), few, None, tmp_path / "b", config, device="cpu",
        teacher=models.teacher_reranker_path(), on_event=on_event,
    )
    assert result.card["teacher_pairs"] > len(few) and len(losses) == result.steps >= 6
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    # one task alone ("distil"): no per-task split, the one series is the loss
    assert list(history.series) == ["loss"] and history.points("loss")[1] == losses
    assert models.load_sparse_encoder(result.path, "cpu").encode(["Why is the sky blue?"]).shape[1] == 30522


def test_two_tasks_report_their_losses_apart(split, tmp_path):
    """MNRL beside distillation: every batch is one task's, and their losses differ tenfold;
    each loss event says which task's batches it averages, so each is a series of its own."""
    train, _ = split
    few = train.subset([i for i, y in enumerate(train.labels) if y][:32] + [i for i, y in enumerate(train.labels) if not y][:16])
    config = training.SparseConfig(loss="mnrl-cos+distil", epochs=2, batch_size=8, learning_rate=2e-4,
                                   logging_steps=1, distil_top_k=1)
    events = []
    training.train_sparse(models.base_splade_path(), few, None, tmp_path / "m", config, device="cpu",
                          teacher=models.teacher_reranker_path(),
                          on_event=lambda e: e.kind == "loss" and events.append(e))
    history = LossHistory()
    for e in events:
        history.add(e)
        (task, value), = e.values["task_losses"].items()  # logged every step: one task's batch
        assert value == pytest.approx(e.values["loss"], rel=1e-3, abs=1e-4)
    assert set(history.series) == {"mnrl", "distil"}
    mnrl, distil = (np.mean(history.points(t)[1]) for t in ("mnrl", "distil"))
    print(f"mean loss: mnrl {mnrl:.3f}, distil {distil:.3f}")
    assert distil > 3 * mnrl  # the scales one line would have jumped between
    trend = history.trend("mnrl")
    assert len(trend) == len(history.points("mnrl")[1]) and trend[0] == pytest.approx(history.points("mnrl")[1][0])


def test_loss_trend_is_a_debiased_moving_average():
    history = LossHistory(smoothing=0.5)
    for step, v in enumerate([4.0, 2.0, 2.0], start=1):
        history.add(training.TrainEvent("loss", step, 0.0, {"loss": v}))
    assert history.trend("loss") == pytest.approx([4.0, (0.25 * 4 + 0.5 * 2) / 0.75, (0.125 * 4 + 0.25 * 2 + 0.5 * 2) / 0.875])


# ---------------------------------------------------------------- dense bi-encoder (seed 001)


@pytest.mark.parametrize("loss", ["mnrl", "online-contrastive"])
def test_dense_training_lowers_the_loss_and_loads_offline(split, tmp_path, loss, monkeypatch):
    from quoradesk.core.training.dense import DenseConfig, train_dense

    train, held = split
    if loss == "mnrl":  # duplicates only, in-batch negatives
        few = train.subset([i for i, y in enumerate(train.labels) if y][:32])
    else:  # every labelled pair, the hard non-duplicates first
        few = train.subset(list(range(64)))
    losses = []
    result = train_dense(
        models.minilm_path(), few, held.subset(list(range(60))), tmp_path / "dense",
        DenseConfig(epochs=6, batch_size=16, learning_rate=2e-4, logging_steps=1, loss=loss, eval_steps=1000),
        device="cpu", on_event=lambda e: e.kind == "loss" and losses.append(e.values["loss"]),
    )
    assert result.steps == len(losses) == 24
    assert np.mean(losses[-4:]) < 0.7 * np.mean(losses[:4]), losses
    assert "held_out_cosine_ap" in result.metrics and result.card["loss"] in (
        "MultipleNegativesRankingLoss", "OnlineContrastiveLoss")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    assert models.model_kind(result.path) == "dense"
    loaded = SentenceTransformer(str(result.path), device="cpu", local_files_only=True)
    assert loaded.encode(["How do I learn Python?"]).shape == (1, 384)


def test_dense_stop_request_ends_training_within_one_step(split, tmp_path):
    from quoradesk.core.training.dense import DenseConfig, train_dense

    train, _ = split
    stop = threading.Event()

    def on_event(e):
        if e.kind == "loss" and e.step >= 2:
            stop.set()

    result = train_dense(models.minilm_path(), train.subset(list(range(400))), None, tmp_path / "dense",
                         DenseConfig(batch_size=8, logging_steps=1), device="cpu", on_event=on_event, stop=stop)
    assert result.stopped and result.steps == 3  # as test_stop_request_ends_training_within_one_step


def test_dense_training_refuses_bad_settings_before_training(split, tmp_path):
    from quoradesk.core.training.dense import DenseConfig, train_dense

    train, _ = split
    with pytest.raises(TrainingError, match="Unknown dense loss"):
        train_dense(models.minilm_path(), train, None, tmp_path / "a", DenseConfig(loss="cosent"))
    positives = train.subset([i for i, y in enumerate(train.labels) if y][:20])
    with pytest.raises(TrainingError, match="non-duplicate"):
        train_dense(models.minilm_path(), positives, None, tmp_path / "b", DenseConfig(loss="online-contrastive"))
    with pytest.raises(TrainingError, match="Base model unusable"):
        train_dense(tmp_path / "nowhere", train, None, tmp_path / "c")
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
