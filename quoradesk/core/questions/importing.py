"""Read a user's question file into clean, de-duplicated questions, accounting for every row.

Formats: CSV, TSV, TXT (one question a line), JSONL, Excel workbooks (.xlsx: any sheet),
Parquet, the Quora release TSV (``id qid1 qid2 question1 question2 is_duplicate``), the Kaggle
CSV (same columns, or ``test_id question1 question2``) and the 4-column split
``label q1 q2 pair_id``.

Usage::

    from quoradesk.core.questions import load_questions

    result = load_questions("questions.csv")          # everything detected
    result = load_questions("x.csv", column="title")   # overrides: column, encoding, delimiter, fmt
    result = load_questions("book.xlsx", sheet="FAQ")  # a workbook's sheet (default: the active one)
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
import sys
from pathlib import Path

from .parsers import (
    Collector,
    parse_jsonl,
    parse_pairs,
    parse_table,
    parse_txt,
    split_lines,
)
from .reading import decode, guess_format, looks_binary, read_bytes
from .records import (
    FORMATS,
    SHEET_FORMATS,
    Detection,
    ImportError_,
    ImportResult,
    LabelledPair,
)
from .sheets import parse_parquet, parse_xlsx, sheet_kind


def load_questions(
    path: str | Path,
    *,
    column: str | int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    fmt: str | None = None,
    header: bool | None = None,
    sheet: str | None = None,
) -> ImportResult:
    """Read a question file. Every override left as None is detected."""
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise ImportError_(f"Unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    kind = fmt if fmt in SHEET_FORMATS else sheet_kind(path) if fmt is None and path.is_file() else None
    if sheet is not None and kind != "xlsx":
        raise ImportError_(f"{path.name} is not an Excel workbook: a sheet can only be chosen in an .xlsx file")
    if kind is not None:
        return _load_cells(path, kind, column, header, sheet)
    data = read_bytes(path)
    if not data.strip():
        raise ImportError_(f"{path.name} is empty")
    if encoding is None and looks_binary(data):
        raise ImportError_(
            f"{path.name} looks like a binary file, not text (CSV, TSV, TXT, JSONL, .xlsx or Parquet expected)"
        )
    text, used_encoding, damaged = decode(data, encoding)
    guessed_fmt, guessed_delim = guess_format(path, text)
    fmt = fmt or guessed_fmt
    if delimiter is None:
        delimiter = guessed_delim if fmt == guessed_fmt else {"tsv": "\t", "csv": ","}.get(fmt)
        if fmt in ("quora-split",):
            delimiter = "\t"
    det = Detection(format=fmt, encoding=used_encoding, delimiter=delimiter, damaged_lines=damaged)
    col = Collector()
    pairs: list[LabelledPair] = []
    preview: list[list[str]] = []
    old_limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)  # long fields are rejected per row, not per file
    try:
        if fmt == "txt":
            det.delimiter = None
            det.columns = ["question"]
            det.column = 0
            parse_txt(text, col)
            preview = [[ln] for ln in split_lines(text)[:5]]
        elif fmt == "jsonl":
            det.column = parse_jsonl(text, col, column if isinstance(column, str) else None)
        elif fmt in ("quora-pairs", "quora-split"):
            preview = parse_pairs(text, col, det, pairs)
        else:
            if det.delimiter is None:
                det.delimiter = ","
            preview = parse_table(text, col, det, column, header)
    finally:
        csv.field_size_limit(old_limit)
    return _result(path, det, col, pairs, preview)


def _load_cells(path: Path, kind: str, column, header, sheet) -> ImportResult:
    """A workbook's sheet or a Parquet file, parsed cell by cell (questions.sheets)."""
    if not path.is_file():
        read_bytes(path)  # says what is wrong: no such file, a folder
    det = Detection(format=kind, encoding="utf-8")  # both keep their text as UTF-8 inside
    col = Collector()
    if kind == "xlsx":
        preview = parse_xlsx(path, col, det, column, sheet, header)
    else:
        preview = parse_parquet(path, col, det, column)
    return _result(path, det, col, [], preview)


def _result(path: Path, det: Detection, col: Collector, pairs: list[LabelledPair],
            preview: list[list[str]]) -> ImportResult:
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
