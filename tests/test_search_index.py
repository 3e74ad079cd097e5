"""The inverted index returns exactly the brute-force top-k, on real SPLADE vectors."""

from __future__ import annotations

import numpy as np
import pytest
from owned_data import write_pairs
from scipy import sparse

from quoradesk.core.models.encode import encode_csr
from quoradesk.core.questions import load_questions
from quoradesk.core.search.index import (
    WIDE_CAPS,
    PrunedIndex,
    SparseIndex,
    brute_force_top_k,
    dense_tokens,
    exact_work,
    make_index,
    prepare,
    top_per_row,
)


@pytest.fixture(scope="module")
def real_matrix(encoder, tmp_path_factory):
    path = write_pairs(tmp_path_factory.mktemp("idx") / "slice.tsv", 250)
    texts = [q.text for q in load_questions(path).questions]
    return encode_csr(encoder, texts, batch_size=64)


def neighbour_lists(result, n):
    a, b, s, r = result
    lists: dict[int, dict[int, float]] = {i: {} for i in range(n)}
    for x, y, score in zip(a.tolist(), b.tolist(), s.tolist(), strict=True):
        lists[x][y] = score
        lists[y][x] = score
    return lists


def assert_same_top_k(got, want, matrix, top_k, tol=1e-3):
    """Same pairs; a difference is allowed only between neighbours tied at the k-th score."""
    dense = (matrix @ matrix.T).toarray()
    np.fill_diagonal(dense, -np.inf)
    got_pairs = set(zip(got[0].tolist(), got[1].tolist()))
    want_pairs = set(zip(want[0].tolist(), want[1].tolist()))
    for x, y in got_pairs ^ want_pairs:
        # (x, y) belongs when either has the other in its top-k: the lower k-th score decides
        kth = min(np.sort(dense[x])[-top_k], np.sort(dense[y])[-top_k])
        assert abs(dense[x, y] - kth) < tol, f"pair {(x, y)} differs and is not a tie"
    common = got_pairs & want_pairs
    g = dict(zip(zip(got[0].tolist(), got[1].tolist()), got[2].tolist()))
    w = dict(zip(zip(want[0].tolist(), want[1].tolist()), want[2].tolist()))
    assert max(abs(g[p] - w[p]) for p in common) < tol
    assert len(got_pairs ^ want_pairs) <= 0.01 * len(want_pairs)


@pytest.mark.parametrize("top_k", [1, 5, 20])
def test_index_equals_brute_force_on_real_vectors(real_matrix, top_k):
    got = SparseIndex(real_matrix).all_pairs(top_k)
    want = brute_force_top_k(real_matrix, top_k)
    assert_same_top_k(got, want, real_matrix, top_k)
    # every question (with any overlap) has its best neighbour in the result
    lists = neighbour_lists(got, real_matrix.shape[0])
    assert all(lists[i] for i in range(real_matrix.shape[0]))


def test_small_budget_chunks_give_the_same_pairs(real_matrix):
    index = SparseIndex(real_matrix)
    assert len(index.chunks(budget=5_000)) > 5
    small = index.all_pairs(10, budget=5_000)
    big = index.all_pairs(10)
    # Other chunk shapes round differently in BLAS (last float32 bit), nothing more.
    assert_same_top_k(small, big, real_matrix, 10, tol=1e-4)
    np.testing.assert_allclose(np.sort(small[2]), np.sort(big[2]), rtol=1e-5)


def test_min_score_floor_and_no_self_pairs(real_matrix):
    a, b, s, r = SparseIndex(real_matrix).all_pairs(10, min_score=5.0)
    assert len(a) and (s >= 5.0).all() and (a < b).all() and (r >= 1).all() and (r <= 10).all()


def test_questions_without_shared_tokens_get_no_pairs():
    m = sparse.csr_matrix(np.array([[1, 0, 0, 0], [0, 2, 0, 0], [0, 3, 0, 0], [0, 0, 0, 0]], np.float32))
    a, b, s, r = SparseIndex(m).all_pairs(5)
    assert list(zip(a.tolist(), b.tolist())) == [(1, 2)] and s.tolist() == [6.0]


def test_dense_and_sparse_token_split_is_exact(real_matrix):
    index = SparseIndex(real_matrix)
    active = len(np.unique(real_matrix.indices))
    assert 0 < len(index.dense_tokens) < active / 4  # frequent tokens go dense, the rest sparse
    got = index.all_pairs(10)
    assert_same_top_k(got, brute_force_top_k(real_matrix, 10), real_matrix, 10)


def test_random_matrices_match_brute_force():
    rng = np.random.default_rng(3)
    for trial in range(5):
        m = sparse.random(300, 500, density=0.03, format="csr", random_state=trial, dtype=np.float32)
        m.data = rng.random(m.nnz, dtype=np.float32) + 0.01
        got = SparseIndex(m).all_pairs(7)
        want = brute_force_top_k(m, 7)
        assert_same_top_k(got, want, m, 7)


def test_top_per_row_keeps_each_rows_largest_entries():
    m = sparse.random(60, 80, density=0.2, format="csr", random_state=4, dtype=np.float32)
    got = top_per_row(m, 4).toarray()
    dense = m.toarray()
    for i in range(60):
        want = np.sort(dense[i][dense[i] > 0])[::-1][:4]
        assert np.array_equal(np.sort(got[i][got[i] > 0])[::-1], want)
        assert set(np.flatnonzero(got[i])) <= set(np.flatnonzero(dense[i]))


def test_top_per_row_breaks_ties_by_lower_column():
    """Weights with many ties (a partition finds each row's k-th weight): the entries kept are
    those of a stable sort by weight, descending, so equal weights go to the lower column."""
    rng = np.random.default_rng(7)
    for trial in range(10):
        m = sparse.random(80, 120, density=0.3, format="csr", random_state=trial, dtype=np.float32)
        m.data = rng.integers(1, 4, m.nnz).astype(np.float32)
        for k in (1, 5, 30):
            got = top_per_row(m, k)
            for i in range(m.shape[0]):
                row = m[i]
                order = np.lexsort((row.indices, -row.data))[:k]  # weight descending, then column
                assert sorted(got[i].indices.tolist()) == sorted(row.indices[order].tolist()), (trial, k, i)
                assert np.array_equal(got[i].toarray(), m[i].multiply(got[i] != 0).toarray())


def test_pruned_index_is_exact_when_nothing_is_pruned(real_matrix):
    # Posting lists and query token lists shorter than the caps: the same pairs as brute force.
    m = prepare(real_matrix)
    got = PrunedIndex(m, postings=10_000, query_terms=10_000, candidates=10_000).all_pairs(10)
    assert_same_top_k(got, brute_force_top_k(m, 10), m, 10)


def test_pruned_index_with_biting_caps_finds_most_pairs_with_exact_scores(real_matrix):
    m = prepare(real_matrix)
    n = m.shape[0]
    index = PrunedIndex(m, postings=40, query_terms=8, candidates=20)
    assert np.diff(index.inverted.indptr).max() == 40  # the caps do bite on these 455 questions
    a, b, s, r = index.all_pairs(5)
    want = brute_force_top_k(m, 5)
    got = set(zip(a.tolist(), b.tolist()))
    best = set(zip(want[0][want[3] == 1].tolist(), want[1][want[3] == 1].tolist()))
    assert len(got & best) >= 0.85 * len(best)  # what mining most needs: each question's best match
    # Every score it reports is the exact cosine, whatever the caps.
    exact = np.asarray(m[a].multiply(m[b]).sum(axis=1)).ravel()
    assert np.allclose(s, exact, atol=1e-5)
    assert (a < b).all() and (r >= 1).all() and (r <= 5).all() and n > 400


def test_make_index_picks_exact_for_small_corpora(real_matrix):
    assert isinstance(make_index(real_matrix), SparseIndex)
    assert isinstance(make_index(real_matrix, "pruned"), PrunedIndex)
    with pytest.raises(ValueError):
        make_index(real_matrix, "fast")


def test_auto_search_goes_pruned_where_exact_work_passes_the_limit(real_matrix):
    m = prepare(real_matrix)
    work = exact_work(m)
    # The estimate counts what SparseIndex will do: the same dense/rare split of the tokens,
    # and the rare tokens' posting lengths squared (SparseIndex.row_cost summed).
    index = SparseIndex(m)
    assert np.array_equal(dense_tokens(np.bincount(m.indices, minlength=m.shape[1]), m.shape[0]), index.dense_tokens)
    assert work == index.row_cost.sum() + m.shape[0] ** 2 * len(index.dense_tokens) / 16
    assert exact_work(m[:200]) < work  # fewer questions, less work
    assert isinstance(make_index(m, max_exact_work=work), SparseIndex)
    pruned = make_index(m, max_exact_work=work - 1)
    assert isinstance(pruned, PrunedIndex)
    assert np.diff(pruned.inverted.indptr).max() <= WIDE_CAPS["postings"]  # a small file: the wide caps
    assert np.diff(pruned.queries.indptr).max() == WIDE_CAPS["query_terms"] and pruned.candidates == WIDE_CAPS["candidates"]
    # What mining most needs survives the wide caps: nearly every question's best match (or
    # one tied with it), with its exact score.
    a, b, s, _ = pruned.all_pairs(10)
    assert np.allclose(s, np.asarray(m[a].multiply(m[b]).sum(axis=1)).ravel(), atol=1e-5)
    sims = (m @ m.T).toarray()
    np.fill_diagonal(sims, 0.0)
    found = np.zeros(m.shape[0], np.float32)
    np.maximum.at(found, a, s)
    np.maximum.at(found, b, s)
    assert (found >= sims.max(axis=1) - 1e-5).mean() >= 0.98  # measured 0.995-0.998 (thread rounding moves ties)


@pytest.mark.parametrize("make", [SparseIndex, lambda m: PrunedIndex(m, postings=10_000, query_terms=10_000,
                                                                         candidates=10_000)])
def test_strong_neighbours_beyond_top_k_are_kept(real_matrix, make):
    # Top 2 of each question, plus every further neighbour from cosine 0.5 up to 10 a question:
    # checked against the full similarity matrix.
    m = prepare(real_matrix)
    top_k, keep_above, most = 2, 0.5, 10
    a, b, s, r = make(m).all_pairs(top_k, keep_above=keep_above, max_neighbours=most)
    dense = (m @ m.T).toarray()
    np.fill_diagonal(dense, -np.inf)
    order = np.argsort(-dense, axis=1, kind="stable")
    rank = np.empty_like(order)
    rank[np.arange(len(order))[:, None], order] = np.arange(1, dense.shape[1] + 1)
    kept = (rank <= top_k) | ((rank <= most) & (dense >= keep_above))
    kept &= dense > 0
    want = {(min(x, y), max(x, y)) for x, y in zip(*np.nonzero(kept), strict=True)}
    got = set(zip(a.tolist(), b.tolist(), strict=True))
    for x, y in got ^ want:  # only ties at a boundary (rank k or max_neighbours) may differ
        near = [np.sort(dense[i])[::-1][[top_k - 1, most - 1]] for i in (x, y)]
        assert any(abs(dense[x, y] - t) < 1e-4 for t in np.concatenate(near)), (x, y)
    assert len(got ^ want) <= 0.01 * len(want)
    beyond = r > top_k
    assert beyond.sum() >= 20 and (s[beyond] >= keep_above).all()  # the rule did add pairs
    assert len(got) > len(set(zip(*make(m).all_pairs(top_k)[:2], strict=True)))
