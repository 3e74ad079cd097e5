"""The CrossEncoder's extra negatives: swapped comparisons and the pipeline's hard negatives,
and the shipped reranker's behaviour on swapped questions it must not call duplicates."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from owned_data import write_pairs

from quoradesk.core import models, training
from quoradesk.core.training import TrainingError
from quoradesk.core.training.data import LabelledPairs
from quoradesk.core.training.negatives import (
    duplicate_groups,
    hard_negatives,
    restate_sides,
    swap_sides,
    swapped_comparisons,
)

# Written for this project: a question, a true paraphrase of it, and the same question with the
# two sides of its comparison or direction swapped (every token shared with the original).
SWAPPED_TRIPLES = [
    ("Is Python better than Java?", "Is Python a better language than Java?", "Is Java better than Python?"),
    ("How do I convert PDF to Word?", "How can I turn a PDF file into a Word document?",
     "How do I convert Word to PDF?"),
    ("Is a Mac better than a Windows PC for programming?", "For programming, is a Mac better than a Windows PC?",
     "Is a Windows PC better than a Mac for programming?"),
    ("How do I transfer photos from my iPhone to my laptop?", "How can I copy pictures from an iPhone to a laptop?",
     "How do I transfer photos from my laptop to my iPhone?"),
    ("Is Bitcoin riskier than gold as an investment?", "As an investment, is Bitcoin riskier than gold?",
     "Is gold riskier than Bitcoin as an investment?"),
    ("What is the cheapest way to fly from London to New York?",
     "How can I find cheap flights from London to New York?",
     "What is the cheapest way to fly from New York to London?"),
]


@pytest.mark.parametrize(("question", "swapped"), [
    ("Is Python better than Java?", "Is Java better than Python?"),
    ("Is Canada better than the USA?", "Is the USA better than Canada?"),
    ("Why is Python slower than C++ for loops?", "Why is C++ slower than Python for loops?"),
    ("Are stocks less risky than bonds in the long run?", "Are bonds less risky than stocks in the long run?"),
    ("How can I convert rupees to dollars?", "How can I convert dollars to rupees?"),
    ("How do I convert blog subscribers into customers?", "How do I convert customers into blog subscribers?"),
    ("How to downgrade from Android 6.0 to 5.1 in sony?", "How to downgrade from 5.1 to Android 6.0 in sony?"),
    ("What is it like to move from the UK to the USA?", "What is it like to move from the USA to the UK?"),
    # symmetric, generic or not a comparison: nothing to swap
    ("What is the difference between Python and Java?", None),
    ("Python vs Java: which one should I learn?", None),
    ("How do I transfer money from one account to another account?", None),
    ("Translate hindi to english and english to hindi?", None),
    ("Is it better to rent than to buy?", None),
    ("Is there any wizard stronger than Zeref in Fairy Tail?", None),
    ("I applied from Turkey. I want to go to the USA to study?", None),
    ("How do I learn to cook?", None),
])
def test_swap_sides_swaps_comparisons_and_directions_only(question, swapped):
    assert swap_sides(question) == swapped


@pytest.mark.parametrize(("question", "restated"), [
    ("Is Python better than Java?", "Is Java worse than Python?"),
    ("Why is Python much slower than C++ for loops?", "Why is C++ much faster than Python for loops?"),
    ("Are stocks less risky than bonds in the long run?", "Are bonds more risky than stocks in the long run?"),
    ("Is Bitcoin riskier than gold as an investment?", "Is gold safer than Bitcoin as an investment?"),
    ("How do I convert PDF to Word?", "How do I convert to Word from PDF?"),
    ("How do I switch from Android to iOS?", "How do I switch to iOS from Android?"),
    ("What is it like to move from the UK to the USA?", "What is it like to move to the USA from the UK?"),
    ("Is Delhi healthier than Mumbai?", None),  # no opposite of "healthier" known
    ("What is the difference between Python and Java?", None),  # nothing to swap
])
def test_restate_sides_swaps_the_sides_and_keeps_the_meaning(question, restated):
    assert restate_sides(question) == restated


def test_swapped_comparisons_pair_swaps_as_negatives_and_restatements_as_positives():
    pairs = LabelledPairs(
        ["Is Python better than Java?", "How do I learn to cook?", "How can I convert rupees to dollars?",
         "Is C++ faster than Rust?"],
        ["Is Python a better language than Java?", "What is the capital of France?", "How do I learn Python?",
         "Which is faster, C++ or Rust?"],
        [1, 0, 0, 1], "written",
    )
    negatives = {
        ("Is Python better than Java?", "Is Java better than Python?"),
        ("Is Python a better language than Java?", "Is Java better than Python?"),  # the paraphrase's side
        ("How can I convert rupees to dollars?", "How can I convert dollars to rupees?"),
        ("Is C++ faster than Rust?", "Is Rust faster than C++?"),
        # "Which is faster, C++ or Rust?" asks the swap too: no negative with it
    }
    restated = {
        ("Is Python better than Java?", "Is Python worse than Java?"): 0,  # the swap restated
        ("Is Python better than Java?", "Is Java worse than Python?"): 1,
        ("Is Java better than Python?", "Is Python worse than Java?"): 1,
        ("Is Python a better language than Java?", "Is Python worse than Java?"): 0,
        ("Is Python a better language than Java?", "Is Java worse than Python?"): 1,
        ("How can I convert rupees to dollars?", "How can I convert to dollars from rupees?"): 1,
        ("How can I convert rupees to dollars?", "How can I convert to rupees from dollars?"): 0,
        ("How can I convert dollars to rupees?", "How can I convert to rupees from dollars?"): 1,
        ("Is C++ faster than Rust?", "Is C++ slower than Rust?"): 0,
        ("Is C++ faster than Rust?", "Is Rust slower than C++?"): 1,
        ("Is Rust faster than C++?", "Is C++ slower than Rust?"): 1,
        ("Which is faster, C++ or Rust?", "Is Rust slower than C++?"): 1,
    }

    def as_dict(swaps):
        return {frozenset((a, b)): y for a, b, y in zip(swaps.q1, swaps.q2, swaps.labels, strict=True)}

    swaps = swapped_comparisons(pairs)
    assert as_dict(swaps) == {frozenset(k): 0 for k in negatives}
    assert len(pairs.plus(swaps)) == len(pairs) + len(negatives)
    want = {frozenset(k): 0 for k in negatives} | {frozenset(k): y for k, y in restated.items()}
    assert as_dict(swapped_comparisons(pairs, restated=True)) == want


def test_duplicate_groups_close_the_labels_under_transitivity():
    pairs = LabelledPairs(["a", "b", "d"], ["b", "c", "e"], [1, 1, 0])
    groups = duplicate_groups(pairs)
    assert groups["a"] == groups["b"] == groups["c"] and len({groups["a"], groups["d"], groups["e"]}) == 3


@pytest.fixture(scope="module")
def owned_split(tmp_path_factory):
    pairs = training.read_pair_file(write_pairs(tmp_path_factory.mktemp("pairs") / "pairs.tsv", 600))
    return training.split_held_out(pairs, 0.15, seed=12)


def test_hard_negatives_are_close_neighbours_that_no_label_makes_duplicates(owned_split, encoder):
    train, _ = owned_split
    groups = duplicate_groups(train)
    labelled = {frozenset(p) for p in zip(train.q1, train.q2, strict=True)}
    unfiltered = hard_negatives(train, encoder, None, top_k=2)
    teacher = models.load_cross_encoder(models.teacher_reranker_path(), "cpu")
    filtered = hard_negatives(train, encoder, teacher, top_k=2, max_teacher_score=0.5)
    assert len(unfiltered) > len(train) / 2 and 0 < len(filtered) < len(unfiltered)
    for mined in (unfiltered, filtered):
        assert set(mined.labels) == {0}
        for a, b in zip(mined.q1, mined.q2, strict=True):
            assert a in groups and b in groups  # training questions only
            assert groups[a] != groups[b] and frozenset((a, b)) not in labelled
    kept = list(zip(filtered.q1, filtered.q2, strict=True))
    assert set(kept) <= set(zip(unfiltered.q1, unfiltered.q2, strict=True))
    assert max(teacher.predict(kept)) < 0.5  # the teacher's likely duplicates are dropped
    # neighbours: the mined pairs share more words than random pairs of training questions
    def overlap(a, b):
        x, y = set(a.lower().split()), set(b.lower().split())
        return len(x & y) / len(x | y)
    rng = np.random.default_rng(0)
    texts = sorted(groups)
    random_pairs = [(texts[i], texts[j]) for i, j in rng.integers(0, len(texts), (200, 2))]
    assert np.mean([overlap(a, b) for a, b in kept]) > 2 * np.mean([overlap(a, b) for a, b in random_pairs])


def test_cross_training_with_swapped_and_hard_negatives_lowers_the_loss(owned_split, tmp_path, splade_path):
    train, held = owned_split
    few = train.subset(list(range(96)))
    losses = []
    config = training.CrossConfig(epochs=3, batch_size=16, learning_rate=5e-5, logging_steps=1,
                                  swapped=True, hard_negatives=1)
    with pytest.raises(TrainingError, match="needs a SPLADE model to mine with"):
        training.train_cross(models.minilm_path(), few, None, tmp_path / "a", config, device="cpu")
    assert not (tmp_path / "a").exists()
    result = training.train_cross(
        models.minilm_path(), few, held.subset(list(range(40))), tmp_path / "ce", config, device="cpu",
        miner=splade_path, teacher=models.teacher_reranker_path(),
        on_event=lambda e: e.kind == "loss" and losses.append(e.values["loss"]),
    )
    card = result.card
    assert card["labelled_pairs"] == 96 and card["hard_negatives"] > 0
    swaps = (card["swapped_negatives"] + card["swapped_positives"]) * config.swapped_repeats
    assert card["train_examples"] == 2 * (96 + swaps + card["hard_negatives"])
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    assert models.load_cross_encoder(result.path, "cpu").predict([("How?", "Why?")]).shape == (1,)


def test_written_swaps_are_what_the_rules_make():
    """The project-written triples (kept for measuring a reranker on swaps: bench and README)
    are each the rules' own swap, so training on swapped Quora questions is training on them."""
    for question, paraphrase, swapped in SWAPPED_TRIPLES:
        assert swap_sides(question) == swapped
        assert swap_sides(swapped) == question  # swapping back
        assert paraphrase != swapped


def test_cli_trains_a_cross_encoder_with_the_shipped_recipe_by_default(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.tsv", 150)
    out = subprocess.run(
        [sys.executable, "-m", "quoradesk", "train", "cross", "--data", str(pairs), "--out", str(tmp_path / "ce"),
         "--max-steps", "2", "--batch-size", "8", "--device", "cpu", "--miner", "fast"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "teacher scored" in out.stdout and "candidate negatives" in out.stdout
    card = json.loads((tmp_path / "ce" / "quoradesk_training.json").read_text())
    assert card["config"]["swapped"] is True and card["config"]["hard_negatives"] == 3
    assert card["hard_negatives"] > 0 and card["miner"] == str(models.sparse_model_path("fast"))
