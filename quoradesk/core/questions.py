"""Read a user's question file into clean, de-duplicated questions, accounting for every row.

Formats: CSV, TSV, TXT (one question a line), JSONL, the Quora release TSV
(``id qid1 qid2 question1 question2 is_duplicate``), the Kaggle CSV (same columns, or
``test_id question1 question2``) and the 4-column split ``label q1 q2 pair_id``.

Usage::

    from quoradesk.core.questions import load_questions

    result = load_questions("questions.csv")          # everything detected
    result = load_questions("x.csv", column="title")   # overrides: column, encoding, delimiter, fmt
    print(result.detected)                             # encoding, delimiter, header, column, format
    for q in result.questions:                         # unique texts, first-seen order
        print(q.text, q.sources)                       # sources: every row the text came from
    for r in result.rejected:                          # every row that was not used, and why
        print(r.line, r.reason)

Every input row ends up in exactly one place: accepted as a new question, merged into an
identical earlier one (its source kept), or rejected with its line number and a reason.
A file that cannot be read at all raises :class:`ImportError_` with a message for the user.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

# A question longer than this is almost surely a broken row (a missing quote swallowing the
# file), and would only waste encoder time: such rows are rejected, not truncated.
MAX_QUESTION_CHARS = 5000
# Detection looks at this much of the file; the whole file is parsed afterwards.
SNIFF_BYTES = 64 * 1024
RAW_PREVIEW_CHARS = 200

QUESTION_COLUMN_NAMES = (
    "question", "questions", "text", "query", "title", "sentence", "q", "prompt", "body",
    "question_text", "question1",
)
QUORA_PAIR_HEADERS = (
    ("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
    ("test_id", "question1", "question2"),
)
FORMATS = ("csv", "tsv", "txt", "jsonl", "quora-pairs", "quora-split")

_WS = re.compile(r"\s+")


class ImportError_(Exception):  # noqa: N801 - avoid shadowing the builtin ImportError
    """The whole file cannot be imported; the message says why, for the user."""


@dataclass
class Question:
    text: str
    sources: list[str] = field(default_factory=list)  # "12" or "12:question2" (line[:column])


@dataclass
class RejectedRow:
    line: int
    reason: str
    raw: str = ""
    entries: int = 1  # question cells lost with this row (2 for a broken pair row)


@dataclass
class Detection:
    format: str
    encoding: str
    delimiter: str | None = None
    has_header: bool = False
    column: str | int | None = None  # header name, or 0-based index without a header
    columns: list[str] = field(default_factory=list)  # the header (or "column 1".. names)
    damaged_lines: list[int] = field(default_factory=list)  # bad bytes replaced by U+FFFD


@dataclass
class LabelledPair:
    """A question pair with a duplicate label, from the pair formats (for evaluation/training)."""

    a: int  # index into ImportResult.questions
    b: int
    label: int
    line: int


@dataclass
class ImportResult:
    path: str
    detected: Detection
    questions: list[Question]
    rejected: list[RejectedRow]
    rows_total: int
    merged: int  # entries whose text equalled an earlier one's (kept as an extra source)
    entries: int = 0  # question cells read: rows, or 2 a row in the pair formats
    labelled_pairs: list[LabelledPair] = field(default_factory=list)
    preview: list[list[str]] = field(default_factory=list)  # first rows as parsed

    @property
    def accepted(self) -> int:
        return len(self.questions)

    @property
    def rejected_entries(self) -> int:
        return sum(r.entries for r in self.rejected)

    def summary(self) -> str:
        text = (
            f"{self.rows_total} rows read: {self.accepted} questions, "
            f"{self.merged} merged as exact duplicates, {len(self.rejected)} rows rejected"
        )
        damaged = self.detected.damaged_lines
        if damaged:
            lines = ", ".join(map(str, damaged[:5])) + (", ..." if len(damaged) > 5 else "")
            text += f"; {len(damaged)} lines had invalid {self.detected.encoding} bytes, kept with \ufffd (lines {lines})"
        return text


def normalise(text: str) -> str:
    """Collapse runs of whitespace (newlines included) and strip the ends."""
    return _WS.sub(" ", text).strip()


# ---------------------------------------------------------------- reading and decoding


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ImportError_(f"No such file: {path}")
    if path.is_dir():
        raise ImportError_(f"{path} is a folder, not a question file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImportError_(f"Cannot read {path}: {exc.strerror or exc}") from exc


def _looks_binary(data: bytes) -> bool:
    head = data[:SNIFF_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text has NULs but is text
        return False
    if head.count(b"\x00") > len(head) // 100 + 1:
        return True
    # Control bytes other than tab/newline/carriage return/form feed are rare in text (and
    # common in compressed data, a PNG say, which has few NULs).
    ctrl = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return ctrl > len(head) // 20 + 1


def _damaged_utf8_lines(data: bytes) -> tuple[int, list[int]]:
    """(lines with non-ASCII bytes, line numbers among them that are not valid UTF-8)."""
    non_ascii, damaged = 0, []
    for lineno, line in enumerate(data.split(b"\n"), start=1):
        if line.isascii():
            continue
        non_ascii += 1
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            damaged.append(lineno)
    return non_ascii, damaged


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str, list[int]]:
    """Decode file bytes; returns (text, encoding used, lines whose bad bytes were replaced).

    A UTF-8 file with a few damaged lines (truncated multi-byte sequences, as in the Quora
    release) stays UTF-8: those bytes become U+FFFD and the lines are reported, rather than
    re-reading the whole file in a legacy code page and garbling every good line.
    """
    if encoding:
        try:
            return data.decode(encoding), encoding, []
        except (LookupError, UnicodeDecodeError) as exc:
            raise ImportError_(f"The file is not valid {encoding}: {exc}") from exc
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        non_ascii, damaged = _damaged_utf8_lines(data)
        return data.decode("utf-8", errors="replace"), "utf-8-sig", damaged
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", []
        except UnicodeDecodeError as exc:
            raise ImportError_(f"The file claims UTF-16 but does not decode: {exc}") from exc
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError:
        pass
    non_ascii, damaged = _damaged_utf8_lines(data)
    if len(damaged) * 2 <= non_ascii:  # mostly valid UTF-8: damage, not another encoding
        return data.decode("utf-8", errors="replace"), "utf-8", damaged
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 4 * 1024 * 1024]).best()
    single_byte = best is not None and best.encoding.startswith(("cp125", "latin", "iso8859"))
    if best is None or single_byte:
        pass  # the Western single-byte family: cp1252 below is the likeliest of them
    elif best.encoding not in ("utf_8", "utf-8"):
        try:
            return data.decode(best.encoding), best.encoding, []
        except (LookupError, UnicodeDecodeError):
            pass
    # cp1252 is the commonest non-UTF-8 encoding of question exports; latin-1 never fails.
    for enc in ("cp1252", "latin-1"):
        try:
            return data.decode(enc), enc, []
        except UnicodeDecodeError:
            continue
    raise ImportError_("Could not work out the file's text encoding")  # pragma: no cover


# ---------------------------------------------------------------- format detection


def _guess_format(path: Path, text: str) -> tuple[str, str | None]:
    """Return (format, delimiter) from the extension and a sample of the text."""
    ext = path.suffix.lower()
    sample = text[:SNIFF_BYTES]
    first = sample.split("\n", 1)[0].strip().lower()
    if ext in (".jsonl", ".ndjson") or (first.startswith("{") and first.endswith("}")):
        return "jsonl", None
    # Quora-style headers decide the format regardless of extension.
    for delim in ("\t", ","):
        cells = [c.strip().strip('"') for c in first.split(delim)]
        for header in QUORA_PAIR_HEADERS:
            if tuple(cells) == header:
                return "quora-pairs", delim
    lines = [ln for ln in sample.split("\n")[:50] if ln.strip()]
    # A few broken rows must not hide the format (they are rejected one by one later).
    if lines and sum(_is_split_line(ln) for ln in lines) >= 0.9 * len(lines):
        return "quora-split", "\t"
    if ext == ".txt":
        return "txt", None
    if ext == ".tsv":
        return "tsv", "\t"
    try:
        dialect = csv.Sniffer().sniff(sample[:16384], delimiters=",\t;|")
        delim = dialect.delimiter
    except csv.Error:
        delim = "\t" if ext == ".tsv" else ("," if ext == ".csv" else None)
    if delim is None:
        return "txt", None
    return ("tsv" if delim == "\t" else "csv"), delim


def _is_split_line(line: str) -> bool:
    """The 4-column split's shape: a short label, two texts, a numeric pair id. The label's
    value is checked row by row later, so one bad label is reported, not mis-detected."""
    parts = line.rstrip("\r").split("\t")
    return len(parts) == 4 and 0 < len(parts[0].strip()) <= 5 and parts[3].strip().isdigit()


def _has_header(rows: list[list[str]]) -> bool:
    if not rows:
        return False
    first = [c.strip().lower() for c in rows[0]]
    if any(c in QUESTION_COLUMN_NAMES for c in first):
        return True
    if len(rows) < 2:
        return False
    # A header row is short, has no question marks and differs in shape from the body.
    body = rows[1:20]
    first_len = sum(len(c) for c in rows[0])
    body_len = sum(sum(len(c) for c in r) for r in body) / max(1, len(body))
    return "?" not in "".join(rows[0]) and first_len < 0.5 * body_len and any(
        "?" in "".join(r) for r in body
    )


def _pick_column(header: list[str] | None, rows: list[list[str]]) -> int:
    if header:
        lowered = [h.strip().lower() for h in header]
        for name in QUESTION_COLUMN_NAMES:
            if name in lowered:
                return lowered.index(name)
    width = max((len(r) for r in rows[:200]), default=1)
    best, best_score = 0, -1.0
    for col in range(width):
        cells = [r[col] for r in rows[:200] if col < len(r)]
        if not cells:
            continue
        texty = [c for c in cells if c.strip() and not _is_number(c)]
        mean_len = sum(len(c) for c in texty) / max(1, len(cells))
        questions = sum(c.strip().endswith("?") for c in cells) / len(cells)
        score = mean_len * (1 + questions) * len(texty) / len(cells)
        if score > best_score:
            best, best_score = col, score
    return best


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- the collector


class _Collector:
    """Accumulates questions, merges exact duplicates and records rejections."""

    def __init__(self) -> None:
        self.questions: list[Question] = []
        self.index: dict[str, int] = {}
        self.rejected: list[RejectedRow] = []
        self.rows = 0
        self.entries = 0
        self.merged = 0

    def reject(self, line: int, reason: str, raw: str = "", entries: int = 1) -> None:
        self.entries += entries
        self.rejected.append(RejectedRow(line, reason, raw[:RAW_PREVIEW_CHARS], entries))

    def add(self, raw_text: str | None, line: int, source: str, raw: str = "") -> int | None:
        """Add one question cell; returns its question index, or None when rejected."""
        if raw_text is None:
            self.reject(line, "no question in this row", raw)
            return None
        if "\x00" in raw_text:
            self.reject(line, "contains NUL bytes (binary data?)", raw.replace("\x00", "\\0"))
            return None
        text = normalise(raw_text)
        if not text:
            self.reject(line, "empty question", raw)
            return None
        if len(text) > MAX_QUESTION_CHARS:
            self.reject(
                line, f"question too long ({len(text):,} characters, limit {MAX_QUESTION_CHARS:,})",
                raw,
            )
            return None
        self.entries += 1
        idx = self.index.get(text)
        if idx is None:
            idx = len(self.questions)
            self.index[text] = idx
            self.questions.append(Question(text, [source]))
        else:
            self.questions[idx].sources.append(source)
            self.merged += 1
        return idx


# ---------------------------------------------------------------- parsers


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _lines(text: str) -> list[str]:
    """Lines as editors, ``wc -l`` and the csv module count them: split on CR, LF and CRLF
    only. (str.splitlines also splits on U+2028, U+0085, \\x1e and friends, which then cut a
    question, or a JSON line with such a character in a string, in two.)"""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _parse_txt(text: str, col: _Collector) -> None:
    for lineno, line in enumerate(_lines(text), start=1):
        col.rows += 1
        col.add(line, lineno, str(lineno), line)


def _parse_jsonl(text: str, col: _Collector, column: str | None) -> str | None:
    chosen = column
    for lineno, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        col.rows += 1
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            col.reject(lineno, f"not valid JSON ({exc.msg})", line)
            continue
        if isinstance(obj, str):
            col.add(obj, lineno, str(lineno), line)
            continue
        if not isinstance(obj, dict):
            col.reject(lineno, "not a JSON object or string", line)
            continue
        if chosen is None:
            keys = {k.lower(): k for k in obj}
            chosen = next((keys[n] for n in QUESTION_COLUMN_NAMES if n in keys), None)
            if chosen is None:
                chosen = next((k for k, v in obj.items() if isinstance(v, str)), None)
        value = obj.get(chosen) if chosen is not None else None
        if value is not None and not isinstance(value, str):
            col.reject(lineno, f"field {chosen!r} is not text", line)
            continue
        col.add(value, lineno, str(lineno), line)
    return chosen


def _csv_rows(text: str, delimiter: str):
    """Yield (first_line, row, raw) with physical line numbers; tolerant of broken quoting."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a NUL byte: report the line, keep reading
            yield start, None, str(exc)
            start = reader.line_num + 1
            continue
        yield start, row, delimiter.join(row)
        start = reader.line_num + 1


def _parse_table(
    text: str, col: _Collector, det: Detection, column: str | int | None, header: bool | None
) -> list[list[str]]:
    assert det.delimiter is not None
    rows = list(_csv_rows(text, det.delimiter))
    good = [r for _, r, _ in rows if r is not None]
    det.has_header = _has_header(good[:50]) if header is None else header
    header_row = good[0] if det.has_header and good else None
    det.columns = (
        [h.strip() for h in header_row]
        if header_row
        else [f"column {i + 1}" for i in range(max((len(r) for r in good[:200]), default=1))]
    )
    body_rows = rows[1:] if det.has_header and rows else rows
    sample = [r for _, r, _ in body_rows[:200] if r is not None]
    if column is None:
        idx = _pick_column(header_row, sample)
    elif isinstance(column, int):
        idx = column
    else:
        names = [c.lower() for c in det.columns]
        if column.lower() not in names:
            raise ImportError_(
                f"No column named {column!r}; the file has: {', '.join(det.columns)}"
            )
        idx = names.index(column.lower())
    if idx >= len(det.columns) and header_row is not None:
        raise ImportError_(f"Column {idx + 1} does not exist; the file has {len(det.columns)}")
    det.column = det.columns[idx] if header_row else idx
    width = len(header_row) if header_row else None
    for line, row, raw in body_rows:
        if row is None:
            col.rows += 1
            col.reject(line, f"unreadable row ({raw})")
            continue
        if not any(c.strip() for c in row):
            continue  # blank line: not a row
        col.rows += 1
        if width is not None and len(row) != width:
            col.reject(line, f"row has {len(row)} fields, the header has {width}", raw)
            continue
        if idx >= len(row):
            col.reject(line, f"row has {len(row)} fields, no column {idx + 1}", raw)
            continue
        col.add(row[idx], line, str(line), raw)
    return [r for _, r, _ in rows[:6] if r is not None]


def _parse_pairs(
    text: str, col: _Collector, det: Detection, pairs: list[LabelledPair]
) -> list[list[str]]:
    """Quora release TSV / Kaggle CSV (with header) and the headerless 4-column split."""
    assert det.delimiter is not None
    rows = list(_csv_rows(text, det.delimiter))
    if det.format == "quora-split":
        det.has_header = False
        det.columns = ["label", "question1", "question2", "pair_id"]
        q1, q2, lab, width = 1, 2, 0, 4
        body = rows
    else:
        det.has_header = True
        det.columns = [c.strip() for c in (rows[0][1] or [])] if rows else []
        names = det.columns
        q1, q2 = names.index("question1"), names.index("question2")
        lab = names.index("is_duplicate") if "is_duplicate" in names else None
        width = len(names)
        body = rows[1:]
    det.column = "question1+question2"
    for line, row, raw in body:
        if row is None:
            col.rows += 1
            col.reject(line, f"unreadable row ({raw})", entries=2)
            continue
        if not any(c.strip() for c in row):
            continue
        col.rows += 1
        if len(row) != width:
            col.reject(line, f"row has {len(row)} fields, expected {width}", raw, entries=2)
            continue
        label = None
        if lab is not None:
            value = row[lab].strip()
            if value not in ("0", "1"):
                col.reject(line, f"label {value!r} is not 0 or 1", raw, entries=2)
                continue
            label = int(value)
        a = col.add(row[q1], line, f"{line}:question1", raw)
        b = col.add(row[q2], line, f"{line}:question2", raw)
        if label is not None and a is not None and b is not None and a != b:
            pairs.append(LabelledPair(a, b, label, line))
    return [r for _, r, _ in rows[:6] if r is not None]


# ---------------------------------------------------------------- entry point


def load_questions(
    path: str | Path,
    *,
    column: str | int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    fmt: str | None = None,
    header: bool | None = None,
) -> ImportResult:
    """Read a question file. Every override left as None is detected."""
    path = Path(path)
    data = _read_bytes(path)
    if not data.strip():
        raise ImportError_(f"{path.name} is empty")
    if encoding is None and _looks_binary(data):
        raise ImportError_(
            f"{path.name} looks like a binary file, not text (CSV, TSV, TXT or JSONL expected)"
        )
    text, used_encoding, damaged = decode(data, encoding)
    if fmt is not None and fmt not in FORMATS:
        raise ImportError_(f"Unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    guessed_fmt, guessed_delim = _guess_format(path, text)
    fmt = fmt or guessed_fmt
    if delimiter is None:
        delimiter = guessed_delim if fmt == guessed_fmt else {"tsv": "\t", "csv": ","}.get(fmt)
        if fmt in ("quora-split",):
            delimiter = "\t"
    det = Detection(format=fmt, encoding=used_encoding, delimiter=delimiter, damaged_lines=damaged)
    col = _Collector()
    pairs: list[LabelledPair] = []
    preview: list[list[str]] = []
    old_limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)  # long fields are rejected per row, not per file
    try:
        if fmt == "txt":
            det.delimiter = None
            det.columns = ["question"]
            det.column = 0
            _parse_txt(text, col)
            preview = [[ln] for ln in _lines(text)[:5]]
        elif fmt == "jsonl":
            det.column = _parse_jsonl(text, col, column if isinstance(column, str) else None)
        elif fmt in ("quora-pairs", "quora-split"):
            preview = _parse_pairs(text, col, det, pairs)
        else:
            if det.delimiter is None:
                det.delimiter = ","
            preview = _parse_table(text, col, det, column, header)
    finally:
        csv.field_size_limit(old_limit)
    if col.rows == 0:
        raise ImportError_(f"{path.name} has no data rows (only a header?)")
    if not col.questions:
        raise ImportError_(
            f"No usable question in {path.name}: all {col.rows} rows were rejected "
            f"(first reason: {col.rejected[0].reason if col.rejected else 'unknown'})"
        )
    return ImportResult(
        path=str(path),
        detected=det,
        questions=col.questions,
        rejected=col.rejected,
        rows_total=col.rows,
        merged=col.merged,
        entries=col.entries,
        labelled_pairs=pairs,
        preview=preview,
    )
