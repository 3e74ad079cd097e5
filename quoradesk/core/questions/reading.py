"""Reading a question file's bytes: binary and encoding checks, decoding with the damaged
lines counted, and guessing the format, delimiter, header and question column from a sample.

Usage (what ``questions.load_questions`` does first)::

    text, encoding, damaged_lines = decode(read_bytes(path))
    fmt, delimiter = guess_format(path, text)
"""

from __future__ import annotations

import csv
from pathlib import Path

from .records import QUESTION_COLUMN_NAMES, QUORA_PAIR_HEADERS, SNIFF_BYTES, ImportError_

# ---------------------------------------------------------------- reading and decoding


def read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ImportError_(f"No such file: {path}")
    if path.is_dir():
        raise ImportError_(f"{path} is a folder, not a question file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImportError_(f"Cannot read {path}: {exc.strerror or exc}") from exc


def looks_binary(data: bytes) -> bool:
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


def guess_format(path: Path, text: str) -> tuple[str, str | None]:
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


def has_header(rows: list[list[str]]) -> bool:
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


def column_index(column: str | int | None, columns: list[str], header: list[str] | None,
                 rows: list[list[str]]) -> int:
    """The question column's index: detected (``column`` None), given by number, or by name
    (case-insensitive; a name the file lacks is an ImportError_ listing the ones it has)."""
    if column is None:
        return pick_column(header, rows)
    if isinstance(column, int):
        return column
    names = [c.lower() for c in columns]
    if column.lower() not in names:
        raise ImportError_(f"No column named {column!r}; the file has: {', '.join(columns)}")
    return names.index(column.lower())


def pick_column(header: list[str] | None, rows: list[list[str]]) -> int:
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
