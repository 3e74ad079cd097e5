"""The project's stored SPLADE encodings: one CSR row per question and model (``Store``'s), and
the vocabulary its int8 encoder computes for each model (``models.project_vocabulary``)."""

from __future__ import annotations

import json

import numpy as np
from scipy import sparse

from .writes import ProjectError, _writes

VOCABULARY_META = "encoding_vocabulary:"  # + a model key: a meta row per model


class EncodingsMixin:
    """Store methods over the ``encodings`` table (``self.db``: the project's Database)."""

    def encoding_vocabulary(self, model_key: str) -> np.ndarray | None:
        """The vocabulary ids the int8 encoder computes for this model in this project (sorted
        int64; ``save_encoding_vocabulary``), or None: none kept (or unreadable)."""
        raw = self.meta(VOCABULARY_META + model_key)
        try:
            columns = np.asarray(json.loads(raw)["columns"], dtype=np.int64) if raw else None
        except (ValueError, KeyError, TypeError):
            return None
        return columns if columns is not None and columns.ndim == 1 and len(columns) else None

    def save_encoding_vocabulary(self, model_key: str, columns: np.ndarray, fitted_on: int) -> None:
        """Keep the project's vocabulary for this model (fitted on ``fitted_on`` questions): the
        runs, resumes and Ask after the first encode with it, so its vectors stay comparable."""
        self.set_meta(VOCABULARY_META + model_key,
                      json.dumps({"columns": [int(c) for c in columns], "fitted_on": int(fitted_on)}))

    def missing_encodings(self, model_key: str, ids: np.ndarray) -> np.ndarray:
        have = {
            r[0]
            for r in self.db.execute(
                "select question_id from encodings where model_key = ?", [model_key]
            )
        }
        return np.array([i for i in ids.tolist() if i not in have], dtype=np.int64)

    @_writes
    def save_encodings(self, model_key: str, ids: np.ndarray, matrix: sparse.csr_matrix) -> None:
        """Store one CSR row per question id, in one transaction."""
        matrix = matrix.tocsr()
        matrix.sort_indices()
        rows = []
        for i, qid in enumerate(ids.tolist()):
            lo, hi = matrix.indptr[i], matrix.indptr[i + 1]
            rows.append(
                {
                    "model_key": model_key, "question_id": int(qid),
                    "indices": matrix.indices[lo:hi].astype("<i4").tobytes(),
                    "vals": matrix.data[lo:hi].astype("<f4").tobytes(),
                }
            )
        self.db["encodings"].insert_all(rows, replace=True, batch_size=500)

    def load_encodings(
        self, model_key: str, ids: np.ndarray | list[int], dim: int | None = None
    ) -> sparse.csr_matrix:
        """A CSR matrix whose row i is the stored encoding of ids[i].

        ``dim`` defaults to the highest stored token index + 1 (enough for dot products).
        """
        indptr, indices, data = self.encoding_arrays(model_key, ids)
        if dim is None:
            dim = int(indices.max()) + 1 if len(indices) else 1
        return sparse.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, dim))

    def encoding_arrays(
        self, model_key: str, ids: np.ndarray | list[int], index_dtype: type = np.int32
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The stored encodings of ``ids`` as CSR arrays (indptr int64, token ids as
        ``index_dtype``, float32 weights), row i for ids[i]. Read into arrays sized first from
        the blobs' lengths: no row is held twice (a list of per-row arrays then concatenated
        took twice the vectors' size, about 1 GB more at 300,000 questions). A token id that
        ``index_dtype`` cannot hold reads all rows again as int32."""
        ids = np.asarray(ids, dtype=np.int64)
        position = {int(q): i for i, q in enumerate(ids.tolist())}
        if len(ids) <= 2000:  # a few rows (explanations): look them up by key
            chunks = [ids[i : i + 500].tolist() for i in range(0, len(ids), 500)]
            where = [(f"question_id in ({','.join('?' * len(c))})", c) for c in chunks]
        else:
            where = [("1", [])]
        lengths = np.full(len(ids), -1, dtype=np.int64)
        for cond, args in where:  # length() reads a blob's size without its content
            for qid, size in self.db.execute(f"select question_id, length(indices) from encodings "
                                             f"where model_key = ? and {cond}", [model_key, *args]):
                pos = position.get(qid)
                if pos is not None:
                    lengths[pos] = size // 4
        missing = ids[lengths < 0]
        if len(missing):
            raise ProjectError(f"{len(missing)} questions have no stored encoding (e.g. {missing[:3].tolist()})")
        indptr = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.empty(indptr[-1], dtype=index_dtype)
        data = np.empty(indptr[-1], dtype=np.float32)
        narrow = np.iinfo(index_dtype).max < np.iinfo(np.int32).max
        for cond, args in where:
            for qid, ind, val in self.db.execute(f"select question_id, indices, vals from encodings "
                                                 f"where model_key = ? and {cond}", [model_key, *args]):
                pos = position.get(qid)
                if pos is None:
                    continue
                row = np.frombuffer(ind, dtype="<i4")
                lo, hi = indptr[pos], indptr[pos + 1]
                if len(row) != hi - lo:
                    raise ProjectError(f"The encoding of question {qid} changed while it was read; try again")
                if narrow and len(row) and row.max() > np.iinfo(index_dtype).max:
                    return self.encoding_arrays(model_key, ids, np.int32)
                indices[lo:hi] = row
                data[lo:hi] = np.frombuffer(val, dtype="<f4")
        return indptr, indices, data
