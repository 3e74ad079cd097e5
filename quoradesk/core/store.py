"""One SQLite file per project: questions, imports, runs, encodings, pairs and labels.

Usage::

    from quoradesk.core.store import Store

    store = Store("project.sqlite")             # creates it, or opens and checks it
    info = store.add_import(import_result)      # questions + rejected rows, one transaction
    run = store.create_run(params)              # mining writes through the run
    for pair in store.top_pairs(run.id, limit=20):
        print(pair.text_a, pair.text_b, pair.score)
    store.set_label(a, b, "accepted")

Every write that belongs together happens in one transaction (``Database.atomic``), the
journal is WAL, and the schema version is recorded, so a killed process leaves the last
committed state and a file that is not ours is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlite_utils
from scipy import sparse

from .questions import ImportResult

APP_ID = "quoradesk"
SCHEMA_VERSION = 1
LABELS = ("accepted", "rejected", "unsure")
SQLITE_MAGIC = b"SQLite format 3\x00"


class ProjectError(Exception):
    """The project file cannot be used; the message says why, for the user."""


@dataclass
class ImportInfo:
    import_id: int
    new_questions: int
    merged: int
    rejected: int
    already_imported: bool = False


@dataclass
class Run:
    id: int
    status: str  # running | cancelled | failed | done
    stage: str  # encode | search | rerank | done
    sparse_model: str
    sparse_model_key: str
    reranker: str | None
    reranker_key: str | None
    params: dict
    max_question_id: int
    question_count: int
    timings: dict
    device: str
    note: str
    error: str | None
    created: float
    finished: float | None

    @property
    def reranked(self) -> bool:
        return self.reranker is not None


@dataclass
class Pair:
    a: int
    b: int
    text_a: str
    text_b: str
    sparse_score: float
    rerank_score: float | None
    rank: int
    label: str | None
    score: float | None  # the run's ranking score (see Store.rerank_weight); None: not reranked


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_failure(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc).lower()
    if "full" in text:
        why = "the disk is full"
    elif "disk i/o" in text:  # how SQLite reports a refused write (EFBIG, EIO)
        why = "the disk refused the write (disk I/O error: out of space, file too large or a failing device)"
    elif "readonly" in text or "read-only" in text:
        why = "the file or its folder is read-only"
    elif "locked" in text or "busy" in text:
        why = "another QuoraDesk kept the project busy for more than 10 seconds"
    else:
        why = str(exc)
    return (f"Could not save to {path}: {why}. Everything saved before this step is intact; "
            f"fix that and try again.")


def _writes(method):
    """Run a Store method as one immediate write transaction (see Store._transaction) and turn
    SQLite's write failures (disk full, read-only, busy) into a ProjectError that says what
    happened; the transaction is rolled back, so the file keeps its last good state."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            with self._transaction():
                return method(self, *args, **kwargs)
        except sqlite3.OperationalError as exc:
            raise ProjectError(_write_failure(self.path, exc)) from exc

    return wrapper


class Store:
    """A QuoraDesk project file. Raises ProjectError for anything that is not ours."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        self._check_file(create)
        existed = self.path.exists()
        try:
            conn = sqlite3.connect(str(self.path), timeout=10)
            conn.execute("PRAGMA schema_version").fetchone()  # opens (or creates) the file now
        except sqlite3.OperationalError as exc:
            what = "open" if existed else "create"
            raise ProjectError(f"Cannot {what} the project file {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # an SQLite header over garbage: "file is not a database"
            raise ProjectError(f"{self.path} is not a usable QuoraDesk project: {exc}") from exc
        try:
            self.db = sqlite_utils.Database(conn)
            self.db.execute("PRAGMA busy_timeout = 10000")
            # Up to 128 MB of page cache, used only as needed: storing a run's pairs updates two
            # secondary indexes in random order, which spilled SQLite's default 2 MB (877,052
            # pairs: 8.1 s, 4.7 s with this).
            self.db.execute("PRAGMA cache_size = -131072")
            self._check_or_create_schema()
        except sqlite3.DatabaseError as exc:
            raise ProjectError(f"{self.path} is not a usable QuoraDesk project: {exc}") from exc

    # ------------------------------------------------------------ opening and checking

    def _check_file(self, create: bool) -> None:
        p = self.path
        if p.is_dir():
            raise ProjectError(f"{p} is a folder; a project is a single .sqlite file")
        if p.exists() and p.stat().st_size > 0:
            try:
                with open(p, "rb") as fh:
                    magic = fh.read(16)
            except OSError as exc:
                raise ProjectError(f"Cannot read project {p}: {exc.strerror}") from exc
            if magic != SQLITE_MAGIC:
                raise ProjectError(f"{p} is not a QuoraDesk project (not an SQLite file)")
            if not os.access(p, os.W_OK):
                raise ProjectError(f"Project {p} is read-only; copy it somewhere writable")
            return
        if not create:
            raise ProjectError(f"No such project: {p}")
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.exists():
            raise ProjectError(f"Cannot create {p}: folder {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise ProjectError(f"Cannot create {p}: folder {parent} is not writable")

    def _check_or_create_schema(self) -> None:
        tables = set(self.db.table_names())
        if not tables:
            self._create_schema()
            return
        if "meta" not in tables:
            raise ProjectError(
                f"{self.path} is an SQLite file but not a QuoraDesk project; it was not changed"
            )
        meta = {r["key"]: r["value"] for r in self.db["meta"].rows}
        if meta.get("app") != APP_ID:
            raise ProjectError(f"{self.path} is not a QuoraDesk project; it was not changed")
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise ProjectError(
                f"{self.path} was written by a newer QuoraDesk (schema {version}, this "
                f"version reads up to {SCHEMA_VERSION}); it was not changed"
            )
        self.db.enable_wal()

    def _create_schema(self) -> None:
        db = self.db
        db.enable_wal()
        with db.atomic():
            db["meta"].create({"key": str, "value": str}, pk="key")
            db["meta"].insert_all(
                [
                    {"key": "app", "value": APP_ID},
                    {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                    {"key": "created", "value": str(time.time())},
                ]
            )
            db["imports"].create(
                {
                    "id": int, "path": str, "sha256": str, "format": str, "encoding": str,
                    "delimiter": str, "column_name": str, "rows": int, "entries": int,
                    "new_questions": int, "merged": int, "rejected": int, "created": float,
                },
                pk="id",
            )
            db["questions"].create(
                {"id": int, "text": str, "sources": str, "import_id": int},
                pk="id", not_null={"text"}, foreign_keys=[("import_id", "imports", "id")],
            )
            db["questions"].create_index(["text"], unique=True)
            db["rejected_rows"].create(
                {"import_id": int, "line": int, "reason": str, "raw": str, "entries": int},
                foreign_keys=[("import_id", "imports", "id")],
            )
            db["rejected_rows"].create_index(["import_id"])
            db["runs"].create(
                {
                    "id": int, "status": str, "stage": str, "sparse_model": str,
                    "sparse_model_key": str, "reranker": str, "reranker_key": str,
                    "params": str, "max_question_id": int, "question_count": int,
                    "timings": str, "device": str, "note": str, "error": str,
                    "created": float, "finished": float,
                },
                pk="id",
            )
            db["encodings"].create(
                {"model_key": str, "question_id": int, "indices": bytes, "vals": bytes},
                pk=("model_key", "question_id"),
            )
            db["pairs"].create(
                {
                    "run_id": int, "a": int, "b": int, "sparse_score": float,
                    "rerank_score": float, "rank": int, "score": float,
                },
                pk=("run_id", "a", "b"), foreign_keys=[("run_id", "runs", "id")],
            )
            # The Review table pages through this index in its own order: no sort, no scan.
            db.execute(
                "create index pairs_ranking on pairs (run_id, score desc, sparse_score desc, a, b)"
            )
            db["pairs"].create_index(["run_id", "b"])
            db["labels"].create(
                {"a": int, "b": int, "label": str, "updated": float}, pk=("a", "b")
            )
            # Every label change, so undo works across restarts.
            db["label_history"].create(
                {"id": int, "a": int, "b": int, "old": str, "new": str, "time": float}, pk="id"
            )

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _transaction(self):
        """A write transaction that takes the write lock up front (BEGIN IMMEDIATE). With a
        second process writing (a mining CLI beside the app), a deferred transaction that reads
        and then writes fails at once with "database is locked" when the other commits in
        between; an immediate one waits its turn (busy_timeout) instead."""
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic():  # nested: a savepoint
                yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextlib.contextmanager
    def mining_lock(self):
        """Held while a run mines this project; a second miner gets a ProjectError at once."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path) + ".lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise ProjectError(
                f"{self.path.name} is in use: another QuoraDesk window or command is mining it. "
                f"Wait for it to finish (or cancel it there), then start again."
            ) from None
        except OSError as exc:
            raise ProjectError(f"Cannot lock {self.path} for mining: {exc.strerror or exc}") from exc
        try:
            yield
        finally:
            lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ imports and questions

    @_writes
    def add_import(self, result: ImportResult, sha256: str | None = None) -> ImportInfo:
        """Add an import's questions (merging texts already here) and its rejected rows.

        Importing the same file (same content hash) twice adds nothing the second time.
        """
        if sha256 is None and Path(result.path).exists():
            sha256 = file_sha256(result.path)
        if sha256:
            row = next(self.db["imports"].rows_where("sha256 = ?", [sha256], limit=1), None)
            if row is not None:
                return ImportInfo(row["id"], 0, row["merged"], row["rejected"], True)
        det = result.detected
        import_id = self.db["imports"].insert(
            {
                "path": result.path, "sha256": sha256, "format": det.format,
                "encoding": det.encoding, "delimiter": det.delimiter,
                "column_name": str(det.column), "rows": result.rows_total,
                "entries": result.entries, "new_questions": 0,
                "merged": result.merged, "rejected": len(result.rejected),
                "created": time.time(),
            }
        ).last_pk
        existing = self._ids_for_texts(q.text for q in result.questions)
        new_rows, merged_here = [], 0
        for q in result.questions:
            qid = existing.get(q.text)
            if qid is None:
                new_rows.append(
                    {"text": q.text, "sources": json.dumps(q.sources), "import_id": import_id}
                )
            else:
                merged_here += 1
                old = json.loads(self.db["questions"].get(qid)["sources"])
                self.db["questions"].update(qid, {"sources": json.dumps(old + q.sources)})
        self.db["questions"].insert_all(new_rows, batch_size=1000)
        self.db["rejected_rows"].insert_all(
            (
                {"import_id": import_id, "line": r.line, "reason": r.reason,
                 "raw": r.raw, "entries": r.entries}
                for r in result.rejected
            ),
            batch_size=1000,
        )
        self.db["imports"].update(
            import_id, {"new_questions": len(new_rows), "merged": result.merged + merged_here}
        )
        return ImportInfo(import_id, len(new_rows), result.merged + merged_here, len(result.rejected))

    def _ids_for_texts(self, texts: Iterable[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        batch: list[str] = []

        def flush() -> None:
            if batch:
                marks = ",".join("?" * len(batch))
                for r in self.db.query(f"select id, text from questions where text in ({marks})", batch):
                    out[r["text"]] = r["id"]
                batch.clear()

        for t in texts:
            batch.append(t)
            if len(batch) >= 500:
                flush()
        flush()
        return out

    def imports(self) -> list[dict]:
        return list(self.db["imports"].rows_where(order_by="id"))

    def rejected_rows(self, import_id: int) -> list[dict]:
        return list(self.db["rejected_rows"].rows_where("import_id = ?", [import_id], order_by="rowid"))

    def question_count(self, max_id: int | None = None) -> int:
        if max_id is None:
            return self.db["questions"].count
        return self.db.execute("select count(*) from questions where id <= ?", [max_id]).fetchone()[0]

    def max_question_id(self) -> int:
        return self.db.execute("select coalesce(max(id), 0) from questions").fetchone()[0]

    def question_ids(self, max_id: int | None = None) -> np.ndarray:
        sql, args = "select id from questions", []
        if max_id is not None:
            sql, args = sql + " where id <= ?", [max_id]
        return np.array([r[0] for r in self.db.execute(sql + " order by id", args)], dtype=np.int64)

    def texts(self, ids: Iterable[int]) -> list[str]:
        ids = [int(i) for i in ids]
        found: dict[int, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for r in self.db.execute(f"select id, text from questions where id in ({marks})", chunk):
                found[r[0]] = r[1]
        return [found[i] for i in ids]

    def question(self, qid: int) -> dict:
        row = self.db["questions"].get(qid)
        return {**row, "sources": json.loads(row["sources"])}

    # ------------------------------------------------------------ runs

    @_writes
    def create_run(
        self, *, sparse_model: str, sparse_model_key: str, reranker: str | None,
        reranker_key: str | None, params: dict, device: str, note: str = "",
    ) -> Run:
        max_id = self.max_question_id()
        run_id = self.db["runs"].insert(
            {
                "status": "running", "stage": "encode", "sparse_model": sparse_model,
                "sparse_model_key": sparse_model_key, "reranker": reranker,
                "reranker_key": reranker_key, "params": json.dumps(params, sort_keys=True),
                "max_question_id": max_id, "question_count": self.question_count(max_id),
                "timings": "{}", "device": device, "note": note, "error": None,
                "created": time.time(), "finished": None,
            }
        ).last_pk
        return self.get_run(run_id)

    def get_run(self, run_id: int) -> Run:
        try:
            row = self.db["runs"].get(run_id)
        except sqlite_utils.db.NotFoundError as exc:
            raise ProjectError(f"No run {run_id} in {self.path}") from exc
        return self._run(row)

    @staticmethod
    def _run(row: dict) -> Run:
        return Run(
            **{
                **row,
                "params": json.loads(row["params"] or "{}"),
                "timings": json.loads(row["timings"] or "{}"),
                "note": row["note"] or "",
            }
        )

    def runs(self) -> list[Run]:
        return [self._run(r) for r in self.db["runs"].rows_where(order_by="id")]

    def latest_run(self, status: str | None = None) -> Run | None:
        where, args = ("status = ?", [status]) if status else (None, None)
        row = next(self.db["runs"].rows_where(where, args, order_by="id desc", limit=1), None)
        return self._run(row) if row else None

    def find_resumable_run(
        self, sparse_model_key: str, reranker_key: str | None, params: dict
    ) -> Run | None:
        """The newest unfinished run with these models and parameters over the same questions."""
        for row in self.db["runs"].rows_where(
            "status in ('running', 'cancelled', 'failed') and sparse_model_key = ? "
            "and coalesce(reranker_key, '') = ? and params = ? and max_question_id = ?",
            [sparse_model_key, reranker_key or "", json.dumps(params, sort_keys=True),
             self.max_question_id()],
            order_by="id desc", limit=1,
        ):
            return self._run(row)
        return None

    @_writes
    def update_run(self, run_id: int, **fields) -> None:
        for key in ("params", "timings"):
            if key in fields:
                fields[key] = json.dumps(fields[key], sort_keys=True)
        self.db["runs"].update(run_id, fields)

    # ------------------------------------------------------------ encodings

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

    # ------------------------------------------------------------ pairs

    @_writes
    def replace_pairs(
        self, run_id: int, a: np.ndarray, b: np.ndarray, scores: np.ndarray, ranks: np.ndarray,
        **run_fields,
    ) -> None:
        """Store a run's candidate pairs (a < b) and move the run on, in one transaction."""
        reranked = self.rerank_weight(run_id) is not None
        self.db.execute("delete from pairs where run_id = ?", [run_id])
        # In slices: Python lists of a whole large run (5M pairs at 500,000 questions) would
        # take about 1 GB; one slice of numbers at a time keeps the peak flat.
        step = 100_000
        for lo in range(0, len(a), step):
            part = slice(lo, lo + step)
            sparse_scores = scores[part].astype(float).tolist()
            self.db.conn.executemany(
                "insert into pairs (run_id, a, b, sparse_score, rerank_score, rank, score) "
                "values (?, ?, ?, ?, NULL, ?, ?)",
                zip(
                    [run_id] * len(sparse_scores), a[part].tolist(), b[part].tolist(), sparse_scores,
                    ranks[part].tolist(), [None] * len(sparse_scores) if reranked else sparse_scores,
                    strict=True,
                ),
            )
        if run_fields:
            self.update_run(run_id, **run_fields)

    def pairs_to_rerank(
        self, run_id: int, max_rank: int, limit: int, *, min_sparse: float = 0.0
    ) -> list[tuple[int, int]]:
        return [
            (r[0], r[1])
            for r in self.db.execute(
                "select a, b from pairs where run_id = ? and rerank_score is null and rank <= ? "
                "and sparse_score >= ? order by a, b limit ?",
                [run_id, max_rank, min_sparse, limit],
            )
        ]

    def count_pairs(
        self, run_id: int, *, max_rank: int | None = None, reranked: bool | None = None,
        min_sparse: float | None = None,
    ) -> int:
        sql, args = "select count(*) from pairs where run_id = ?", [run_id]
        if max_rank is not None:
            sql, args = sql + " and rank <= ?", [*args, max_rank]
        if min_sparse is not None:
            sql, args = sql + " and sparse_score >= ?", [*args, min_sparse]
        if reranked is not None:
            sql += " and rerank_score is not null" if reranked else " and rerank_score is null"
        return self.db.execute(sql, args).fetchone()[0]

    def rerank_weight(self, run_id: int) -> float | None:
        """A run's ranking score is ``w * rerank + (1 - w) * sparse`` (None: no reranker, the
        sparse score). Cosine runs mix the two: on held-out Quora questions mining AP was 0.58
        sparse alone, 0.46 reranker alone, 0.63 mixed half and half. A candidate never
        reranked has no score (NULL): it ranks after every reranked pair and passes no
        threshold."""
        row = self.db.execute("select reranker, params from runs where id = ?", [run_id]).fetchone()
        if not row or not row[0]:
            return None
        return float(json.loads(row[1] or "{}").get("rerank_weight", 1.0))

    def pair_scores(self, run_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, ranking score with NaN where there is none) for a whole run."""
        rows = self.db.execute(
            "select a, b, coalesce(score, 'nan') from pairs where run_id = ? order by a, b",
            [run_id],
        ).fetchall()
        return _pair_arrays(rows)

    def ranking_scores(self, run_id: int) -> np.ndarray:
        """Every ranking score a run has (pairs never reranked have none), in no order. Read
        from the ranking index alone: 6 ms for a 19k-question run, against 200 ms for
        ``pair_scores``, and the Review tab asks for it on the UI thread."""
        rows = self.db.execute(
            "select score from pairs where run_id = ? and score is not null", [run_id]
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.float64, count=len(rows))

    def pairs_at_or_above(self, run_id: int, min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, score) of the pairs scoring at least ``min_score``, from the ranking index."""
        rows = self.db.execute(
            "select a, b, score from pairs where run_id = ? and score >= ?", [run_id, min_score]
        ).fetchall()
        return _pair_arrays(rows)

    @_writes
    def set_rerank_scores(self, run_id: int, rows: list[tuple[int, int, float]]) -> None:
        w = self.rerank_weight(run_id)
        w = 1.0 if w is None else w
        self.db.conn.executemany(
            "update pairs set rerank_score = ?1, score = ?2 * ?1 + ?3 * sparse_score "
            "where run_id = ?4 and a = ?5 and b = ?6",
            [(float(s), w, 1.0 - w, run_id, a, b) for a, b, s in rows],
        )

    PAIR_ORDERS = {
        "score": "",  # the run's ranking score: handled in top_pairs (index order)
        "question_a": "qa.text collate nocase",
        "question_b": "qb.text collate nocase",
        "label": "coalesce(l.label, '')",
    }

    def top_pairs(
        self, run_id: int, *, limit: int = 100, offset: int = 0, min_score: float | None = None,
        order: str = "score", descending: bool = True, search: str = "",
        after: Pair | None = None,
    ) -> list[Pair]:
        """Pairs of a run, best first by default (by the stored ranking score, see
        rerank_weight; candidates without one last). ``order`` sorts by another column; ``search`` keeps pairs where
        either question contains the text (case-insensitive). ``after`` (the last row of the
        previous page, best-first order only) pages through the index instead of OFFSET, so
        the 400th page costs what the first does."""
        where, args = self._pair_filter(run_id, min_score, search)
        if after is not None and order == "score" and descending and after.score is not None:
            # Rows without a score (never reranked) sort after every scored row.
            where += " and ((p.score, p.sparse_score, p.a, p.b) < (?, ?, ?, ?) or p.score is null)"
            args += [after.score, after.sparse_score, after.a, after.b]
            offset = 0
        if order not in self.PAIR_ORDERS:
            raise ValueError(f"order must be one of {sorted(self.PAIR_ORDERS)}")
        direction = "desc" if descending else "asc"
        if order == "score":  # NULL scores sort last in descending order: the index's order
            primary = f"p.score {direction}, p.sparse_score {direction}, p.a {direction}, p.b {direction}"
        else:
            primary = f"{self.PAIR_ORDERS[order]} {direction}, p.a, p.b"
        sql = f"""
            select p.a, p.b, qa.text, qb.text, p.sparse_score, p.rerank_score, p.rank, l.label,
                   p.score
            from pairs p
            join questions qa on qa.id = p.a
            join questions qb on qb.id = p.b
            left join labels l on l.a = p.a and l.b = p.b
            where {where}
            order by {primary}
            limit ? offset ?
        """
        return [Pair(*r) for r in self.db.execute(sql, [*args, limit, offset])]

    def _pair_filter(self, run_id: int, min_score: float | None, search: str) -> tuple[str, list]:
        where, args = "p.run_id = ?", [run_id]
        if min_score is not None:
            where += " and p.score >= ?"
            args.append(min_score)
        if search:  # find the questions first (19k rows), then their pairs through indexes
            like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            match = "select id from questions where text like ? escape '\\'"
            where += f" and (p.a in ({match}) or p.b in ({match}))"
            args += [like, like]
        return where, args

    def count_pairs_matching(self, run_id: int, min_score: float | None, search: str = "") -> int:
        """Pairs at or above ``min_score`` (None: all) whose questions contain ``search``."""
        where, args = self._pair_filter(run_id, min_score, search)
        return self.db.execute(f"select count(*) from pairs p where {where}", args).fetchone()[0]

    def iter_pairs(self, run_id: int, *, min_score: float | None = None, chunk: int = 5000) -> Iterator[Pair]:
        """Every pair, best first, a page at a time through the ranking index (see top_pairs'
        ``after``), so exporting 500,000 pairs costs no deep OFFSET scans."""
        offset, last = 0, None
        while True:
            page = self.top_pairs(run_id, limit=chunk, offset=offset, min_score=min_score, after=last)
            if not page:
                return
            yield from page
            offset += len(page)
            last = page[-1]

    # ------------------------------------------------------------ labels

    @_writes
    def set_label(self, a: int, b: int, label: str | None, *, record: bool = True) -> None:
        """Label a pair (None clears it); the change goes into the undo history."""
        a, b = (a, b) if a < b else (b, a)
        if label is not None and label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, not {label!r}")
        old = self.label(a, b)
        if label is None:
            self.db.execute("delete from labels where a = ? and b = ?", [a, b])
        else:
            self.db["labels"].upsert(
                {"a": a, "b": b, "label": label, "updated": time.time()}, pk=("a", "b")
            )
        if record and old != label:
            self.db["label_history"].insert(
                {"a": a, "b": b, "old": old, "new": label, "time": time.time()}
            )

    def label(self, a: int, b: int) -> str | None:
        a, b = (a, b) if a < b else (b, a)
        row = self.db.execute("select label from labels where a = ? and b = ?", [a, b]).fetchone()
        return row[0] if row else None

    @_writes
    def undo_label(self) -> tuple[int, int] | None:
        """Revert the newest label change; returns its pair, or None when nothing is left."""
        row = self.db.execute(
            "select id, a, b, old from label_history order by id desc limit 1"
        ).fetchone()
        if row is None:
            return None
        hid, a, b, old = row
        self.set_label(a, b, old, record=False)
        self.db.execute("delete from label_history where id = ?", [hid])
        return a, b

    def labels(self) -> dict[tuple[int, int], str]:
        return {(r["a"], r["b"]): r["label"] for r in self.db["labels"].rows}

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _pair_arrays(rows: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, score) arrays from ``(a, b, score)`` rows."""
    arr = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2]
