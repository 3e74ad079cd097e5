"""Import: pick or drop a file, see what was detected, fix the sheet and column, add to the project."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.questions import ImportResult, load_questions
from .worker import GeneratorWorker

FILTER = ("Question files (*.csv *.tsv *.txt *.jsonl *.ndjson *.xlsx *.xlsm *.parquet);;"
          "Spreadsheets (*.xlsx *.xlsm);;Parquet (*.parquet);;All files (*)")
PICKS_COLUMN = ("csv", "tsv", "xlsx", "parquet")  # formats with a column to choose


class ImportTab(QWidget):
    imported = Signal(object)  # ImportInfo, after questions reach the project
    error = Signal(str)

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.result: ImportResult | None = None
        self.path: Path | None = None
        self.worker: GeneratorWorker | None = None
        self.open_button = QPushButton("Open question file…")
        self.open_button.clicked.connect(self.choose_file)
        self.column = QComboBox()
        self.column.setToolTip("The column that holds the questions")
        self.column.activated.connect(self.reload_with_column)
        self.sheet = QComboBox()
        self.sheet.setToolTip("The workbook's sheet that holds the questions")
        self.sheet.activated.connect(self.reload_with_sheet)
        self.sheet_label = QLabel("Sheet:")
        self.detected = QLabel("Drop a CSV, TSV, TXT, JSONL, Excel (.xlsx) or Parquet file here, or open one.")
        self.detected.setWordWrap(True)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.preview = QTableWidget(0, 0)
        self.rejected = QTableWidget(0, 3)
        self.rejected.setHorizontalHeaderLabels(["Line", "Reason", "Row"])
        self.rejected.horizontalHeader().setStretchLastSection(True)
        self.add_button = QPushButton("Add to project")
        self.add_button.setEnabled(False)
        self.add_button.clicked.connect(self.add_to_project)
        self.export_rejected = QPushButton("Export rejected rows…")
        self.export_rejected.setEnabled(False)
        self.export_rejected.clicked.connect(self.save_rejected)

        top = QHBoxLayout()
        top.addWidget(self.open_button)
        form = QFormLayout()
        form.addRow(self.sheet_label, self.sheet)
        form.addRow("Question column:", self.column)
        top.addLayout(form)
        self.sheet_label.hide()
        self.sheet.hide()
        top.addStretch(1)
        top.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.detected)
        layout.addWidget(QLabel("Preview (first rows as read):"))
        layout.addWidget(self.preview, 2)
        layout.addWidget(self.summary)
        rej = QHBoxLayout()
        rej.addWidget(QLabel("Rejected rows:"))
        rej.addStretch(1)
        rej.addWidget(self.export_rejected)
        layout.addLayout(rej)
        layout.addWidget(self.rejected, 1)

    def choose_file(self) -> None:
        start = self.window.settings.value("last_import_dir", str(Path.home()))
        name, _ = QFileDialog.getOpenFileName(self, "Open question file", start, FILTER)
        if name:
            self.load(Path(name))

    def load(self, path: Path, column=None, sheet: str | None = None) -> None:
        """Read the file on a worker (large files take a while), then show what was found."""
        self.path = Path(path)
        self.window.settings.setValue("last_import_dir", str(self.path.parent))
        self.detected.setText(f"Reading {self.path.name}…")
        self.add_button.setEnabled(False)
        self.worker = GeneratorWorker(lambda: load_questions(self.path, column=column, sheet=sheet))
        self.worker.finished.connect(self.show_result)
        self.worker.failed.connect(self.show_error)
        self.worker.start()

    def show_error(self, message: str) -> None:
        self.result = None
        self.detected.setText(f"<b>Cannot import {self.path.name}:</b> {message}")
        self.error.emit(message)

    def show_result(self, result: ImportResult) -> None:
        self.result = result
        det = result.detected
        where = (f"sheet {det.sheet!r} of {len(det.sheets)}" if det.sheet else
                 f"encoding {det.encoding}, delimiter {det.delimiter!r}" if det.delimiter else
                 f"encoding {det.encoding}")
        self.detected.setText(
            f"<b>{Path(result.path).name}</b>: format {det.format}, {where}, "
            f"{'with' if det.has_header else 'no'} header"
        )
        self.sheet.blockSignals(True)
        self.sheet.clear()
        self.sheet.addItems(det.sheets)
        if det.sheet in det.sheets:
            self.sheet.setCurrentIndex(det.sheets.index(det.sheet))
        self.sheet.blockSignals(False)
        self.sheet.setVisible(len(det.sheets) > 0)
        self.sheet_label.setVisible(len(det.sheets) > 0)
        self.column.blockSignals(True)
        self.column.clear()
        self.column.addItems(det.columns)
        if isinstance(det.column, int):
            self.column.setCurrentIndex(det.column)
        elif det.column in det.columns:
            self.column.setCurrentIndex(det.columns.index(det.column))
        self.column.setEnabled(det.format in PICKS_COLUMN)
        self.column.blockSignals(False)
        width = max((len(r) for r in result.preview), default=1)
        self.preview.setColumnCount(width)
        self.preview.setRowCount(len(result.preview))
        self.preview.setHorizontalHeaderLabels(det.columns[:width] if det.columns else [])
        for i, row in enumerate(result.preview):
            for j, cell in enumerate(row):
                self.preview.setItem(i, j, QTableWidgetItem(cell[:300]))
        self.summary.setText(result.summary())
        self.rejected.setRowCount(len(result.rejected))
        for i, r in enumerate(result.rejected):
            for j, value in enumerate((str(r.line), r.reason, r.raw)):
                self.rejected.setItem(i, j, QTableWidgetItem(value))
        self.export_rejected.setEnabled(bool(result.rejected))
        self.add_button.setEnabled(self.window.store is not None)

    def reload_with_column(self, index: int) -> None:
        if self.path is not None and self.result is not None:
            det = self.result.detected
            self.load(self.path, column=det.columns[index] if det.has_header else index, sheet=det.sheet)

    def reload_with_sheet(self, index: int) -> None:
        """Another sheet: its own header and question column are detected afresh."""
        if self.path is not None and self.result is not None:
            self.load(self.path, sheet=self.result.detected.sheets[index])

    def add_to_project(self) -> None:
        if self.result is None or self.window.store is None:
            return
        try:
            info = self.window.store.add_import(self.result)
        except Exception as exc:  # disk full, read-only file: say so, keep the window
            self.error.emit(f"Could not add the questions: {exc}")
            return
        note = " (this file was already imported)" if info.already_imported else ""
        self.summary.setText(
            f"{self.result.summary()}. Added {info.new_questions} new questions to the project{note}."
        )
        self.add_button.setEnabled(False)
        self.imported.emit(info)

    def save_rejected(self) -> None:
        import csv

        if self.result is None:
            return
        name, _ = QFileDialog.getSaveFileName(self, "Export rejected rows", "rejected.csv", "CSV (*.csv)")
        if name:
            from ..core.review import safe_cell

            with open(name, "w", newline="", encoding="utf-8-sig") as fh:
                w = csv.writer(fh)
                w.writerow(["line", "reason", "row"])
                for r in self.result.rejected:
                    w.writerow([r.line, safe_cell(r.reason), safe_cell(r.raw)])
