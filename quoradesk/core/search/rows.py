"""Question vectors held compactly, for searching corpora too large to copy.

A million questions of the accurate SPLADE hold about 350 million entries: 2.8 GB as a scipy
CSR matrix (float32 weights, int32 token ids), and every copy (the normalised rows, the
transposed posting lists, a bincount's int64 temporaries) costs as much again. Here the token
ids take int16 where the vocabulary fits (BERT's 30,522 entries do: 6 bytes an entry instead
of 8), and everything the pruned search needs from all rows is computed block by block: one
copy of the vectors, whatever the corpus. Gathered rows come back as ordinary float32 CSR
matrices with the very same values, so scores are exactly those of the plain matrix.

Usage::

    from quoradesk.core.search.rows import CompactRows

    rows = CompactRows.from_arrays(*store.encoding_arrays(key, ids, np.int16))
    rows.normalise()                                     # in place: prepare(..., "cosine")
    block = rows.block(0, 1000)                          # rows 0..999 as a scipy CSR matrix
    picked = rows.take(np.array([5, 3, 5]))              # any rows, any order, as CSR
    inverted = rows.top_postings(256)                    # token -> its 256 best questions
    postings = rows.token_major()                        # token -> every question using it
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

# Entries per block of the block-by-block passes: ~16M keeps each pass's temporaries (a
# transposed block, its sort) near 0.5 GB while a million questions take ~22 blocks.
BLOCK_ENTRIES = 16_000_000


def entry_blocks(indptr: np.ndarray, entries: int) -> Iterator[tuple[int, int]]:
    """Consecutive row ranges of a CSR ``indptr`` holding about ``entries`` stored entries each
    (at least one row)."""
    n, start = len(indptr) - 1, 0
    while start < n:
        stop = int(np.searchsorted(indptr, indptr[start] + entries, side="right")) - 1
        stop = min(n, max(start + 1, stop))
        yield start, stop
        start = stop


def unit_scale(csr: sparse.csr_matrix) -> np.ndarray:
    """Each row's factor to unit length (1 for an empty row), float32: what cosine search
    multiplies the rows by (``index.prepare``, ``CompactRows.normalise``)."""
    norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return (1.0 / norms).astype(np.float32)


def index_dtype(dim: int) -> type:
    """The narrowest signed integer that holds token ids below ``dim``."""
    return np.int16 if dim <= np.iinfo(np.int16).max + 1 else np.int32


@dataclass
class CompactRows:
    indptr: np.ndarray  # int64, n + 1: row i is entries indptr[i]..indptr[i + 1] - 1
    indices: np.ndarray  # token ids, sorted within each row: int16 where ``dim`` allows
    data: np.ndarray  # float32 weights
    dim: int

    @classmethod
    def from_arrays(cls, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                    dim: int | None = None) -> CompactRows:
        """Rows from CSR arrays (taken, not copied); ``dim`` defaults to the highest token id + 1."""
        if dim is None:
            dim = int(indices.max()) + 1 if len(indices) else 1
        return cls(indptr, indices, data, dim)

    @classmethod
    def from_csr(cls, matrix: sparse.spmatrix) -> CompactRows:
        csr = sparse.csr_matrix(matrix, dtype=np.float32, copy=True)  # normalise() works in place
        csr.sort_indices()
        return cls(csr.indptr.astype(np.int64), csr.indices.astype(index_dtype(csr.shape[1])),
                   csr.data, csr.shape[1])

    @property
    def n(self) -> int:
        return len(self.indptr) - 1

    @property
    def shape(self) -> tuple[int, int]:
        return self.n, self.dim

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def block(self, start: int, stop: int) -> sparse.csr_matrix:
        """Rows start..stop-1 as a float32 CSR matrix with int32 token ids (a copy)."""
        lo, hi = self.indptr[start], self.indptr[stop]
        return sparse.csr_matrix((self.data[lo:hi], self.indices[lo:hi].astype(np.int32),
                                  (self.indptr[start : stop + 1] - lo)), shape=(stop - start, self.dim))

    def blocks(self, entries: int = BLOCK_ENTRIES) -> Iterator[tuple[int, int]]:
        """Consecutive row ranges of about ``entries`` stored entries each (at least one row)."""
        return entry_blocks(self.indptr, entries)

    def take(self, positions: np.ndarray) -> sparse.csr_matrix:
        """The rows at ``positions`` (repeats allowed), in that order, as a float32 CSR matrix."""
        positions = np.asarray(positions, dtype=np.int64)
        starts, ends = self.indptr[positions], self.indptr[positions + 1]
        indptr = np.zeros(len(positions) + 1, dtype=np.int64)
        np.cumsum(ends - starts, out=indptr[1:])
        if not len(positions):
            return sparse.csr_matrix((0, self.dim), dtype=np.float32)
        # Row slices joined: each row's entries are contiguous, so this copies runs of memory
        # (as scipy's row indexing does) instead of gathering entry by entry through an index
        # array, which took 1.5-2x as long for 33,000 rows of 350 entries.
        bounds = list(zip(starts.tolist(), ends.tolist(), strict=True))
        data = np.concatenate([self.data[a:b] for a, b in bounds])
        indices = np.concatenate([self.indices[a:b] for a, b in bounds]).astype(np.int32)
        return sparse.csr_matrix((data, indices, indptr), shape=(len(positions), self.dim))

    def to_csr(self) -> sparse.csr_matrix:
        return self.block(0, self.n)

    def normalise(self, entries: int = BLOCK_ENTRIES) -> None:
        """Scale every row to unit length, in place, exactly as ``index.prepare`` does for cosine."""
        for start, stop in self.blocks(entries):
            lo, hi = self.indptr[start], self.indptr[stop]
            self.data[lo:hi] *= np.repeat(unit_scale(self.block(start, stop)), np.diff(self.indptr[start : stop + 1]))

    def posting_lengths(self, entries: int = BLOCK_ENTRIES) -> np.ndarray:
        """How many rows use each token, counted block by block (np.bincount would make an
        int64 copy of every token id at once)."""
        counts = np.zeros(self.dim, dtype=np.int64)
        for start, stop in self.blocks(entries):
            lo, hi = self.indptr[start], self.indptr[stop]
            counts += np.bincount(self.indices[lo:hi], minlength=self.dim)
        return counts

    def posting_indptr(self, entries: int = BLOCK_ENTRIES) -> np.ndarray:
        """The token-major matrix's indptr (``position_dtype``): where each token's posting list
        starts among ``token_major_parts``' entries."""
        indptr = np.zeros(self.dim + 1, dtype=self.position_dtype)
        np.cumsum(self.posting_lengths(entries), out=indptr[1:])
        return indptr

    def token_major_parts(self, entries: int = BLOCK_ENTRIES, spill: Path | None = None
                          ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The token-major matrix's weights and row numbers (``position_dtype``), in order, in
        consecutive pieces of about ``entries`` entries (whole posting lists each): a caller
        can write them one after the other (Ask's kept index) without holding them all.

        Each row block is transposed once (scipy), and a piece joins its tokens' slices of
        every block, a stable sort by token keeping each posting list's rows ascending. With
        ``spill`` (a folder) the transposed blocks wait in files there, read back slice by
        slice, instead of in memory: then only the rows and one piece are ever held."""
        tokens_dtype = index_dtype(self.dim)
        blocks, ends = [], np.zeros(self.dim + 1, dtype=np.int64)
        for number, (start, stop) in enumerate(self.blocks(entries)):
            part = self.block(start, stop).T.tocsr()  # token -> the block's rows, sorted
            indptr = part.indptr.astype(np.int64)
            ends += indptr
            weights, rows = part.data, (part.indices + start).astype(self.position_dtype)
            if spill is not None:
                weights.tofile(spill / f"{number}.weights")
                rows.tofile(spill / f"{number}.rows")
                weights, rows = spill / f"{number}.weights", spill / f"{number}.rows"
            blocks.append((indptr, weights, rows))
        for first, last in entry_blocks(ends, entries):  # tokens first..last-1
            weights, rows, tokens = [], [], []
            for indptr, block_weights, block_rows in blocks:
                lo, hi = int(indptr[first]), int(indptr[last])
                if hi > lo:
                    weights.append(_slice(block_weights, lo, hi, np.float32))
                    rows.append(_slice(block_rows, lo, hi, self.position_dtype))
                    tokens.append(np.repeat(np.arange(first, last, dtype=tokens_dtype),
                                            np.diff(indptr[first : last + 1])))
            if tokens:
                order = np.argsort(np.concatenate(tokens), kind="stable")
                yield np.concatenate(weights)[order], np.concatenate(rows)[order]

    def token_major(self, entries: int = BLOCK_ENTRIES) -> sparse.csr_matrix:
        """Every row turned token-major (token -> the rows using it, ascending, and their
        weights): ``to_csr().T.tocsr()``, the same arrays, from ``token_major_parts``."""
        indptr = self.posting_indptr(entries)
        parts = list(self.token_major_parts(entries))
        data = np.concatenate([w for w, _ in parts]) if parts else np.zeros(0, np.float32)
        indices = np.concatenate([r for _, r in parts]) if parts else np.zeros(0, self.position_dtype)
        return sparse.csr_matrix((data, indices, indptr), shape=(self.dim, self.n))

    @property
    def position_dtype(self) -> type:
        """The index dtype scipy gives a token-major matrix of these rows (int32 while the row
        numbers and the entries fit): another would be converted, copied, at every product."""
        fits = max(self.n, self.nnz, self.dim) <= np.iinfo(np.int32).max
        return np.int32 if fits else np.int64

    def top_postings(self, k: int, entries: int = BLOCK_ENTRIES) -> sparse.csr_matrix:
        """Each token's ``k`` highest-weighted rows (ties: lower row first), as a token-major
        CSR matrix: ``top_per_row(matrix.T, k)`` without transposing all rows at once. Each
        block's best are merged into the running best: the overall top k of a token is among
        the union of its per-block top k, with the same tie order."""
        best = sparse.csr_matrix((self.dim, self.n), dtype=np.float32)
        for start, stop in self.blocks(entries):
            part = self.block(start, stop).T.tocsr()  # token -> rows start.., numbered from 0
            part = top_per_row(part, k)
            part = sparse.csr_matrix((part.data, part.indices + start, part.indptr), shape=(self.dim, self.n))
            best = top_per_row(best + part, k)  # disjoint rows: the sum is the union
        return best

    def top_terms(self, k: int, weight: np.ndarray, entries: int = BLOCK_ENTRIES) -> sparse.csr_matrix:
        """Each row's ``k`` entries with the largest weight x ``weight[token]``, keeping the
        rows' own weights, as a CSR matrix (block by block)."""
        parts = []
        for start, stop in self.blocks(entries):
            block = self.block(start, stop)
            block.data = block.data * weight[block.indices]
            top = top_per_row(block, k)
            top.data /= weight[top.indices]
            parts.append(top)
        if not parts:
            return sparse.csr_matrix((0, self.dim), dtype=np.float32)
        return sparse.csr_matrix(sparse.vstack(parts, format="csr"))


def _slice(source: np.ndarray | Path, lo: int, hi: int, dtype: type) -> np.ndarray:
    """Entries lo..hi-1 of an array, or of a raw array file (read, not mapped: mapped pages
    would count as this process's memory until the system dropped them)."""
    if isinstance(source, Path):
        return np.fromfile(source, dtype=dtype, count=hi - lo, offset=lo * np.dtype(dtype).itemsize)
    return source[lo:hi]


def top_per_row(matrix: sparse.csr_matrix, k: int, block: int = 4_000_000) -> sparse.csr_matrix:
    """The ``k`` largest entries of each row (ties: lower column first), as a CSR matrix.

    Rows are processed in blocks of about ``block`` stored entries, so the sort's temporary
    arrays stay small whatever the matrix (78M entries at 500,000 questions)."""
    csr = sparse.csr_matrix(matrix)
    csr.sort_indices()
    if csr.nnz <= block:
        return _top_per_row(csr, k)
    parts = [_top_per_row(csr[start:stop], k) for start, stop in entry_blocks(csr.indptr, block)]
    return sparse.csr_matrix(sparse.vstack(parts, format="csr"))


def _top_per_row(csr: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    counts = np.diff(csr.indptr)
    long_rows = np.flatnonzero(counts > k)
    if not len(long_rows):
        return csr
    # Each long row's k-th largest weight, by a partition of that row alone instead of one
    # stable sort of every long row's entries (the previous way): on the 19,062 dev questions'
    # accurate-SPLADE vectors 1.86 -> 0.34 s for the posting lists (k 1,024), 1.13 -> 0.24 s for
    # the query terms (k 48), the very same entries kept; PrunedIndex built in 0.8 s, was 2.9.
    data, indptr = csr.data, csr.indptr
    threshold = np.full(csr.shape[0], -np.inf, dtype=data.dtype)  # short rows keep everything
    for r in long_rows.tolist():
        row = data[indptr[r]:indptr[r + 1]]
        threshold[r] = np.partition(row, len(row) - k)[len(row) - k]
    row_of = np.repeat(np.arange(csr.shape[0]), counts)
    cut = threshold[row_of]
    above = data > cut
    # Entries equal to the threshold fill what is left of k, lowest column first (the row's
    # order: indices are sorted).
    tied = data == cut
    tied_seen = np.cumsum(tied)
    tied_rank = tied_seen - np.concatenate([[0], tied_seen])[indptr[:-1]][row_of]
    room = k - np.bincount(row_of[above], minlength=csr.shape[0])
    keep = np.flatnonzero(above | (tied & (tied_rank <= room[row_of])))
    indptr = np.concatenate([[0], np.cumsum(np.minimum(counts, k))])
    return sparse.csr_matrix((data[keep], csr.indices[keep], indptr), shape=csr.shape)
