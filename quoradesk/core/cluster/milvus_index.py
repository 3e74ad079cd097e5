"""Candidate search in Milvus: the project's SPLADE vectors in a collection with a sparse
inner-product index, searched in batches of questions.

Usage::

    from quoradesk.core.cluster.milvus_index import MilvusIndex, connect_milvus

    client = connect_milvus("vectors.db")       # Milvus Lite; or "http://host:19530"
    index = MilvusIndex(client, "quoradesk_p_...", matrix, question_ids)
    for stop, (rows, cols, scores, ranks) in index.iter_neighbours(index.chunks(), top_k=10):
        ...                                     # what SparseIndex.iter_neighbours yields

The collection holds one row per question (its id, a fingerprint of its vector, the vector).
Opening it writes only the questions it lacks or holds with another vector, so a resumed or
grown run reuses what an earlier one stored; a search sees only the run's own questions
(``id <= `` the run's last). Scores are Milvus's exact inner products (``drop_ratio_search``
0), the cosine or dot product of the vectors as given, so the pairs and their scores are
those of the in-process exact index (``SparseIndex``), to float rounding.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator

import numpy as np
from scipy import sparse

from ..cluster import ClusterError, check_milvus, milvus_endpoint
from ..search.index import strong_neighbours

# Questions per search request: 256 take about 2.5 s among 20,000 questions (Milvus Lite 2.5,
# 9.8 ms a question on the 2-core Xeon, bench/cluster.py), so a cancel lands within seconds.
SEARCH_BATCH = 256
WRITE_BATCH = 2000
LITE_ATTEMPTS = 3
SEARCH_PARAMS = {"metric_type": "IP", "params": {"drop_ratio_search": 0.0}}  # 0: exact


def connect_milvus(uri: str):
    """A MilvusClient for ``uri``, or ClusterError (nothing is written to the project). A
    server's token, if it asks for one, is read from the MILVUS_TOKEN environment variable."""
    uri = check_milvus(uri)
    import pymilvus

    endpoint = milvus_endpoint(uri)
    # Milvus Lite starts its server process and gives it half a second: on a busy machine
    # (Ray's workers starting) the first connection failed once in five test runs.
    for attempt in range(1 if endpoint else LITE_ATTEMPTS):
        try:
            return pymilvus.MilvusClient(uri=uri, token=os.environ.get("MILVUS_TOKEN", ""), timeout=30)
        except Exception as exc:  # pymilvus raises MilvusException and grpc/OS errors
            error = exc
            time.sleep(attempt + 1)
    raise ClusterError(f"Milvus at {uri} refused the connection: {error}") from error


def fingerprints(matrix: sparse.csr_matrix) -> np.ndarray:
    """A 64-bit hash of each row (its tokens and weights): tells a stored vector from a stale one."""
    out = np.empty(matrix.shape[0], np.int64)
    for i in range(matrix.shape[0]):
        lo, hi = matrix.indptr[i], matrix.indptr[i + 1]
        h = hashlib.blake2b(matrix.indices[lo:hi].tobytes(), digest_size=8)
        h.update(matrix.data[lo:hi].tobytes())
        out[i] = int.from_bytes(h.digest(), "little", signed=True)
    return out


class MilvusIndex:
    """The search half of mining over a Milvus collection; same interface as SparseIndex."""

    def __init__(self, client, name: str, matrix: sparse.spmatrix, ids: np.ndarray):
        self.client = client
        self.name = name
        self.matrix = sparse.csr_matrix(matrix, dtype=np.float32)
        self.matrix.sort_indices()
        self.ids = np.asarray(ids, dtype=np.int64)  # ascending, as Store.question_ids gives them
        self.n = self.matrix.shape[0]
        self.max_id = int(self.ids[-1]) if self.n else 0
        self.written = 0  # rows this index wrote (the rest were already stored)
        try:
            self._sync()
        except ClusterError:
            raise
        except Exception as exc:
            raise ClusterError(f"Milvus could not store the vectors in {name}: {exc}") from exc

    def _sync(self) -> None:
        from pymilvus import DataType, MilvusClient

        if not self.client.has_collection(self.name):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("fp", DataType.INT64)
            schema.add_field("vec", DataType.SPARSE_FLOAT_VECTOR)
            index = self.client.prepare_index_params()
            index.add_index(field_name="vec", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
            self.client.create_collection(self.name, schema=schema, index_params=index,
                                          consistency_level="Strong")
        self.client.load_collection(self.name)
        stored = {}
        # The iterator logs a warning on every Milvus Lite that it falls back to client-side
        # timestamps; with Strong consistency that is what is wanted.
        logging.getLogger("pymilvus").setLevel(logging.ERROR)
        iterator = self.client.query_iterator(self.name, batch_size=16384, filter=f"id <= {self.max_id}",
                                              output_fields=["id", "fp"])
        try:
            while batch := iterator.next():
                stored.update((row["id"], row["fp"]) for row in batch)
        finally:
            iterator.close()
        prints = fingerprints(self.matrix)
        nonempty = np.diff(self.matrix.indptr) > 0  # Milvus takes no empty vector; nor would it match
        todo = [i for i in np.flatnonzero(nonempty).tolist() if stored.get(int(self.ids[i])) != prints[i]]
        for lo in range(0, len(todo), WRITE_BATCH):
            rows = [{"id": int(self.ids[i]), "fp": int(prints[i]), "vec": self.matrix[i]}
                    for i in todo[lo : lo + WRITE_BATCH]]
            self.client.upsert(self.name, rows)
        self.written = len(todo)

    def chunks(self, batch: int = SEARCH_BATCH) -> list[tuple[int, int]]:
        return [(lo, min(lo + batch, self.n)) for lo in range(0, self.n, batch)]

    def neighbours(
        self, start: int, stop: int, top_k: int, min_score: float = 0.0, *,
        keep_above: float | None = None, max_neighbours: int = 0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """As SparseIndex.neighbours: (row, neighbour, score, rank), positions in ``ids``."""
        strong = keep_above is not None and max_neighbours > top_k
        limit = min((max_neighbours if strong else top_k) + 1, max(self.n, 1))  # +1: the question itself
        queries = [i for i in range(start, stop) if self.matrix.indptr[i + 1] > self.matrix.indptr[i]]
        rows, cols, vals = [], [], []
        if queries:
            try:
                hits = self.client.search(self.name, data=[self.matrix[i] for i in queries], anns_field="vec",
                                          limit=limit, filter=f"id <= {self.max_id}",
                                          search_params=SEARCH_PARAMS, output_fields=[])
            except Exception as exc:
                raise ClusterError(f"Milvus search in {self.name} failed: {exc}") from exc
            for row, found in zip(queries, hits, strict=True):
                rows.append(np.full(len(found), row, np.int64))
                cols.append(np.fromiter((h["id"] for h in found), np.int64, len(found)))
                vals.append(np.fromiter((h["distance"] for h in found), np.float32, len(found)))
        if not rows:
            empty = np.zeros(0, np.int64)
            return empty, empty, np.zeros(0, np.float32), empty
        r, ids, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        c = np.searchsorted(self.ids, ids).clip(max=max(self.n - 1, 0))
        known = (self.ids[c] == ids) & (c != r)  # a question of this run, not the query itself
        r, c, v = r[known], c[known], v[known]
        # Milvus returns each query's hits best first; rank them after dropping the query.
        order = np.lexsort((c, -v, r))
        r, c, v = r[order], c[order], v[order]
        rank = np.arange(len(r)) - np.searchsorted(r, r, side="left") + 1
        keep = (v > 0) & (v >= min_score) & (rank <= (max_neighbours if strong else top_k))
        found = r[keep], c[keep], v[keep], rank[keep]
        return strong_neighbours(found, top_k, keep_above) if strong else found

    def iter_neighbours(
        self, chunks: list[tuple[int, int]], top_k: int, min_score: float = 0.0, *,
        keep_above: float | None = None, max_neighbours: int = 0,
    ) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]:
        """``(stop, neighbours(start, stop, ...))`` for each chunk, in order: Milvus does the
        work, on its own threads or servers, so one request at a time keeps it busy."""
        for start, stop in chunks:
            yield stop, self.neighbours(start, stop, top_k, min_score, keep_above=keep_above,
                                        max_neighbours=max_neighbours)
