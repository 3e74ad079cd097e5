"""Exact top-k neighbour search over sparse (SPLADE) vectors through an inverted index.

Usage::

    from quoradesk.core.search.index import SparseIndex

    index = SparseIndex(matrix)                  # scipy CSR, one row per question
    a, b, score, rank = index.all_pairs(top_k=10, min_score=0.5)
    # each (a, b) once with a < b; rank: b's place in a's list or a's in b's (best, 1-based)

The inverted index is the transposed matrix in CSR form: row t lists the questions that
activate token t, with their weights. Multiplying a chunk of question rows by it visits, for
each active token of each question, only that token's posting list: scores are accumulated
for questions that share at least one token and never for the others. The chunks are sized
by that cost (the sum of posting-list lengths) so memory stays bounded whatever the corpus.
The result is exact: the same pairs as a brute-force dot product (``brute_force_top_k``).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import sparse

from .rows import CompactRows, top_per_row, unit_scale  # noqa: F401 - top_per_row re-exported

# Upper bound on the score entries one chunk may hold: both the sparse product's partial
# scores and the dense (rows x N) block the top-k is selected from. 16M floats: ~200 MB peak.
DEFAULT_BUDGET = 16_000_000
MAX_CHUNK_ROWS = 8192


SIMILARITIES = ("cosine", "dot")


def prepare(matrix: sparse.spmatrix, similarity: str = "cosine") -> sparse.csr_matrix:
    """Rows ready for dot-product search: L2-normalised for cosine, as they are for dot.

    Cosine is the default for mining: a raw SPLADE dot product grows with the number of
    active tokens, so long questions outrank short true duplicates (measured on the held-out
    Quora split: mining AP 0.56 cosine vs 0.45 dot with the same vectors).
    """
    _check_similarity(similarity)
    matrix = sparse.csr_matrix(matrix, dtype=np.float32)
    if similarity == "dot":
        return matrix
    return sparse.csr_matrix(sparse.diags(unit_scale(matrix)) @ matrix)


def prepare_rows(rows: CompactRows, similarity: str = "cosine") -> CompactRows:
    """``prepare`` for compact rows, in place (no second copy of the vectors); the same values."""
    _check_similarity(similarity)
    if similarity == "cosine":
        rows.normalise()
    return rows


def _check_similarity(similarity: str) -> None:
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, not {similarity!r}")


# Tokens active in more than this share of the questions ("how", "why", "?") are scored
# with a dense matrix product: their posting lists are so long that an inverted index buys
# nothing there, while BLAS does that part at full speed. Capped in memory (N x tokens).
# Measured on the 19,062 dev questions (2 cores): share 0.02 -> 3.4 s, 0.04 -> 2.0 s,
# 0.08 -> 2.2 s, no dense tokens -> 4.5 s.
DENSE_DF_SHARE = 0.04
DENSE_BYTES = 128 * 1024 * 1024


def dense_tokens(postings: np.ndarray, n: int) -> np.ndarray:
    """The tokens SparseIndex scores with a dense product, from each token's posting-list
    length: those in more than DENSE_DF_SHARE of the ``n`` questions, most frequent first up to
    DENSE_BYTES of dense block, returned sorted."""
    postings = np.asarray(postings, dtype=np.int64)
    max_dense = DENSE_BYTES // (4 * max(1, n))
    frequent = np.flatnonzero(postings > max(1, DENSE_DF_SHARE * n))
    return np.sort(frequent[np.argsort(-postings[frequent], kind="stable")][:max_dense])


def posting_lengths(csr: sparse.csr_matrix) -> np.ndarray:
    """How many rows of ``csr`` use each column (each token's posting-list length), by counting:
    no column-major copy of every vector."""
    return np.bincount(csr.indices, minlength=csr.shape[1]).astype(np.int64)


def exact_work(matrix: sparse.spmatrix | CompactRows) -> float:
    """What an exact search of ``matrix`` (SparseIndex) costs, in inverted-index operations:
    the rarer tokens' posting lengths squared (each pair sharing a token is scored), plus the
    frequent tokens' dense product (N x N x their count) at 1/16 of that per operation (BLAS).
    Computed from the posting lengths alone, before any index is built."""
    n = matrix.shape[0]
    postings = (matrix.posting_lengths() if isinstance(matrix, CompactRows)
                else posting_lengths(sparse.csr_matrix(matrix)))
    dense = dense_tokens(postings, n)
    rare = postings.copy()
    rare[dense] = 0
    return float((rare * rare).sum()) + float(n) * n * len(dense) / 16


def row_costs(rows: sparse.csr_matrix, inverted: sparse.csr_matrix) -> np.ndarray:
    """Cost of scoring each row through ``inverted`` (token -> questions): the summed lengths
    of the posting lists of the row's tokens."""
    postings = np.diff(inverted.indptr).astype(np.int64)
    active = sparse.csr_matrix((np.ones(rows.nnz, np.int64), rows.indices, rows.indptr), shape=rows.shape)
    return np.asarray(active @ postings, dtype=np.int64).ravel()


def cost_chunks(row_cost: np.ndarray, budget: int, max_rows: int) -> list[tuple[int, int]]:
    """Consecutive row ranges whose summed ``row_cost`` stays under ``budget`` (a row alone
    may exceed it) and that hold at most ``max_rows`` rows (1 to MAX_CHUNK_ROWS)."""
    max_rows = max(1, min(MAX_CHUNK_ROWS, max_rows))
    out, start, acc = [], 0, 0
    for i, cost in enumerate(row_cost.tolist()):
        if i > start and (acc + cost > budget or i - start >= max_rows):
            out.append((start, i))
            start, acc = i, 0
        acc += cost
    if start < len(row_cost):
        out.append((start, len(row_cost)))
    return out


class SparseIndex:
    def __init__(self, matrix: sparse.spmatrix | CompactRows):
        if isinstance(matrix, CompactRows):
            matrix = matrix.to_csr()
        self.matrix = sparse.csr_matrix(matrix, dtype=np.float32)
        self.matrix.sort_indices()
        self.n = self.matrix.shape[0]
        # Split the vocabulary: frequent tokens go dense, the rest through the inverted index.
        self.dense_tokens = dense_tokens(posting_lengths(self.matrix), self.n)
        self.dense = np.ascontiguousarray(self.matrix[:, self.dense_tokens].toarray())
        keep = np.ones(self.matrix.shape[1], dtype=np.float32)
        keep[self.dense_tokens] = 0.0
        self.rest = sparse.csr_matrix(self.matrix @ sparse.diags(keep))
        self.rest.eliminate_zeros()
        self.inverted = self.rest.T.tocsr()  # token -> (question, weight) posting list
        self.row_cost = row_costs(self.rest, self.inverted)

    def chunks(self, budget: int = DEFAULT_BUDGET) -> list[tuple[int, int]]:
        """Row ranges whose summed cost and dense block stay under ``budget`` entries."""
        return cost_chunks(self.row_cost, budget, budget // max(1, self.n))

    def neighbours(
        self, start: int, stop: int, top_k: int, min_score: float = 0.0, *,
        keep_above: float | None = None, max_neighbours: int = 0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Top-k neighbours of rows start..stop-1 (self excluded, score > 0 and >= min_score).

        With ``keep_above``, also every further neighbour scoring at least that, up to
        ``max_neighbours`` a row (see ``strong_neighbours``). Returns (row, neighbour, score,
        rank) with rank 1 for the best neighbour. The answer is deterministic; which of
        several neighbours tied at the last kept score is kept is not specified.
        """
        if keep_above is not None and max_neighbours > top_k:
            return strong_neighbours(self._top_k(start, stop, max_neighbours, min_score), top_k, keep_above)
        return self._top_k(start, stop, top_k, min_score)

    def _top_k(
        self, start: int, stop: int, top_k: int, min_score: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The exact top k of rows start..stop-1, as ``neighbours`` returns them."""
        import torch

        count = stop - start
        # Frequent tokens: one dense product. Rare tokens: inverted-index scoring, where only
        # products of shared tokens are ever computed. Their sum is the exact dot product.
        scores = (self.rest[start:stop] @ self.inverted).toarray()
        if len(self.dense_tokens):
            with torch.inference_mode():
                dense = torch.from_numpy(self.dense)
                torch.from_numpy(scores).addmm_(dense[start:stop], dense.T)  # in place
        scores[np.arange(count), np.arange(start, stop)] = 0.0  # no self-pairs
        k = min(top_k, self.n - 1)
        if k <= 0:
            empty = np.zeros(0, np.int64)
            return empty, empty, np.zeros(0, np.float32), empty
        with torch.inference_mode():
            top_vals, top_idx = torch.topk(torch.from_numpy(scores), k, dim=1, sorted=True)
        vals = top_vals.numpy().ravel()
        cols = top_idx.numpy().ravel().astype(np.int64)
        rows = np.repeat(np.arange(start, stop, dtype=np.int64), k)
        rank = np.tile(np.arange(1, k + 1, dtype=np.int64), count)
        keep = (vals > 0) & (vals >= min_score)
        return rows[keep], cols[keep], vals[keep], rank[keep]

    def iter_neighbours(
        self, chunks: list[tuple[int, int]], top_k: int, min_score: float = 0.0, *,
        keep_above: float | None = None, max_neighbours: int = 0, workers: int | None = None,
    ) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]:
        """``(stop, neighbours(start, stop, ...))`` for each chunk, in order, searched on
        ``workers`` threads (default: as many as torch uses). The sparse products and sorts
        release the GIL: 100,000 questions took 15.9 s on one thread, 8.9 s on two, with the
        same result. A few chunks run ahead; when the caller stops early, those not started
        are dropped."""
        import torch

        workers = workers or max(1, torch.get_num_threads())

        def search(chunk):
            start, stop = chunk
            return stop, self.neighbours(start, stop, top_k, min_score, keep_above=keep_above,
                                         max_neighbours=max_neighbours)

        chunks = iter(chunks)
        with ThreadPoolExecutor(workers, thread_name_prefix="search") as pool:
            pending = deque(pool.submit(search, c) for c in itertools.islice(chunks, 2 * workers))
            try:
                while pending:
                    result = pending.popleft().result()
                    for c in itertools.islice(chunks, 1):
                        pending.append(pool.submit(search, c))
                    yield result
            finally:
                for future in pending:
                    future.cancel()

    def all_pairs(
        self,
        top_k: int,
        min_score: float = 0.0,
        *,
        keep_above: float | None = None,
        max_neighbours: int = 0,
        budget: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every question's top-k neighbours (and, with ``keep_above``, its strong ones up to
        ``max_neighbours``) as unique pairs (a < b), best rank kept. ``budget``: chunk size as
        ``chunks`` takes it (None: the index's own default, the chunks mining uses)."""
        parts = []
        chunks = self.chunks() if budget is None else self.chunks(budget)
        for stop, part in self.iter_neighbours(chunks, top_k, min_score, keep_above=keep_above,
                                               max_neighbours=max_neighbours):
            if should_stop is not None and should_stop():
                raise InterruptedError("search stopped")
            parts.append(part)
            if progress is not None:
                progress(stop, self.n)
        if not parts:
            empty = np.zeros(0, np.int64)
            return empty, empty, np.zeros(0, np.float32), empty
        rows, cols, vals, ranks = (np.concatenate(x) for x in zip(*parts, strict=True))
        return canonical_pairs(rows, cols, vals, ranks, self.n)


def strong_neighbours(
    found: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], top_k: int, keep_above: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Of ranked neighbour lists (row, neighbour, score, rank), keep each row's top k and every
    further neighbour scoring at least ``keep_above``.

    Why: a fixed k misses duplicates of questions asked many ways. On the 19,062 Quora dev
    questions 7% of the labelled duplicates are not in either question's top 10, and those
    mostly score high (median cosine 0.77): a popular question has more than ten close
    variants. Top 10 plus neighbours from 0.75 up to 30 finds 96.3% of them with 16% more
    pairs; a plain top 15 finds 95.1% with 51% more (bench/mine.py).
    """
    rows, cols, vals, ranks = found
    keep = (ranks <= top_k) | (vals >= keep_above)
    return rows[keep], cols[keep], vals[keep], ranks[keep]


def canonical_pairs(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, ranks: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fold directed neighbour lists into unique pairs a < b keeping the best rank."""
    a = np.minimum(rows, cols)
    b = np.maximum(rows, cols)
    key = a * n + b
    order = np.lexsort((ranks, key))
    key, a, b, vals, ranks = key[order], a[order], b[order], vals[order], ranks[order]
    _, first = np.unique(key, return_index=True)
    return a[first], b[first], vals[first], ranks[first]


def brute_force_top_k(
    matrix: sparse.spmatrix, top_k: int, min_score: float = 0.0, chunk_rows: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The reference: chunked sparse-by-dense dot products with ``torch.topk``.

    Scores every question against every other (no index), so it costs O(N * nnz). Used by the
    tests and ``bench/mine.py`` to prove the index exact and to measure its speed-up.
    """
    import torch

    csr = sparse.csr_matrix(matrix, dtype=np.float32)
    n = csr.shape[0]
    coo = csr.tocoo()
    full = torch.sparse_coo_tensor(
        np.vstack([coo.row, coo.col]).astype(np.int64), coo.data, size=csr.shape,
        check_invariants=False,  # built from a valid CSR matrix
    ).coalesce()
    k = min(top_k + 1, n)
    rows_out, cols_out, vals_out, ranks_out = [], [], [], []
    with torch.inference_mode():
        for start in range(0, n, chunk_rows):
            stop = min(n, start + chunk_rows)
            dense_chunk = torch.from_numpy(csr[start:stop].toarray())  # (c, V)
            scores = torch.sparse.mm(full, dense_chunk.T).T.contiguous()  # (c, N)
            idx = torch.arange(start, stop)
            scores[idx - start, idx] = float("-inf")  # no self-pairs
            top_vals, top_idx = torch.topk(scores, k, dim=1)
            r = np.repeat(np.arange(start, stop), k)
            c = top_idx.numpy().ravel()
            v = top_vals.numpy().ravel()
            rank = np.tile(np.arange(1, k + 1), stop - start)
            keep = (v > 0) & (v >= min_score) & (rank <= top_k)
            rows_out.append(r[keep])
            cols_out.append(c[keep])
            vals_out.append(v[keep])
            ranks_out.append(rank[keep])
    return canonical_pairs(
        np.concatenate(rows_out).astype(np.int64), np.concatenate(cols_out).astype(np.int64),
        np.concatenate(vals_out), np.concatenate(ranks_out).astype(np.int64), n,
    )


# ---------------------------------------------------------------- approximate, for large corpora


# Candidate pairs rescored at a time (PrunedIndex._top_k): each search thread gathers at most
# this many rows of each side (about 1.4M entries, 15 MB) whatever its chunk holds.
RESCORE_PAIRS = 4096


class PrunedIndex:
    """Approximate top-k search whose cost grows linearly with the corpus, for large N.

    The exact index scores every pair of questions that share a token. Frequent tokens
    ("how", "best") are shared by a fixed share of the corpus, so that work grows with N^2.
    Here, as in Seismic (Bruch et al., SIGIR 2024), candidates come from truncated lists:
      * each token's posting list keeps its ``postings`` highest-weighted questions;
      * each question looks up only its ``query_terms`` most telling tokens (weight x idf).
    So one question costs at most query_terms x postings operations, whatever N is. The best
    ``candidates`` of each question by that partial score are then rescored exactly (the full
    sparse dot product), and the top k of those are returned with exact scores.

    Usage::

        index = PrunedIndex(matrix)                  # same interface as SparseIndex
        a, b, score, rank = index.all_pairs(top_k=10)

    Cost and agreement with the exact index, 10,000 to 500,000 questions: bench/scale.py.
    """

    def __init__(self, matrix: sparse.spmatrix | CompactRows, *, postings: int = 256, query_terms: int = 16,
                 candidates: int = 32):
        # Held compactly and built block by block (search.rows): at a million questions one
        # float32 CSR copy of the vectors is 2.8 GB; this keeps one 2.1 GB copy and no other.
        self.rows = matrix if isinstance(matrix, CompactRows) else CompactRows.from_csr(matrix)
        self.n, self.dim = self.rows.shape
        self.candidates = candidates
        self.inverted = self.rows.top_postings(postings)  # token -> best questions
        # A question looks up its most telling tokens: weight x idf. By weight alone, the
        # expansion tokens many questions share ("question", "best") crowd out the rare ones
        # that find duplicates (exact best pair found 0.80 -> 0.92 of the time on 2,388 dev
        # questions with scaled-down caps).
        df = self.rows.posting_lengths()
        idf = np.log((self.n + 1) / (df + 1)).astype(np.float32) + 1e-3
        self.queries = self.rows.top_terms(query_terms, idf)
        self.row_cost = row_costs(self.queries, self.inverted)

    def chunks(self, budget: int = 4_000_000) -> list[tuple[int, int]]:
        # About 1,000 rows at the default caps; larger chunks ran slower (cache), smaller ones
        # pay per-call overhead (100,000 questions: 89 chunks 16.2 s, 23 chunks 19.3 s).
        return cost_chunks(self.row_cost, budget, MAX_CHUNK_ROWS)

    def _top_k(
        self, start: int, stop: int, top_k: int, min_score: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Approximate top-k of rows start..stop-1, with exact scores; see SparseIndex."""
        import torch

        count = stop - start
        # Partial scores through the truncated lists. (torch's sparse product was faster here but
        # leaked 25 MB a call in torch 2.13: 2.2 GB over a 100,000-question search.)
        partial = self.queries[start:stop] @ self.inverted
        indptr, cols, data = partial.indptr, partial.indices, partial.data
        # Shortlist: each row's best `candidates` by partial score, laid into a (rows x longest
        # row) block so torch.topk selects them all at once. One more is kept so that the
        # question itself, usually its own best match, can be dropped afterwards.
        lengths = np.diff(indptr)
        width = int(lengths.max()) if len(cols) else 0
        if width == 0:
            empty = np.zeros(0, np.int64)
            return empty, empty, np.zeros(0, np.float32), empty
        block = np.full(count * width, -1.0, np.float32)
        block[np.arange(len(cols)) + np.repeat(np.arange(count) * width - indptr[:-1], lengths)] = data
        keep = min(width, max(top_k, self.candidates) + 1)
        with torch.inference_mode():
            vals, slots = torch.topk(torch.from_numpy(block).view(count, width), keep, dim=1, sorted=False)
        good = (vals > 0).numpy().ravel()
        cand_row = np.repeat(np.arange(count), keep)[good]
        cand_col = cols[indptr[cand_row] + slots.numpy().ravel()[good]].astype(np.int64)
        other = cand_col != cand_row + start
        cand_row, cand_col = cand_row[other], cand_col[other]
        # Exact rescoring: each candidate's vector times its question's, element by element
        # (sorted sparse rows: a merge), summed. Half the time of gathering from a dense block.
        # In slices of RESCORE_PAIRS pairs: a chunk's 33,000 candidate pairs gathered at once held
        # about 350 MB of rows per search thread, whatever the corpus.
        exact = np.empty(len(cand_row), dtype=np.float32)
        block = self.rows.block(start, stop)
        for lo in range(0, len(cand_row), RESCORE_PAIRS):
            part = slice(lo, lo + RESCORE_PAIRS)
            exact[part] = np.asarray(block[cand_row[part]].multiply(self.rows.take(cand_col[part])).sum(axis=1)).ravel()
        # The top k of each row by exact score, ranked.
        order = np.lexsort((cand_col, -exact, cand_row))
        r, c, v = cand_row[order], cand_col[order], exact[order]
        rank = np.arange(len(r)) - np.searchsorted(r, r, side="left") + 1
        sel = (rank <= top_k) & (v > 0) & (v >= min_score)
        return r[sel] + start, c[sel], v[sel], rank[sel]

    neighbours = SparseIndex.neighbours  # the same top k / strong neighbours on its own _top_k
    iter_neighbours = SparseIndex.iter_neighbours
    all_pairs = SparseIndex.all_pairs


SEARCH_METHODS = ("auto", "exact", "pruned")
# "auto" searches exactly while that is cheap (exact_work up to EXACT_WORK) and with PrunedIndex
# past it. Exact search proves its result, but its cost grows with N^2 and with how dense the
# vectors are. Measured on the 19,062 dev questions (2-core EPYC, strong neighbours as mining
# keeps them): the BERT-tiny SPLADE's vectors (157 entries a question) cost 1.4e10, 6.0 s
# exact; the accurate SPLADE's (337 entries) 4.1e10, 18.4-19.5 s exact against 5.9 s pruned
# with WIDE_CAPS, for about the same mining AP (0.3583 exact / 0.3581 pruned), recall at 5x
# the labelled pairs (0.9002 / 0.9002) and recall (0.9552 / 0.9544): bench/search_caps.py.
# bench/mine.py times it within the pipeline.
EXACT_WORK = 2e10
# Pruned search keeps wide caps up to this many questions (at 19,062 the default caps lost
# recall on the accurate SPLADE's vectors: 0.943); past it the default caps keep its cost
# linear in N (bench/scale.py).
WIDE_UP_TO = 50_000
# 32 candidates a question (was 48) rescore a third fewer pairs for the very same recall and
# R@5x (6.9-7.6 s -> 5.9 s); 32 query terms lose recall (0.9526), 40 a little (0.9540).
WIDE_CAPS = {"postings": 1024, "query_terms": 48, "candidates": 32}


def make_index(matrix: sparse.spmatrix | CompactRows, method: str = "auto", *, max_exact_work: float | None = None,
               work: float | None = None) -> SparseIndex | PrunedIndex:
    """The index mining uses: ``exact`` (SparseIndex), ``pruned`` (PrunedIndex) or ``auto``
    (exact while ``exact_work(matrix)`` is at most ``max_exact_work``, default EXACT_WORK,
    pruned past it). ``work``: ``exact_work(matrix)`` where the caller has it already."""
    if method not in SEARCH_METHODS:
        raise ValueError(f"search must be one of {SEARCH_METHODS}, not {method!r}")
    limit = EXACT_WORK if max_exact_work is None else max_exact_work
    if method == "auto" and work is None:
        work = exact_work(matrix)
    if method == "exact" or (method == "auto" and work <= limit):
        return SparseIndex(matrix)
    return PrunedIndex(matrix, **(WIDE_CAPS if matrix.shape[0] <= WIDE_UP_TO else {}))
