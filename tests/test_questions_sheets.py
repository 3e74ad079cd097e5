"""Spreadsheets (.xlsx) and Parquet files: imported with the same accounting as CSV (every row
accepted, merged or rejected with its line), the sheet and column pickers, and bad files
refused with a clear message and nothing written. Fuzzed like the CSV path: generated cells,
and valid files with random bytes changed."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from test_questions_fuzz import check

from quoradesk.core.questions import ImportError_, load_questions
from quoradesk.core.store import Store


def workbook(path: Path, sheets: dict[str, list[list]], active: int = 0) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.active = active
    book.save(path)
    return path


FAQ = [
    ["id", "Question", "Asked on", "Votes"],
    [1, "How do I reset my password?", dt.date(2024, 1, 2), 3],
    [],  # an empty row: skipped, like a blank line
    [2, None, None, 1],  # no question: rejected with its row number
    [3, "How can I change my password?", dt.date(2024, 2, 1), 2.0],
    [4, "How do I reset my password?", None, 0],  # merged into row 2
    [5, "x" * 40_000, None, 0],  # a huge cell: rejected, not truncated
]


def test_xlsx_sheet_rows_keep_their_numbers(tmp_path):
    path = workbook(tmp_path / "book.xlsx", {"Notes": [["just a note"]], "FAQ": FAQ}, active=1)
    result = load_questions(path)
    det = result.detected
    assert (det.format, det.sheet, det.sheets) == ("xlsx", "FAQ", ["Notes", "FAQ"])  # the active sheet
    assert det.has_header and det.column == "Question" and det.columns[:2] == ["id", "Question"]
    assert [q.text for q in result.questions] == ["How do I reset my password?", "How can I change my password?"]
    assert result.questions[0].sources == ["2", "6"]  # Excel's row numbers
    assert [(r.line, r.reason.split(" (")[0]) for r in result.rejected] == [
        (4, "no question in this row"), (7, "question too long")]
    assert result.rows_total == 5 and result.merged == 1
    assert result.preview[0] == ["id", "Question", "Asked on", "Votes"]
    assert result.preview[1] == ["1", "How do I reset my password?", "2024-01-02T00:00:00", "3"]
    other = load_questions(path, sheet="Notes")
    assert other.detected.sheet == "Notes" and [q.text for q in other.questions] == ["just a note"]
    by_column = load_questions(path, sheet="FAQ", column="votes")
    assert [q.text for q in by_column.questions] == ["3", "1", "2", "0"]


def test_xlsx_formula_cells_give_their_saved_values(tmp_path):
    """A formula's value as Excel saved it, never the formula's text."""
    path = workbook(tmp_path / "f.xlsx", {"Q": [["question"], ["=CONCAT(\"How do I \",\"sleep?\")"],
                                               ["How do I cook rice?"]]})
    # openpyxl writes formulas without a value; Excel writes both: add the value Excel would.
    with zipfile.ZipFile(path) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    assert "<v></v>" in xml or "<v />" in xml
    xml = xml.replace('<c r="A2">', '<c r="A2" t="str">').replace("<v></v>", "<v>How do I sleep?</v>") \
        .replace("<v />", "<v>How do I sleep?</v>")
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    result = load_questions(path)
    assert [q.text for q in result.questions] == ["How do I sleep?", "How do I cook rice?"]


def test_parquet_columns_of_every_kind(tmp_path):
    table = pa.table({
        "id": pa.array([1, 2, 3, 4, 5, 6]),
        "text": pa.array(["How do I sleep?", None, "How to sleep better?", "", "How do I sleep?", "Why?"],
                         pa.large_string()),
        "blob": pa.array([b"\x00\x01\xff", b"What is love?", None, b"a", b"b", b"c"], pa.binary()),
        "tags": pa.array([["a"], [], None, ["b"], ["c"], ["d"]], pa.list_(pa.string())),
        "kind": pa.array(["x", "y", "x", "y", "x", "y"]).dictionary_encode(),
    })
    path = tmp_path / "q.parquet"
    pq.write_table(table, path, row_group_size=2)
    result = load_questions(path)
    assert (result.detected.format, result.detected.column) == ("parquet", "text")
    assert result.detected.columns == ["id", "text", "blob", "tags", "kind"]
    assert [q.text for q in result.questions] == ["How do I sleep?", "How to sleep better?", "Why?"]
    assert [(r.line, r.reason) for r in result.rejected] == [(2, "no question in this row"), (4, "empty question")]
    assert result.rows_total == 6 and result.merged == 1  # every row counted, null ones included
    assert len(result.preview) == 6 and result.preview[0][2:4] == ["<binary data, not text>",
                                                                  "<a list of values, not text>"]
    blob = load_questions(path, column="blob")  # UTF-8 bytes are text; other bytes are not
    assert [q.text for q in blob.questions] == ["What is love?", "a", "b", "c"]
    assert blob.rejected[0].line == 1 and "binary data" in blob.rejected[0].reason
    with pytest.raises(ImportError_, match="all 6 rows were rejected .first reason: the question cell holds a list"):
        load_questions(path, column="tags")
    with pytest.raises(ImportError_, match="No column named 'nope'; the file has: id, text"):
        load_questions(path, column="nope")


def test_parquet_reads_a_large_file_a_batch_at_a_time(tmp_path):
    n = 150_000
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"question": [f"Question number {i}?" for i in range(n)]}), path)
    result = load_questions(path)
    assert result.accepted == n and result.rows_total == n and not result.rejected


# ---------------------------------------------------------------- bad files


def zip_bomb(path: Path) -> Path:
    """A tiny .xlsx-shaped zip whose sheet unpacks to 300 MB of spaces."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            block = b" " * (1024 * 1024)
            for _ in range(300):
                fh.write(block)
    return path


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, dict, str]]:
    good = workbook(tmp_path / "good.xlsx", {"FAQ": FAQ})
    truncated = tmp_path / "truncated.xlsx"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    encrypted = tmp_path / "secret.xlsx"  # what Excel writes for a password-protected workbook
    encrypted.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096))
    renamed = tmp_path / "notes.xlsx"
    renamed.write_text("How do I sleep?\n")
    parquet = tmp_path / "q.parquet"
    pq.write_table(pa.table({"q": ["How do I sleep?"] * 100}), parquet)
    broken_parquet = tmp_path / "broken.parquet"
    broken_parquet.write_bytes(parquet.read_bytes()[:-20])
    return {
        "truncated workbook": (truncated, {}, "damaged workbook"),
        "encrypted workbook": (encrypted, {}, "encrypted"),
        "old .xls": (tmp_path / "old.xls", {}, ".xls"),
        "not a workbook": (renamed, {}, "not an Excel workbook"),
        "missing sheet": (good, {"sheet": "Nope"}, "No sheet named 'Nope'; the workbook has: FAQ"),
        "zip bomb": (zip_bomb(tmp_path / "bomb.xlsx"), {}, "zip bomb"),
        "damaged parquet": (broken_parquet, {}, "damaged or unreadable Parquet"),
        "sheet of a csv": (tmp_path / "a.csv", {"sheet": "FAQ"}, "not an Excel workbook"),
    }


def test_bad_files_are_refused_with_a_clear_message(tmp_path):
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))
    (tmp_path / "a.csv").write_text("question\nHow do I sleep?\n")
    for name, (path, kw, message) in bad_files(tmp_path).items():
        with pytest.raises(ImportError_) as info:
            load_questions(path, **kw)
        assert message in str(info.value), (name, str(info.value))


def test_cli_refuses_a_bad_workbook_and_writes_nothing(tmp_path):
    db = tmp_path / "p.sqlite"
    with Store(db) as s:
        before = s.question_count(), len(s.imports())
    bomb = zip_bomb(tmp_path / "bomb.xlsx")
    out = subprocess.run([sys.executable, "-m", "quoradesk", "import", str(bomb), "--db", str(db)],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert out.returncode == 2 and "zip bomb" in out.stderr and "Traceback" not in out.stderr
    with Store(db, create=False) as s:
        assert (s.question_count(), len(s.imports())) == before


def test_each_sheet_of_a_workbook_is_its_own_import(tmp_path):
    path = workbook(tmp_path / "book.xlsx", {"FAQ": FAQ, "More": [["question"], ["Is tea healthy?"]]})
    with Store(tmp_path / "p.sqlite") as s:
        first = s.add_import(load_questions(path, sheet="FAQ"))
        second = s.add_import(load_questions(path, sheet="More"))
        again = s.add_import(load_questions(path, sheet="More"))
        assert not first.already_imported and not second.already_imported and again.already_imported
        assert s.question_count() == 3
        assert [i["column_name"] for i in s.imports()] == ["FAQ!Question", "More!question"]


# ---------------------------------------------------------------- fuzz

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
cell = st.one_of(
    st.none(), st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.text(max_size=60).map(lambda t: ILLEGAL_CHARACTERS_RE.sub("", t)),
    st.sampled_from(["", " ", "?", "How do I sleep?", "=1+1", "#N/A", "\u2028", "é" * 40]),
)
rows = st.lists(st.lists(cell, max_size=5), max_size=40)


@FUZZ
@given(rows=rows)
def test_generated_workbooks_account_for_every_row(rows):
    import io

    buf = io.BytesIO()
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(buf)
    check(buf.getvalue(), ".xlsx")


@FUZZ
@given(texts=st.lists(st.one_of(st.none(), st.text(max_size=60), st.binary(max_size=20)), max_size=60),
       binary=st.booleans())
def test_generated_parquet_accounts_for_every_row(texts, binary):
    import io

    if binary:
        values = pa.array([t.encode("utf-8", "surrogatepass") if isinstance(t, str) else t for t in texts], pa.binary())
    else:
        values = pa.array([t if not isinstance(t, bytes) else t.hex() for t in texts], pa.string())
    buf = io.BytesIO()
    pq.write_table(pa.table({"question": values}), buf)
    result = check(buf.getvalue(), ".parquet")
    if result is not None:
        assert result.rows_total == len(texts)  # null rows counted too


@pytest.mark.parametrize("kind", ["xlsx", "parquet"])
def test_valid_files_with_random_bytes_changed(tmp_path, kind):
    """500 damaged copies each: refused with ImportError_ or imported with every row
    accounted for; never another exception."""
    if kind == "xlsx":
        source = workbook(tmp_path / "good.xlsx", {"FAQ": FAQ}).read_bytes()
    else:
        path = tmp_path / "good.parquet"
        pq.write_table(pa.table({"q": ["How do I sleep?", None, "Why?"] * 30, "n": list(range(90))}), path)
        source = path.read_bytes()
    rng = random.Random(7)
    outcomes = {"refused": 0, "imported": 0}
    for _ in range(500):
        data = bytearray(source)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        outcomes["imported" if check(bytes(data), f".{kind}") else "refused"] += 1
    print(f"\n{kind}: {outcomes}")
    assert outcomes["refused"] > 0


# ---------------------------------------------------------------- the Import tab


def test_import_tab_picks_a_sheet_and_adds_it(qtbot, window, tmp_path):
    path = workbook(tmp_path / "book.xlsx", {"Notes": [["just a note"]], "FAQ": FAQ})
    window.open_project(tmp_path / "p.sqlite")
    tab = window.import_tab
    tab.load(path)
    qtbot.waitUntil(lambda: tab.result is not None, timeout=30000)
    assert tab.sheet.isVisible() and [tab.sheet.itemText(i) for i in range(tab.sheet.count())] == ["Notes", "FAQ"]
    assert tab.result.detected.sheet == "Notes" and tab.column.isEnabled()
    first = tab.result
    tab.sheet.activated.emit(1)  # the user picks FAQ
    qtbot.waitUntil(lambda: tab.result is not first and tab.result is not None, timeout=30000)
    assert tab.result.detected.sheet == "FAQ" and tab.sheet.currentText() == "FAQ"
    assert tab.column.currentText() == "Question" and "sheet 'FAQ' of 2" in tab.detected.text()
    assert tab.rejected.rowCount() == 2 and tab.rejected.item(0, 0).text() == "4"
    tab.add_to_project()
    assert window.store.question_count() == 2
    parquet = tmp_path / "q.parquet"
    pq.write_table(pa.table({"question": ["Is tea healthy?", "Is green tea healthy?"]}), parquet)
    done = tab.result
    tab.load(parquet)
    qtbot.waitUntil(lambda: tab.result is not done and tab.result is not None, timeout=30000)
    assert not tab.sheet.isVisible() and tab.result.detected.format == "parquet"
    tab.add_to_project()
    assert window.store.question_count() == 4
