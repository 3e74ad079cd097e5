"""Check a project file, and recover what is readable from a damaged one into a new project.

Usage::

    from quoradesk.core.store import check_project, repair_project

    report = check_project("p.sqlite")              # SQLite's quick check; full=True: integrity check
    report.healthy, report.problems, report.counts  # exit 0 / 4 in `quoradesk check`
    result = repair_project("p.sqlite", "p-recovered.sqlite")   # never writes p.sqlite
    for table, (kept, unreadable) in result.tables.items(): ...

Python's sqlite3 has no recovery API (the sqlite3 shell's ``.recover`` is not in it), so the
repair reads each table in rowid ranges, halving a range that fails down to single rows: every
row on a readable page is kept, and the rowids that could not be read are counted. Labels
come back from the project's label journal too (``labels.py``), which names the questions by
their text, so they survive a file that is lost whole.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from .encodings import VOCABULARY_META
from .labels import journal_path, read_journal
from .project import SQLITE_MAGIC, Store, connect_read_only
from .writes import ProjectError

# Copied in this order, so that what refers to a row comes after it.
TABLES = ("imports", "questions", "rejected_rows", "runs", "encodings", "pairs", "labels", "label_history")
BLOCK = 2048  # rowids a read asks for at once; a failing block is halved down to single rows
# Rows that name what is not there: (table, what the check calls them, which rows). The check
# counts them; the repair drops them from the recovered project.
ORPHANS = (
    ("pairs", "pairs of a run that is not there", "run_id not in (select id from runs)"),
    ("pairs", "pairs naming a question that is not there",
     "a not in (select id from questions) or b not in (select id from questions)"),
    ("labels", "labels naming a question that is not there",
     "a not in (select id from questions) or b not in (select id from questions)"),
    ("encodings", "encodings of a question that is not there", "question_id not in (select id from questions)"),
    ("label_history", "label changes naming a question that is not there",
     "a not in (select id from questions) or b not in (select id from questions)"),
)


@dataclass
class HealthReport:
    path: Path
    healthy: bool
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    schema_version: int | None = None

    def lines(self) -> list[str]:
        head = "healthy" if self.healthy else "DAMAGED"
        out = [f"{self.path}: {head} (schema version {self.schema_version if self.schema_version is not None else '?'})"]
        out += [f"  {table}: {n:,} rows" for table, n in self.counts.items()]
        out += [f"  problem: {p}" for p in self.problems]
        return out


def check_project(path: str | Path, *, full: bool = False) -> HealthReport:
    """SQLite's quick check (``full``: the integrity check), the schema version, the row counts
    and rows that refer to what is not there. Reads only."""
    p = Path(path)
    report = HealthReport(p, healthy=False)
    if not p.is_file():
        report.problems.append("no such file")
        return report
    with open(p, "rb") as fh:
        if fh.read(16) != SQLITE_MAGIC:
            report.problems.append("the file does not start as an SQLite database (its first page is damaged or it is another file)")
            return report
    try:
        conn = connect_read_only(p)  # the check never writes the file it reads
    except sqlite3.Error as exc:
        report.problems.append(f"cannot open it: {exc}")
        return report
    try:
        try:
            rows = conn.execute("PRAGMA integrity_check(100)" if full else "PRAGMA quick_check(100)").fetchall()
            report.problems += [r[0] for r in rows if r[0] != "ok"]
        except sqlite3.DatabaseError as exc:
            report.problems.append(f"the {'integrity' if full else 'quick'} check could not run: {exc}")
        try:
            row = conn.execute("select value from meta where key = 'schema_version'").fetchone()
            report.schema_version = int(row[0]) if row else None
        except (sqlite3.DatabaseError, ValueError) as exc:
            report.problems.append(f"schema version unreadable: {exc}")
        for table in TABLES:
            try:
                report.counts[table] = conn.execute(f"select count(*) from {table}").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                report.problems.append(f"{table}: {exc}")
        for table, what, where in ORPHANS:
            try:
                n = conn.execute(f"select count(*) from {table} where {where}").fetchone()[0]
            except sqlite3.DatabaseError:
                continue  # the table itself is damaged: already said
            if n:
                report.problems.append(f"{n:,} {what}")
    finally:
        conn.close()
    report.healthy = not report.problems
    return report


@dataclass
class RepairResult:
    source: Path
    out: Path
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)  # table: (rows kept, rowids unreadable)
    labels_from_journal: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"recovered {self.source} into {self.out} ({self.source.name} was not written)"]
        for table, (kept, lost) in self.tables.items():
            out.append(f"  {table}: {kept:,} rows recovered" + (f", {lost:,} rowids unreadable (lost)" if lost else ""))
        if self.labels_from_journal:
            out.append(f"  labels: {self.labels_from_journal:,} restored from the label journal")
        out += [f"  note: {n}" for n in self.notes]
        return out


def _read_rows(conn, table: str) -> tuple[list[str], list[tuple], int]:
    """(columns, rows, rowids unreadable) of ``table``, read around damaged pages."""
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    if not columns:
        raise sqlite3.DatabaseError(f"no table {table}")
    try:
        top = conn.execute(f"select max(rowid) from {table}").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        top = None
    rows, failed = [], []
    select = f"select rowid, {', '.join(columns)} from {table} where rowid between ? and ?"

    def read(lo: int, hi: int) -> None:
        try:
            rows.extend(conn.execute(select, [lo, hi]).fetchall())
        except sqlite3.DatabaseError:
            if lo == hi:
                failed.append(lo)
                return
            mid = (lo + hi) // 2
            read(lo, mid)
            read(mid + 1, hi)

    # Up to the largest rowid the table gives, and on past it until a long run of blocks gives
    # nothing: a damaged page can hide the table's true end from max(rowid).
    lo, empty = 1, 0
    while (top is not None and lo <= top) or empty < 16:
        before = len(rows)
        read(lo, lo + BLOCK - 1)
        empty = 0 if len(rows) > before else empty + 1
        lo += BLOCK
    # Past the last row read there is no telling rows from the table's end: only the
    # unreadable rowids below it count as lost.
    last = max((r[0] for r in rows), default=0)
    lost = sum(1 for rowid in failed if rowid < last)
    return columns, [r[1:] for r in rows], lost


def repair_project(path: str | Path, out: str | Path) -> RepairResult:
    """Copy every readable row of the damaged project at ``path`` into a new project at
    ``out`` (which must not exist), then restore the labels from the journal. Reads ``path``
    only; the new project is checked before this returns."""
    src, dst = Path(path), Path(out)
    if dst.exists():
        raise ProjectError(f"{dst} exists already: name a new file for the recovered project")
    if src.resolve() == dst.resolve():
        raise ProjectError("the recovered project must be a new file, not the damaged one")
    result = RepairResult(src, dst)
    conn = None
    readable = src
    if src.is_file():
        try:
            with open(src, "rb") as fh:
                if fh.read(16) == SQLITE_MAGIC:
                    readable = _padded_copy(src, dst, result)
                    conn = connect_read_only(readable)  # the repair never writes what it reads
                    conn.execute("select count(*) from sqlite_master").fetchone()
                else:
                    result.notes.append("the file's first page is not readable: nothing but the label journal recovered")
        except sqlite3.DatabaseError as exc:
            conn = None
            result.notes.append(f"the file's schema is not readable ({exc}): nothing but the label journal recovered")
    else:
        result.notes.append(f"{src} is missing: nothing but the label journal recovered")
    _copy_journal(src, dst)  # first: the labels restored below are appended to it
    with Store(dst) as store:
        db = store.db
        for table in TABLES if conn is not None else ():
            try:
                columns, rows, lost = _read_rows(conn, table)
            except sqlite3.DatabaseError as exc:
                result.tables[table] = (0, 0)
                result.notes.append(f"{table}: not readable at all ({exc})")
                continue
            target = [c for c in columns if c in db[table].columns_dict]
            keep = [columns.index(c) for c in target]
            with db.atomic():
                db.conn.executemany(
                    f"insert or ignore into {table} ({', '.join(target)}) values ({', '.join('?' * len(target))})",
                    [tuple(r[i] for i in keep) for r in rows])
            result.tables[table] = (len(rows), lost)
        if conn is not None:
            _copy_vocabularies(conn, store, result)
        # Orphans first: a question the journal brings back must not take an id that a
        # recovered row still names for the question the damage took.
        _drop_orphans(store, result)
        result.labels_from_journal = _replay_journal(store, src)
    if conn is not None:
        conn.close()
    if readable != src:
        readable.unlink(missing_ok=True)
    report = check_project(dst)
    if not report.healthy:  # rows kept that refer to rows lost: said, not hidden
        result.notes += [f"in the recovered project: {p}" for p in report.problems]
    return result


def _copy_vocabularies(conn, store, result: RepairResult) -> None:
    """The int8 encoder's project vocabularies (meta rows): the recovered encodings were made
    with them, and the runs and Ask after the repair go on with them."""
    try:
        rows = conn.execute("select key, value from meta where key like ?", [VOCABULARY_META + "%"]).fetchall()
    except sqlite3.DatabaseError as exc:
        result.notes.append(f"the encoders' project vocabularies: not readable ({exc}); the next run fits them again")
        return
    for key, value in rows:
        store.set_meta(key, value)


def _padded_copy(src: Path, dst: Path, result: RepairResult) -> Path:
    """A file cut short (a copy or a disk that stopped) makes SQLite refuse every page, even
    the ones still there: a copy padded with zeros to the size its header gives reads again,
    its missing pages reading as damaged. ``src`` itself when it is whole."""
    import struct

    with open(src, "rb") as fh:
        header = fh.read(100)
    page = struct.unpack(">H", header[16:18])[0]
    page = 65536 if page == 1 else page
    pages = struct.unpack(">I", header[28:32])[0]
    size = src.stat().st_size
    if page < 512 or size >= pages * page:
        return src
    padded = dst.with_name(dst.name + ".reading")
    with open(src, "rb") as fh, open(padded, "wb") as out:
        while block := fh.read(1 << 20):
            out.write(block)
        out.truncate(pages * page)
    result.notes.append(f"the file was cut short ({size:,} of {pages * page:,} bytes): read up to where it ends")
    return padded


def _replay_journal(store, src: Path) -> int:
    """The labels as the journal last left them, by question text; a labelled question the
    file lost comes back as a question of its own."""
    final: dict[tuple[str, str], str | None] = {}
    for entry in read_journal(journal_path(src)):
        final[tuple(sorted((entry["text_a"], entry["text_b"])))] = entry["new"]
    restored = 0
    for (text_a, text_b), label in final.items():
        ids = []
        for text in (text_a, text_b):
            row = store.db.execute("select id from questions where text = ?", [text]).fetchone()
            if row is None:  # a new id: the rows that named the lost question are dropped already
                row = (store.db["questions"].insert({"text": text, "sources": json.dumps(["label journal"])}).last_pk,)
            ids.append(row[0])
        if store.label(*ids) != label:
            store.set_label(ids[0], ids[1], label, record=False)
        restored += label is not None
    return restored


def _drop_orphans(store, result: RepairResult) -> None:
    """Rows that name a question the damage took (its text is gone) cannot be shown or used:
    they are counted as lost, not kept as dangling references."""
    db = store.db
    with db.atomic():
        for table, _, where in ORPHANS:
            n = db.execute(f"delete from {table} where {where}").rowcount
            if n and table in result.tables:
                kept, lost = result.tables[table]
                result.tables[table] = (kept - n, lost + n)
                result.notes.append(f"{table}: {n:,} rows dropped that named a question or run that was lost")


def _copy_journal(src: Path, dst: Path) -> None:
    """The recovered project keeps the journal's history (its own starts from it)."""
    old, new = journal_path(src), journal_path(dst)
    if old.is_file() and not new.exists():
        new.write_bytes(old.read_bytes())
