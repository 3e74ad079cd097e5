"""Spreadsheets (.xlsx) and columnar files (.parquet): read as rows of cells and parsed like a
table, every row accounted for, with the same preview and reject report as a CSV file.

Usage (what ``questions.load_questions`` does for these files)::

    kind = sheet_kind(path)                       # "xlsx", "parquet" or None
    preview = parse_xlsx(path, col, det, column=None, sheet=None)
    preview = parse_parquet(path, col, det, column=None)

``.xlsx`` is read with openpyxl in read-only mode (streamed, so a big sheet is not held in
memory) with ``data_only=True``: a formula cell gives the value Excel saved, never the formula.
Rows keep the spreadsheet's own numbers (row 1 is the header row), so a rejected row's line is
the row a user sees in Excel. ``.parquet`` is read with pyarrow a batch at a time, and only the
question column after the first rows; its lines are data rows counted from 1.

A file that cannot be read at all raises :class:`ImportError_` before anything is parsed: a
workbook that is encrypted or an old ``.xls``, a damaged zip or Parquet file, a missing sheet,
a zip that would unpack to far more than it holds (a zip bomb), XML entity tricks (defusedxml).
"""

from __future__ import annotations

import datetime as dt
import itertools
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from .parsers import Collector
from .reading import column_index, has_header
from .records import Detection, ImportError_

XLSX_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".parq")
ZIP_MAGIC, OLE2_MAGIC, PARQUET_MAGIC = b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"PAR1"
# A workbook unpacks to many times its size (XML compresses well: 5 to 20 times seen), but one
# that unpacks past these limits is a zip bomb, not a question list (Excel's own limit, a
# million rows of long questions, stays well under them).
MAX_UNPACKED_BYTES = 2 * 1024**3
MAX_RATIO = 200  # for a member larger than RATIO_FROM
RATIO_FROM = 64 * 1024**2
SAMPLE_ROWS = 200  # rows that decide the header and the question column
BATCH_ROWS = 65_536  # Parquet rows read at a time


@dataclass(frozen=True)
class NotText:
    """A cell that holds no text (binary data, a list, a struct): rejected if it is the question."""

    reason: str


def sheet_kind(path: Path) -> str | None:
    """"xlsx" or "parquet" by the file's first bytes (then its extension); None for text files.
    Raises ImportError_ for the spreadsheet files this app cannot read (.xls, encrypted)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return None  # read_bytes() reports it
    if not head:
        return None  # empty: reported as such
    suffix = path.suffix.lower()
    if head == PARQUET_MAGIC:
        return "parquet"
    if head == OLE2_MAGIC and (suffix in XLSX_SUFFIXES or suffix in (".xls", ".xlsb", ".xlt")):
        raise ImportError_(
            f"{path.name} is an encrypted (password-protected) workbook or an old Excel .xls file: "
            "open it in your spreadsheet program and save it without a password as .xlsx or CSV")
    if suffix == ".xls":
        raise ImportError_(f"{path.name}: old Excel .xls files cannot be read; save it as .xlsx or CSV")
    if head == ZIP_MAGIC and (suffix in XLSX_SUFFIXES or _is_workbook_zip(path)):
        return "xlsx"
    if suffix in XLSX_SUFFIXES:
        raise ImportError_(f"{path.name} is not an Excel workbook (.xlsx files are zip archives; "
                           "this one is not): it may be damaged or renamed")
    if suffix in PARQUET_SUFFIXES:
        raise ImportError_(f"{path.name} is not a Parquet file (it does not start with PAR1): "
                           "it may be damaged or renamed")
    return None


def _is_workbook_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return "xl/workbook.xml" in zf.namelist()
    except Exception:  # noqa: BLE001 - zipfile raises many kinds on a damaged directory
        return False


def cell_text(value) -> str | NotText | None:
    """A cell as the text a user would see in it (None: an empty cell)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return NotText("binary data, not text")
        return text if "\x00" not in text else NotText("binary data, not text")
    if isinstance(value, (list, tuple, dict)):
        return NotText(f"a {type(value).__name__} of values, not text")
    return str(value)


def _shown(cell) -> str:
    return "" if cell is None else f"<{cell.reason}>" if isinstance(cell, NotText) else cell


def _raw(cells: list) -> str:
    return "\t".join(map(_shown, cells))


def _blank(cells: list) -> bool:
    return not any(c is not None and (isinstance(c, NotText) or c.strip()) for c in cells)


def _choose_column(det: Detection, sample: list[tuple[int, list]], column, header,
                   names: list[str] | None = None) -> tuple[int, int, list[list[str]]]:
    """Decide the header and the question column from the first rows. ``names``: the column
    names the file declares (Parquet); otherwise the first non-empty row may be a header.
    Returns (column index, first body line, preview rows)."""
    shown = [(line, [_shown(c) for c in cells]) for line, cells in sample if not _blank(cells)]
    if names is not None:
        det.has_header, header_row, first_body = True, names, 1
    else:
        det.has_header = has_header([r for _, r in shown[:50]]) if header is None else header
        header_row = shown[0][1] if det.has_header and shown else None
        first_body = shown[0][0] + 1 if header_row is not None else 1
    body = [r for line, r in shown if line >= first_body]
    width = max((len(r) for _, r in shown), default=1)
    det.columns = ([h.strip() or f"column {i + 1}" for i, h in enumerate(header_row)] if header_row
                   else [f"column {i + 1}" for i in range(width)])
    idx = column_index(column, det.columns, header_row, body)
    if not 0 <= idx < len(det.columns):
        raise ImportError_(f"Column {idx + 1} does not exist; the file has {len(det.columns)}")
    det.column = det.columns[idx] if header_row is not None else idx
    return idx, first_body, [r for _, r in shown[:6]]


def _add_rows(col: Collector, rows: Iterable[tuple[int, list]], idx: int, *, skip_blank: bool) -> None:
    for line, cells in rows:
        if skip_blank and _blank(cells):
            continue  # an empty spreadsheet row: not a row (sheets are full of them)
        col.rows += 1
        cell = cells[idx] if idx < len(cells) else None
        if isinstance(cell, NotText):
            col.reject(line, f"the question cell holds {cell.reason}", _raw(cells))
        else:
            col.add(cell, line, str(line), _raw(cells))


# ---------------------------------------------------------------- .xlsx


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
    except Exception as exc:  # noqa: BLE001 - BadZipFile, NotImplementedError, struct.error... (fuzzed)
        raise ImportError_(f"{path.name} is a damaged workbook ({type(exc).__name__}: {exc})") from exc
    total = sum(m.file_size for m in members)
    bomb = next((m for m in members if m.file_size > RATIO_FROM
                 and m.file_size > MAX_RATIO * max(1, m.compress_size)), None)
    if total > MAX_UNPACKED_BYTES or bomb is not None:
        raise ImportError_(
            f"{path.name} would unpack to {total / 1024**2:,.0f} MB from {path.stat().st_size / 1024**2:,.1f} MB: "
            "refused as a zip bomb. Export the questions as CSV instead")


def parse_xlsx(path: Path, col: Collector, det: Detection, column=None, sheet: str | None = None,
               header: bool | None = None) -> list[list[str]]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    _check_zip(path)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as exc:
        raise ImportError_(f"{path.name} is not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from exc
    except Exception as exc:  # noqa: BLE001 - defusedxml's refusals, lxml errors: all "unreadable"
        raise ImportError_(f"{path.name} could not be read as a workbook ({type(exc).__name__}: {exc})") from exc
    try:
        det.sheets = list(book.sheetnames)
        if sheet is None:
            worksheet = book.active if book.active is not None and hasattr(book.active, "iter_rows") \
                else book.worksheets[0]
        elif sheet in det.sheets:
            worksheet = book[sheet]
        else:
            raise ImportError_(f"No sheet named {sheet!r}; the workbook has: {', '.join(det.sheets)}")
        det.sheet = worksheet.title
        if not hasattr(worksheet, "iter_rows"):
            raise ImportError_(f"Sheet {det.sheet!r} is a chart, not a table of questions")
        rows = ((i, [cell_text(v) for v in values])
                for i, values in enumerate(worksheet.iter_rows(values_only=True), start=1))
        try:
            sample = list(islice(rows, SAMPLE_ROWS))
            idx, first_body, preview = _choose_column(det, sample, column, header)
            body = (r for r in itertools.chain(sample, rows) if r[0] >= first_body)
            _add_rows(col, body, idx, skip_blank=True)
        except ImportError_:
            raise
        except Exception as exc:  # noqa: BLE001 - a sheet damaged past its first rows
            raise ImportError_(f"{path.name}: sheet {det.sheet!r} is damaged ({type(exc).__name__}: {exc})") from exc
    finally:
        book.close()
    return preview


# ---------------------------------------------------------------- .parquet


def parse_parquet(path: Path, col: Collector, det: Detection, column=None) -> list[list[str]]:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        names = list(file.schema_arrow.names)
        first = []  # the first rows, all columns (a batch stops at its row group's end)
        for batch in file.iter_batches(batch_size=SAMPLE_ROWS):
            first += batch.to_pylist()
            if len(first) >= SAMPLE_ROWS:
                break
    except Exception as exc:  # noqa: BLE001 - ArrowInvalid, OSError, ValueError... on damaged bytes
        raise ImportError_(f"{path.name} is a damaged or unreadable Parquet file ({exc})") from exc
    if not names:
        raise ImportError_(f"{path.name} has no columns")
    sample = [(i, [cell_text(v) for v in row.values()]) for i, row in enumerate(first[:SAMPLE_ROWS], start=1)]
    idx, _, preview = _choose_column(det, sample, column, True, names=names)

    def question_cells():
        line = 0
        try:
            for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=[names[idx]]):
                for value in batch.column(0).to_pylist():
                    line += 1
                    yield line, [cell_text(value)]
        except Exception as exc:  # noqa: BLE001 - as above, past the first rows
            raise ImportError_(f"{path.name} is damaged after row {line:,} ({exc})") from exc

    # Every Parquet row is a row, an empty question cell included: it is rejected, not skipped.
    _add_rows(col, question_cells(), 0, skip_blank=False)
    return preview
