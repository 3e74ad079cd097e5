"""Groups, explanations and exports on a real mined sample."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from quoradesk.core.mining import MiningJob, MiningParams
from quoradesk.core.questions import load_questions
from quoradesk.core.review.explain import Explanation, explain_match, explain_pair, is_content_token
from quoradesk.core.review.export import export_groups, export_pairs, export_unique, safe_cell
from quoradesk.core.review.groups import duplicate_groups
from quoradesk.core.store import Store

SAMPLE_ROWS = [
    "question",
    "How do I learn Python quickly?",
    "What is the fastest way to learn Python?",
    "How can I learn Python programming fast?",
    "Why is the sky blue?",
    "What makes the sky look blue?",
    "=HYPERLINK(\"http://example.invalid\",\"click\")",
    "How do I bake bread at home?",
]


@pytest.fixture(scope="module")
def mined(tmp_path_factory, splade_path):
    tmp = tmp_path_factory.mktemp("g")
    src = tmp / "q.csv"
    with open(src, "w", newline="") as fh:
        csv.writer(fh).writerows([[r] for r in SAMPLE_ROWS])
    store = Store(tmp / "p.sqlite")
    store.add_import(load_questions(src))
    job = MiningJob(store, sparse_model=splade_path, params=MiningParams(top_k=3), device="cpu")
    list(job.run())
    return store, job.run_record


def test_groups_are_connected_components_with_labels():
    a, b = np.array([1, 2, 5, 7]), np.array([2, 3, 6, 8])
    s = np.array([0.9, 0.8, 0.7, 0.1])
    assert duplicate_groups(a, b, s, 0.5) == [[1, 2, 3], [5, 6]]
    labels = {(2, 3): "rejected", (7, 8): "accepted"}
    assert duplicate_groups(a, b, s, 0.5, labels) == [[1, 2], [5, 6], [7, 8]]
    assert duplicate_groups(a, b, s, 0.95) == []


def test_python_paraphrases_form_one_group(mined):
    store, run = mined
    from quoradesk.core.review.export import run_groups

    groups = run_groups(store, run.id, threshold=0.7)  # cosine: duplicates 0.82-0.89, others <= 0.55
    python = {1, 2, 3}
    assert any(python <= set(g) for g in groups)
    assert [4, 5] in groups  # the two sky questions
    assert not any(python & set(g) and 7 in g for g in groups)  # bread stays apart


def test_explanation_names_the_shared_tokens(mined, encoder):
    store, run = mined
    m = store.load_encodings(run.sparse_model_key, [1, 2], dim=30522)
    tokens = explain_pair(encoder, m[0], m[1], top_k=5)
    names = [t for t, _ in tokens]
    assert "python" in names
    assert all(w > 0 for _, w in tokens)
    total = float((m[0].multiply(m[1])).sum())
    assert sum(w for _, w in tokens) <= total + 1e-3  # parts of the real dot product
    # every shared token and weight as sentence-transformers' own intersection gives them
    from quoradesk.core.models.encode import to_torch_sparse

    library = encoder.decode(encoder.intersection(to_torch_sparse(m[0]), to_torch_sparse(m[1])), top_k=None)
    ours = explain_pair(encoder, m[0], m[1], top_k=None)
    assert [t for t, _ in ours] == [t for t, _ in library]
    assert [w for _, w in ours] == pytest.approx([w for _, w in library], rel=1e-6)


def test_content_tokens_come_first_and_the_rest_is_kept_apart(mined, encoder):
    store, run = mined
    m = store.load_encodings(run.sparse_model_key, [4, 5], dim=30522)  # the two sky questions
    every = dict(explain_pair(encoder, m[0], m[1], top_k=None))
    why = explain_match(encoder, m[0], m[1], top_k=5, also_k=3)
    print(why.text())
    content = [t for t, _ in why.content]
    assert content[:2] and set(content[:2]) <= {"sky", "blue"}  # what the pair is about leads
    assert all(is_content_token(t) for t in content)
    assert "?" in [t for t, _ in why.also] and all(not is_content_token(t) for t, _ in why.also)
    assert all(every[t] == w for t, w in why.content + why.also)  # exact weights, not rescaled
    assert [w for _, w in why.content] == sorted((w for _, w in why.content), reverse=True)
    # the heaviest content tokens of all the shared ones, however heavy "?" and "why" are
    assert content == [t for t, _ in sorted(every.items(), key=lambda x: -x[1]) if is_content_token(t)][:5]


@pytest.mark.parametrize("token, content", [("python", True), ("?", False), ("why", False),
                                            ("everything", False), ("##s", False), ("##ing", True),
                                            ("2018", True), ("'", False), ("best", True)])
def test_function_words_and_punctuation_are_not_content(token, content):
    assert is_content_token(token) is content


def test_explanation_text():
    assert Explanation([("sky", 3.5)], [("?", 1.25)]).text() == "sky 3.50 (also ? 1.25)"
    assert Explanation([], [("why", 0.5)]).text() == "also why 0.50"
    assert Explanation().text() == "no shared tokens" and not Explanation()


def test_exports_round_trip_and_neutralise_formulas(mined, tmp_path):
    store, run = mined
    n = export_pairs(store, run.id, tmp_path / "pairs.csv")
    with open(tmp_path / "pairs.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n == store.count_pairs(run.id)
    # no reranker: pairs rank by the first stage's score (cosine in context), best first
    scores = [float(r["first_score"]) for r in rows]
    assert [float(r["score"]) for r in rows] == scores == sorted(scores, reverse=True)
    assert any(abs(s - float(r["sparse_score"])) > 0.01 for s, r in zip(scores, rows, strict=True))
    texts = {r["question_a"] for r in rows} | {r["question_b"] for r in rows}
    assert not any(t.startswith("=") for t in texts)
    assert "'" + SAMPLE_ROWS[6] in texts
    export_groups(store, run.id, tmp_path / "groups.csv", threshold=0.5)
    m = export_unique(store, run.id, tmp_path / "unique.csv", threshold=0.5)
    assert m < store.question_count()
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_safe_cell(value):
    assert safe_cell(value) == "'" + value
    assert safe_cell("What is 1+1?") == "What is 1+1?"


def test_index_reads_match_the_full_table(mined):
    # The Review tab's histogram and groups read the ranking index, not the whole pairs table.
    store, run = mined
    a, b, s = store.pair_scores(run.id)
    assert np.array_equal(np.sort(store.ranking_scores(run.id)), np.sort(s[~np.isnan(s)]))
    ia, ib, iscore = store.pairs_at_or_above(run.id, 0.6)
    keep = s >= 0.6
    assert 0 < keep.sum() < len(s)
    assert sorted(zip(ia.tolist(), ib.tolist(), iscore.tolist(), strict=True)) == sorted(
        zip(a[keep].tolist(), b[keep].tolist(), s[keep].tolist(), strict=True)
    )
