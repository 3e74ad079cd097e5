"""Compact question vectors (search.rows) give exactly what the plain CSR matrix gives, block
by block, on real SPLADE vectors; the store reads them into one copy, narrow where it can."""

from __future__ import annotations

import numpy as np
import pytest
from owned_data import write_pairs
from scipy import sparse

from quoradesk.core.models.encode import encode_csr
from quoradesk.core.questions import load_questions
from quoradesk.core.search.index import (
    PrunedIndex,
    exact_work,
    make_index,
    prepare,
    prepare_rows,
    top_per_row,
)
from quoradesk.core.search.rows import CompactRows
from quoradesk.core.store import ProjectError, Store


@pytest.fixture(scope="module")
def raw(encoder, tmp_path_factory):
    path = write_pairs(tmp_path_factory.mktemp("rows") / "slice.tsv", 200)
    texts = [q.text for q in load_questions(path).questions]
    matrix = encode_csr(encoder, texts, batch_size=64)
    matrix.sort_indices()
    return matrix


def same(a: sparse.csr_matrix, b: sparse.csr_matrix) -> bool:
    a, b = a.tocsr(), b.tocsr()
    a.sort_indices()
    b.sort_indices()
    return (a.shape == b.shape and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
            and np.array_equal(a.data, b.data))


def test_rows_are_narrow_and_give_back_the_same_rows(raw):
    rows = CompactRows.from_csr(raw)
    assert rows.indices.dtype == np.int16 and rows.shape == raw.shape and rows.nnz == raw.nnz
    assert same(rows.to_csr(), raw) and same(rows.block(7, 30), raw[7:30])
    picks = np.array([5, 0, 5, raw.shape[0] - 1, 12])
    assert same(rows.take(picks), raw[picks])
    assert rows.take(np.zeros(0, np.int64)).shape == (0, raw.shape[1])
    assert CompactRows.from_csr(sparse.csr_matrix((3, 40_000), dtype=np.float32)).indices.dtype == np.int32


def test_block_by_block_equals_all_at_once(raw):
    """Blocks of 2,000 entries (about 6 questions): dozens of merges, the very same answer."""
    rows = CompactRows.from_csr(raw)
    rows.normalise(entries=2_000)
    unit = prepare(raw)
    assert same(rows.to_csr(), unit)
    assert np.array_equal(rows.posting_lengths(entries=2_000), np.bincount(raw.indices, minlength=raw.shape[1]))
    assert len(list(rows.blocks(2_000))) > 20
    for k in (1, 7, 60):
        assert same(rows.top_postings(k, entries=2_000), top_per_row(unit.T.tocsr(), k)), k
    # every posting list at once (Ask's index), block by block: scipy's transpose, array for array
    inverted, want = rows.token_major(entries=2_000), unit.T.tocsr()
    assert want.has_sorted_indices and inverted.indptr.dtype == inverted.indices.dtype == want.indices.dtype
    for name in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(inverted, name), getattr(want, name)), name
    idf = np.linspace(0.5, 3.0, raw.shape[1]).astype(np.float32)
    telling = unit.copy()
    telling.data = telling.data * idf[telling.indices]
    want = top_per_row(telling, 16)
    want.data /= idf[want.indices]
    assert same(rows.top_terms(16, idf, entries=2_000), want)


def test_the_pruned_index_on_rows_finds_what_it_finds_on_the_matrix(raw):
    unit = prepare(raw)
    rows = prepare_rows(CompactRows.from_csr(raw))
    assert exact_work(rows) == exact_work(unit)
    caps = {"postings": 30, "query_terms": 8, "candidates": 12}  # caps that bite on 400 questions
    got = PrunedIndex(rows, **caps).all_pairs(5, keep_above=0.75, max_neighbours=12)
    # The reference: the same caps applied to the plain matrix by hand.
    inverted = top_per_row(unit.T.tocsr(), 30)
    assert same(PrunedIndex(rows, **caps).inverted, inverted)
    a, b, s, _ = got
    assert np.allclose(s, np.asarray(unit[a].multiply(unit[b]).sum(axis=1)).ravel(), atol=1e-6)
    assert len(a) > raw.shape[0]
    assert type(make_index(rows)).__name__ == "SparseIndex"  # small: exact, from the same rows


def test_the_store_reads_encodings_into_one_narrow_copy(tmp_path, raw):
    store = Store(tmp_path / "p.sqlite")
    n = 2_500  # past the by-key lookup (2,000 ids): the whole-table read
    texts = tmp_path / "q.txt"
    texts.write_text("\n".join(f"question number {i}?" for i in range(n)) + "\n")
    store.add_import(load_questions(texts))
    ids = store.question_ids()
    vectors = sparse.vstack([raw] * (n // raw.shape[0] + 1), format="csr")[:n]
    store.save_encodings("m", ids, vectors)
    for some in (ids, ids[::-3][:50]):  # all, and a few in another order
        indptr, indices, data = store.encoding_arrays("m", some, np.int16)
        assert indices.dtype == np.int16 and data.dtype == np.float32
        order = np.searchsorted(ids, some)
        assert same(sparse.csr_matrix((data, indices.astype(np.int32), indptr), shape=(len(some), raw.shape[1])),
                    vectors[order])
        assert same(store.load_encodings("m", some, dim=raw.shape[1]), vectors[order])
    # A token id past int16 (a vocabulary over 32,768 entries): read again as int32.
    wide = sparse.csr_matrix(([1.0, 2.0], [3, 40_000], [0, 2, 2]), shape=(2, 40_001), dtype=np.float32)
    store.save_encodings("wide", ids[:2], wide)
    indptr, indices, data = store.encoding_arrays("wide", ids[:2], np.int16)
    assert indices.dtype == np.int32 and indices.tolist() == [3, 40_000] and indptr.tolist() == [0, 2, 2]
    with pytest.raises(ProjectError, match="1 questions have no stored encoding"):
        store.encoding_arrays("wide", ids[:3])
