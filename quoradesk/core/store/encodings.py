"""The project's stored SPLADE encodings: one CSR row per question and model (``Store``'s)."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .writes import ProjectError, _writes


class EncodingsMixin:
    """Store methods over the ``encodings`` table (``self.db``: the project's Database)."""

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
        ids = np.asarray(ids, dtype=np.int64)
        position = {int(q): i for i, q in enumerate(ids.tolist())}
        parts_idx: list[np.ndarray | None] = [None] * len(ids)
        parts_val: list[np.ndarray | None] = [None] * len(ids)
        if len(ids) <= 2000:  # a few rows (explanations): look them up by key
            queries = [
                (f"select question_id, indices, vals from encodings where model_key = ? and "
                 f"question_id in ({','.join('?' * len(chunk))})", [model_key, *chunk])
                for chunk in (ids[i : i + 500].tolist() for i in range(0, len(ids), 500))
            ]
        else:
            queries = [("select question_id, indices, vals from encodings where model_key = ?", [model_key])]
        for sql, args in queries:
            for qid, ind, val in self.db.execute(sql, args):
                pos = position.get(qid)
                if pos is not None:
                    parts_idx[pos] = np.frombuffer(ind, dtype="<i4")
                    parts_val[pos] = np.frombuffer(val, dtype="<f4")
        missing = [int(ids[i]) for i, p in enumerate(parts_idx) if p is None]
        if missing:
            raise ProjectError(f"{len(missing)} questions have no stored encoding (e.g. {missing[:3]})")
        indptr = np.zeros(len(ids) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(p) for p in parts_idx])
        indices = np.concatenate(parts_idx) if len(ids) else np.zeros(0, np.int32)
        data = np.concatenate(parts_val) if len(ids) else np.zeros(0, np.float32)
        if dim is None:
            dim = int(indices.max()) + 1 if len(indices) else 1
        return sparse.csr_matrix((data, indices, indptr), shape=(len(ids), dim))
