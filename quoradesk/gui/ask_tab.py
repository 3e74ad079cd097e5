"""Ask: type a new question, see the project's questions that mean the same, as you type.

Each pause in typing (DEBOUNCE_MS) asks the core's AskService on a worker thread of its own
(it holds the project's index and its own SQLite connection there); only the newest answer is
shown. Enter asks at once and, when "Enter adds it" is ticked, adds the question to the
project, so the next mining run includes it.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.review import percent
from .review_tab import explanation_html

DEBOUNCE_MS = 300


class AskRunner(QObject):
    """Lives on the Ask thread: opens the project's AskService there and answers requests.
    A request older than the newest one asked is skipped (the user typed on)."""

    opened = Signal(object)  # the service's description (dict)
    answered = Signal(int, object)  # request number, AskResult
    added = Signal(int, int)  # request number, question id
    failed = Signal(int, str)  # request number (0: opening), message

    def __init__(self):
        super().__init__()
        self.newest = 0  # written by the UI thread, read here: a plain int is atomic enough
        self._service = None
        self._store = None
        self._key = None

    @Slot(str, object)
    def open(self, path: str, options: dict) -> None:
        from ..core.store import Store

        try:
            store = Store(path, create=False)
            run = store.latest_run("done")
            # the same project, settings and run model as the open service: nothing to do
            key = (path, tuple(sorted(options.items())), run.sparse_model_key if run else None)
            if key == self._key and self._service is not None:
                store.close()
            else:
                self.close()
                from ..core.ask import AskService

                self._store = store
                self._service = AskService(self._store, **options)
                self._key = key
            s = self._service
            self.opened.emit({"questions": len(s.ids), "seconds": sum(s.open_seconds.values()),
                              "encoded": s.encoded_in_memory, "reranked": s.reranker is not None,
                              "model": s.sparse_model})
        except Exception as exc:  # a project never mined, a model that does not load: said, not raised
            self.close()
            self.failed.emit(0, str(exc) or type(exc).__name__)

    @Slot(int, str, int)
    def ask(self, number: int, text: str, top: int) -> None:
        if number < self.newest or self._service is None:
            return
        try:
            self.answered.emit(number, self._service.ask(text, top=top))
        except Exception as exc:  # AskError: empty, too long, binary; reported beside the box
            self.failed.emit(number, str(exc) or type(exc).__name__)

    @Slot(int, str)
    def add(self, number: int, text: str) -> None:
        if self._service is None:
            return
        try:
            self.added.emit(number, self._service.add(text))
        except Exception as exc:
            self.failed.emit(number, str(exc) or type(exc).__name__)

    @Slot()
    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        self._service = self._store = self._key = None


class AskTab(QWidget):
    error = Signal(str)
    # to the runner, queued onto its thread
    _open = Signal(str, object)
    _ask = Signal(int, str, int)
    _add = Signal(int, str)
    _close = Signal()

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.box = QLineEdit()
        self.box.setPlaceholderText("Type a new question: the project's questions that mean the same appear here")
        self.box.setClearButtonEnabled(True)
        self.enter_adds = QCheckBox("Enter adds it to the project")
        self.enter_adds.setChecked(window.settings.value("ask/enter_adds", "false") == "true")
        self.enter_adds.toggled.connect(lambda on: window.settings.setValue("ask/enter_adds", str(on).lower()))
        self.add_button = QPushButton("Add to project")
        self.add_button.setEnabled(False)
        self.status = QLabel("Open a project, then type a question.")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Score (duplicate?)", "Question", "Id and labels"])
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        self.why = QLabel("")
        self.why.setWordWrap(True)

        row = QHBoxLayout()
        row.addWidget(self.box, 1)
        row.addWidget(self.add_button)
        row.addWidget(self.enter_adds)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addWidget(QLabel("<b>Why it matches</b> (shared SPLADE tokens and their weight):"))
        layout.addWidget(self.why)

        self.result = None  # the AskResult shown
        self.info: dict = {}  # the open service: questions, model, ...
        self.number = 0  # of the newest request
        self.ready = threading.Event()  # the service is open for the current project
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.ask_now)
        self.box.textChanged.connect(lambda _t: self.timer.start())
        self.box.returnPressed.connect(self.enter)
        self.add_button.clicked.connect(self.add)
        self.table.currentCellChanged.connect(lambda r, *_: self.show_why(r))

        self.thread: QThread | None = None  # started on first use
        self.runner: AskRunner | None = None
        self._project: Path | None = None

    def _start_thread(self) -> None:
        self.thread = QThread()
        self.thread.setObjectName("ask")
        self.runner = AskRunner()
        self.runner.moveToThread(self.thread)
        self._open.connect(self.runner.open)
        self._ask.connect(self.runner.ask)
        self._add.connect(self.runner.add)
        self._close.connect(self.runner.close)
        self.runner.opened.connect(self.on_opened)
        self.runner.answered.connect(self.on_answered)
        self.runner.added.connect(self.on_added)
        self.runner.failed.connect(self.on_failed)
        self.thread.start()

    # ---------------------------------------------------------------- requests

    def open_project(self) -> None:
        """(Re)open the service for the window's project with the Mine tab's reranker."""
        store = self.window.store
        if store is None:
            return
        if self.thread is None:
            self._start_thread()
        mine = self.window.mine_tab
        reranker = mine.reranker.text().strip() if mine.rerank.isChecked() else None
        options = {"reranker": reranker or None, "int8": mine.rerank_int8.isChecked(), "device": "cpu"}
        self._project = store.path
        self.ready.clear()
        self.status.setText("Loading the models and the project's index…")
        self._open.emit(str(store.path), options)

    def prepare(self) -> None:
        """Open the service for the window's project unless it is open already."""
        if self.window.store is not None and self._project != self.window.store.path:
            self.open_project()

    def run_finished(self) -> None:
        """A mining run finished: the next question reopens the service if the run's model
        differs from the one it holds (the runner compares them)."""
        self._project = None
        if self.isVisible():
            self.prepare()

    def ask_now(self) -> None:
        text = self.box.text()
        if self.window.store is None:
            return
        self.prepare()
        if not text.strip():
            self._show(None)
            self.status.setText("Type a question.")
            return
        self.number += 1
        self.runner.newest = self.number
        self._ask.emit(self.number, text, 10)

    def enter(self) -> None:
        self.timer.stop()
        self.ask_now()
        if self.enter_adds.isChecked():
            self.add()

    def add(self) -> None:
        text = self.box.text()
        if text.strip() and self.runner is not None:
            self._add.emit(self.number, text)

    # ---------------------------------------------------------------- answers

    def on_opened(self, info: dict) -> None:
        self.info = info
        self.ready.set()
        note = f", {info['encoded']} encoded now" if info["encoded"] else ""
        rerank = "reranked by the CrossEncoder" if info["reranked"] else "by SPLADE similarity"
        self.status.setText(f"{info['questions']:,} questions ready ({info['seconds']:.1f}s{note}); "
                            f"matches are {rerank}.")

    def on_answered(self, number: int, result) -> None:
        if number != self.number:
            return  # the user typed on: a newer answer is coming
        self._show(result)
        found = len(result.matches)
        same = any(m.same_text for m in result.matches)
        ms = result.seconds["total"] * 1000
        self.status.setText(("The project holds this exact question. " if same else "")
                            + f"{found} similar questions ({ms:.0f} ms)." if found else
                            f"Nothing in the project shares a word with it ({ms:.0f} ms).")

    def on_added(self, _number: int, qid: int) -> None:
        self.status.setText(f"Added to the project as question #{qid}: the next mining run includes it.")
        self.window.mine_tab.refresh()

    def on_failed(self, number: int, message: str) -> None:
        if number == 0:
            self.ready.clear()
            self._project = None  # try again on the next question
            self.status.setText(f"Cannot ask this project: {message}")
        elif number == self.number:
            self._show(None)
            self.status.setText(message)

    def _show(self, result) -> None:
        self.result = result
        matches = result.matches if result is not None else []
        self.table.setRowCount(len(matches))
        for i, m in enumerate(matches):
            shown = f"{m.score:.3f}" if m.probability is None else f"{m.score:.3f} ({percent(m.probability)})"
            for col, text in enumerate((shown, m.text, m.label_summary())):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if col == 0:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(i, col, item)
        self.add_button.setEnabled(result is not None)
        if matches:
            self.table.selectRow(0)
        self.show_why(0 if matches else -1)

    def show_why(self, row: int) -> None:
        if self.result is None or not 0 <= row < len(self.result.matches):
            self.why.setText("")
            return
        m = self.result.matches[row]
        context = f"cosine {m.sparse_score:.3f} ({m.first_score:.3f} in context)"
        scores = (f"score {m.score:.3f}: reranker {m.rerank_score:.3f}, {context}"
                  if m.rerank_score is not None else context)
        self.why.setText(f"{html.escape(scores)}<br>{explanation_html(m.why)}")

    def shutdown(self) -> None:
        """Close the project's connection on its thread and stop the thread (window closing)."""
        if self.thread is None:
            return
        self._close.emit()
        self.thread.quit()
        self.thread.wait(30000)
