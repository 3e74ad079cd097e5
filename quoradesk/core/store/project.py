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
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlite_utils

from ..questions import ImportResult
from .encodings import EncodingsMixin
from .labels import LabelsMixin
from .pairs import PairsMixin
from .writes import ProjectError, _writes

APP_ID = "quoradesk"
SCHEMA_VERSION = 2  # 2: pairs.first_score (the first stage's ranking score, core.search.margins)
# The Review table pages through this index in its own order: no sort, no scan.
RANKING_INDEX = "create index pairs_ranking on pairs (run_id, score desc, first_score desc, a, b)"
SQLITE_MAGIC = b"SQLite format 3\x00"


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


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def connect_read_only(path: str | Path, timeout: float = 5.0) -> sqlite3.Connection:
    """A connection that cannot write ``path`` (mode=ro), the path quoted as a file: URI."""
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)


def pending_upgrade(path: str | Path) -> int:
    """At most how many pairs opening ``path`` would bring up to this schema (``Store._migrate``:
    0.74 s per 145,000 pairs, measured), 0 when there is nothing to upgrade or it is not a
    project this version upgrades (``Store`` says why on opening). Reads only, in
    milliseconds: a window can decide to open a large old project off its UI thread."""
    p = Path(path)
    if not p.is_file():
        return 0
    try:
        with contextlib.closing(connect_read_only(p, timeout=1)) as conn:
            row = conn.execute("select value from meta where key = 'schema_version'").fetchone()
            if row is None or int(row[0]) >= SCHEMA_VERSION:
                return 0
            # the largest rowid, not count(*): instant, and at least the count
            return int(conn.execute("select coalesce(max(rowid), 0) from pairs").fetchone()[0])
    except (sqlite3.Error, ValueError):
        return 0


class Store(EncodingsMixin, PairsMixin, LabelsMixin):
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
        if version < SCHEMA_VERSION:
            self._migrate(version)
        self.db.enable_wal()

    def _migrate(self, version: int) -> None:
        """Bring a project written by an earlier QuoraDesk up to this schema, in one
        transaction (a failure leaves it as it was), after a copy of it as it was beside it
        (``<name>.schema<version>.bak``, made by SQLite's backup API: consistent even mid-WAL)."""
        backup = self.path.with_name(f"{self.path.name}.schema{version}.bak")
        if not backup.exists():
            target = sqlite3.connect(backup)
            try:
                self.db.conn.backup(target)
            finally:
                target.close()
        with self._transaction():
            if version < 2:
                # Pairs mined before keep their order: their first-stage score is their cosine.
                self.db.execute("alter table pairs add column first_score float")
                self.db.execute("update pairs set first_score = sparse_score")
                self.db.execute("drop index if exists pairs_ranking")
                self.db.execute(RANKING_INDEX)
            self.db.execute("update meta set value = ? where key = 'schema_version'", [str(SCHEMA_VERSION)])

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
                    "rerank_score": float, "rank": int, "score": float, "first_score": float,
                },
                pk=("run_id", "a", "b"), foreign_keys=[("run_id", "runs", "id")],
            )
            db.execute(RANKING_INDEX)
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
        det = result.detected
        if sha256 is None and Path(result.path).exists():
            sha256 = file_sha256(result.path)
            if det.sheet is not None:  # each sheet of a workbook is an import of its own
                sha256 += f"#sheet={det.sheet}"
        if sha256:
            row = next(self.db["imports"].rows_where("sha256 = ?", [sha256], limit=1), None)
            if row is not None:
                return ImportInfo(row["id"], 0, row["merged"], row["rejected"], True)
        import_id = self.db["imports"].insert(
            {
                "path": result.path, "sha256": sha256, "format": det.format,
                "encoding": det.encoding, "delimiter": det.delimiter,
                "column_name": f"{det.sheet}!{det.column}" if det.sheet else str(det.column),
                "rows": result.rows_total,
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

    def meta(self, key: str) -> str | None:
        """A value of the project's meta table (``created``: when the project was made)."""
        row = self.db.execute("select value from meta where key = ?", [key]).fetchone()
        return row[0] if row else None

    @_writes
    def set_meta(self, key: str, value: str) -> None:
        """Keep a small value in the project (a threshold check's sample, say)."""
        self.db.execute("insert or replace into meta (key, value) values (?, ?)", [key, value])

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

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
