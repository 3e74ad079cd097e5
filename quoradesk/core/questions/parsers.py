"""Parsing decoded text into questions, one format at a time (TXT, JSONL, CSV/TSV tables,
Quora pair files), every row accounted for by the collector: accepted, merged into an
identical earlier question, or rejected with its line and a reason.
"""

from __future__ import annotations

import csv
import io
import json
import re

from .reading import column_index, has_header
from .records import (
    MAX_QUESTION_CHARS,
    QUESTION_COLUMN_NAMES,
    RAW_PREVIEW_CHARS,
    Detection,
    ImportError_,
    LabelledPair,
    Question,
    RejectedRow,
    normalise,
)

# ---------------------------------------------------------------- the collector


class Collector:
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


def split_lines(text: str) -> list[str]:
    """Lines as editors, ``wc -l`` and the csv module count them: split on CR, LF and CRLF
    only. (str.splitlines also splits on U+2028, U+0085, \\x1e and friends, which then cut a
    question, or a JSON line with such a character in a string, in two.)"""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse_txt(text: str, col: Collector) -> None:
    for lineno, line in enumerate(split_lines(text), start=1):
        col.rows += 1
        col.add(line, lineno, str(lineno), line)


def parse_jsonl(text: str, col: Collector, column: str | None) -> str | None:
    chosen = column
    for lineno, line in enumerate(split_lines(text), start=1):
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


def parse_table(
    text: str, col: Collector, det: Detection, column: str | int | None, header: bool | None
) -> list[list[str]]:
    assert det.delimiter is not None
    rows = list(_csv_rows(text, det.delimiter))
    good = [r for _, r, _ in rows if r is not None]
    det.has_header = has_header(good[:50]) if header is None else header
    header_row = good[0] if det.has_header and good else None
    det.columns = (
        [h.strip() for h in header_row]
        if header_row
        else [f"column {i + 1}" for i in range(max((len(r) for r in good[:200]), default=1))]
    )
    body_rows = rows[1:] if det.has_header and rows else rows
    sample = [r for _, r, _ in body_rows[:200] if r is not None]
    idx = column_index(column, det.columns, header_row, sample)
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


def parse_pairs(
    text: str, col: Collector, det: Detection, pairs: list[LabelledPair]
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
