"""Review: ranked pairs, a score histogram with a draggable threshold, the pair side by
side with the tokens that made it match, accept/reject/unsure from the keyboard, undo,
duplicate groups and exports."""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.review import (
    FirstView,
    ReviewSession,
    export_groups,
    export_pairs,
    export_unique,
    percent,
)
from ..core.store import Store
from .adapt_bar import AdaptBar
from .pair_table import PAGE, PairTableModel
from .threshold_bar import ThresholdBar
from .worker import GeneratorWorker


def explanation_html(why) -> str:
    """Render an ``explain.Explanation``: content tokens as chips with their weight, then the
    punctuation and function words in a quieter "also" line."""
    chips = " ".join(f"<span style='background:#e8f0fe;padding:2px'>{html.escape(t)} <b>{w:.2f}</b></span>"
                     for t, w in why.content)
    also = ", ".join(f"{html.escape(t)} {w:.2f}" for t, w in why.also)
    if also:
        chips += f"<br><span style='color:#888'>also: {also}</span>"
    return chips or "(no shared tokens)"


class ReviewTab(QWidget):
    error = Signal(str)
    loaded = Signal(int)  # a run's first view is shown (its id)
    labelled = Signal()  # a label was set or undone

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.review: ReviewSession | None = None
        self.encoder_loader: GeneratorWorker | None = None  # loads the explaining model off the UI thread
        self._load_ticket = 0  # the latest load wins: an earlier one's result is dropped
        self._loaders: set[GeneratorWorker] = set()  # every load still running
        self.model = PairTableModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setWordWrap(False)
        # Row numbers at a fixed height: sizing each to its contents asked for every header.
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(2, QHeaderView.Stretch)  # the two questions
        header.setSectionResizeMode(3, QHeaderView.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self.show_current)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.DescendingOrder)

        self.plot = pg.PlotWidget(background="w")
        self.plot.setMaximumHeight(140)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)  # scores as they are, not x0.001
        self.bars = None
        self.line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#c0392b", width=2))
        self.line.sigPositionChangeFinished.connect(lambda: self.set_threshold(self.line.value()))
        self.plot.addItem(self.line)
        self.threshold = QDoubleSpinBox(decimals=3, singleStep=0.01, minimum=-1e6, maximum=1e6)
        self.threshold.editingFinished.connect(lambda: self.set_threshold(self.threshold.value()))
        self.count = QLabel("")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter: text in either question")
        self.search.setClearButtonEnabled(True)
        self.search.returnPressed.connect(self.apply_search)
        self.search.textChanged.connect(lambda t: not t and self.apply_search())

        self.text_a = QLabel()
        self.text_b = QLabel()
        for lab in (self.text_a, self.text_b):
            lab.setWordWrap(True)
            lab.setTextFormat(Qt.PlainText)  # a question is text, never markup
            lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
            lab.setStyleSheet("QLabel { background: #f7f7f9; padding: 8px; border-radius: 4px; }")
        self.tokens = QLabel("")
        self.tokens.setWordWrap(True)
        self.scores = QLabel("")

        buttons = QHBoxLayout()
        for text, label, key in (("Accept (A)", "accepted", "A"), ("Reject (R)", "rejected", "R"),
                                 ("Unsure (U)", "unsure", "U"), ("Clear (C)", None, "C")):
            b = QPushButton(text)
            b.clicked.connect(lambda _=False, lab=label: self.set_label(lab))
            buttons.addWidget(b)
            QShortcut(QKeySequence(key), self, activated=lambda lab=label: self.set_label(lab))
        undo = QPushButton("Undo (Ctrl+Z)")
        undo.clicked.connect(self.undo)
        QShortcut(QKeySequence.Undo, self, activated=self.undo)
        buttons.addWidget(undo)
        buttons.addStretch(1)
        self.export_kind = QComboBox()
        self.export_kind.addItems(["pairs above threshold", "duplicate groups", "de-duplicated questions"])
        export_button = QPushButton("Export…")
        export_button.clicked.connect(self.export)
        buttons.addWidget(self.export_kind)
        buttons.addWidget(export_button)

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.addWidget(QLabel("<b>Question A</b>"))
        dl.addWidget(self.text_a)
        dl.addWidget(QLabel("<b>Question B</b>"))
        dl.addWidget(self.text_b)
        dl.addWidget(self.scores)
        dl.addWidget(QLabel("<b>Why they match</b> (shared SPLADE tokens and their weight):"))
        dl.addWidget(self.tokens)
        dl.addStretch(1)

        self.groups = QTreeWidget()
        self.groups.setHeaderLabels(["Group / question", "Id"])
        self.groups.header().setSectionResizeMode(0, QHeaderView.Stretch)
        views = QTabWidget()
        views.addTab(self.table, "Pairs")
        views.addTab(self.groups, "Groups")
        views.currentChanged.connect(lambda i: i == 1 and self.fill_groups())
        self.views = views
        split = QSplitter()
        split.addWidget(views)
        split.addWidget(detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)

        top = QHBoxLayout()
        top.addWidget(QLabel("Threshold:"))
        top.addWidget(self.threshold)
        top.addWidget(self.count)
        top.addStretch(1)
        top.addWidget(self.search, 1)
        self.threshold_bar = ThresholdBar(self)
        self.adapt_bar = AdaptBar(self)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.plot)
        layout.addWidget(self.threshold_bar)
        layout.addWidget(self.adapt_bar)
        layout.addWidget(split, 1)
        layout.addLayout(buttons)

    # ---------------------------------------------------------------- data

    def load(self, run_id: int | None = None, encoder=None) -> None:
        """Show a finished run (the latest if None). ``encoder``: the run's SparseEncoder when
        the caller has it in memory, so explanations need no second copy of the model.

        What the tab paints first (every score for the histogram, the counts, the first page,
        the model and the first explanation) is read on a worker thread with its own
        connection; ``loaded`` is emitted with the run's id once it shows."""
        store = self.window.store
        if store is None:
            return
        self._load_ticket += 1
        ticket, path = self._load_ticket, store.path
        threshold, search = self.window.threshold_for(store), self.search.text().strip()
        self.count.setText("Reading the run's pairs…")
        self.tokens.setText("" if encoder is not None else "(loading the model that explains the match…)")

        def read():
            with Store(path, create=False) as worker_store:
                try:
                    session = ReviewSession(worker_store, run_id, threshold=threshold, encoder=encoder)
                except LookupError:
                    return None
                session.search = search
                return session.first_view(PAGE)

        worker = GeneratorWorker(read)
        # An earlier load may still run: each worker is kept until it ends (a QThread dropped
        # while running aborts the process); only the newest one's result is shown.
        self._loaders.add(worker)
        worker.finished.connect(lambda first: (self._loaders.discard(worker), self._show_first(first, ticket)))
        worker.failed.connect(lambda message: (self._loaders.discard(worker),
                                               ticket == self._load_ticket and self.error.emit(message)))
        worker.start()

    def workers(self) -> list[GeneratorWorker]:
        """This tab's workers (the run readers, the model loader, Label next and Improve), for a closing window."""
        return [w for w in (*self._loaders, self.encoder_loader, *self.adapt_bar.workers()) if w is not None]

    def _show_first(self, first: FirstView | None, ticket: int) -> None:
        if ticket != self._load_ticket or self.window.store is None:
            return  # a later load (another run or project) is under way
        if first is None:
            self.review = None
            self.model.set_review(None)
            self.count.setText("No finished run yet: mine the project first.")
            self.tokens.setText("")
            return
        self.review = first.session.on_store(self.window.store)
        if self.bars is not None:
            self.plot.removeItem(self.bars)
        edges = first.edges
        width = float(edges[1] - edges[0])
        self.bars = pg.BarGraphItem(x=edges[:-1] + width / 2, height=first.counts, width=width * 0.9,
                                    brush="#5b8def")
        self.plot.addItem(self.bars)
        self.plot.setLabel("bottom", self.review.score_name)
        self.line.setBounds((float(edges[0]), float(edges[-1])))
        self._apply_threshold(self.review.threshold, first)  # selects the first pair: explained already
        self.threshold_bar.run_changed()
        self.loaded.emit(self.review.run.id)

    def set_threshold(self, value: float) -> None:
        if self.review is None:
            return
        self.window.settings.setValue(f"threshold/{self.window.store.path}", float(value))
        self._apply_threshold(float(value))

    def _apply_threshold(self, value: float, first: FirstView | None = None) -> None:
        self.review.threshold = value
        self.threshold_bar.back_button.hide()  # the ranked pairs, not a check's sample
        self.adapt_bar.back_button.hide()  # ... nor the pairs to label next
        self.threshold.blockSignals(True)
        self.threshold.setValue(value)
        self.threshold.blockSignals(False)
        self.line.blockSignals(True)
        self.line.setValue(value)
        self.line.blockSignals(False)
        if first is not None:
            self.model.set_review(self.review, first.rows, first.total)
            total = first.all_pairs
        else:
            self.model.set_review(self.review)
            total = self.review.count(above_threshold=False)
        p = self.review.threshold_probability()
        at = "" if p is None else f" (a pair scoring {value:.3f} is a duplicate with probability {percent(p)})"
        self.count.setText(f"{self.model.total} of {total} pairs at or above the threshold{at}")
        if self.model.rowCount():
            self.table.selectRow(0)
        if self.views.currentIndex() == 1:
            self.fill_groups()

    def apply_search(self) -> None:
        if self.review is not None:
            self.review.search = self.search.text().strip()
            self._apply_threshold(self.review.threshold)

    def show_current(self, current, _previous=None) -> None:
        row = self.model.row_at(current.row())
        if row is None:
            return
        p = row.pair
        self.text_a.setText(p.text_a)  # plain text (setTextFormat): an apostrophe stays one
        self.text_b.setText(p.text_b)
        rerank = "" if p.rerank_score is None else f"reranker {p.rerank_score:.3f}, "
        self.scores.setText(f"#{row.position}: {rerank}sparse {p.sparse_score:.3f} ({p.first_score:.3f} in context), "
                            f"label {p.label or 'none'}")
        if not self.review.encoder_loaded:
            # Loading even a small SPLADE model takes 0.1 s or more: never on the UI thread.
            self.tokens.setText("(loading the model that explains the match…)")
            self._load_encoder()
            return
        try:
            why = self.review.explain(row)
        except Exception as exc:  # a model moved away: the pair is still reviewable
            self.tokens.setText(f"(no explanation: {html.escape(str(exc))})")
            return
        self.tokens.setText(explanation_html(why))

    def _load_encoder(self) -> None:
        if self.encoder_loader is not None and self.encoder_loader.running:
            return  # one load at a time; when it ends, the current row is redrawn
        session = self.review

        def loaded(_encoder) -> None:
            if self.review is not None:  # also a run opened meanwhile: it starts its own load
                self.show_current(self.table.currentIndex())

        def failed(message: str) -> None:
            if self.review is session:
                self.tokens.setText(f"(no explanation: {html.escape(message)})")
            elif self.review is not None:
                self.show_current(self.table.currentIndex())

        self.encoder_loader = GeneratorWorker(session.encoder)
        self.encoder_loader.finished.connect(loaded)
        self.encoder_loader.failed.connect(failed)
        self.encoder_loader.start()

    # ---------------------------------------------------------------- actions

    def current_index(self) -> int:
        return self.table.currentIndex().row()

    def set_label(self, label: str | None) -> None:
        i = self.current_index()
        row = self.model.row_at(i)
        if row is None or self.review is None:
            return
        try:
            self.review.label(row, label)
        except Exception as exc:
            self.error.emit(f"Could not save the label: {exc}")
            return
        self.model.refresh_row(i)
        if i + 1 < self.model.rowCount():  # move on, as reviewers expect
            self.table.selectRow(i + 1)
        self.labelled.emit()

    def undo(self) -> None:
        if self.review is None:
            return
        pair = self.review.undo()
        if pair is None:
            return
        for i, row in enumerate(self.model.rows):
            if (row.pair.a, row.pair.b) == pair:
                row.pair.label = self.window.store.label(*pair)
                self.model.refresh_row(i)
                self.table.selectRow(i)
                break
        self.labelled.emit()

    def fill_groups(self) -> None:
        self.groups.clear()
        if self.review is None:
            return
        store = self.window.store
        for n, members in enumerate(self.review.groups()[:2000], start=1):
            item = QTreeWidgetItem([f"Group {n} ({len(members)} questions)", ""])
            for qid, text in zip(members, store.texts(members), strict=True):
                QTreeWidgetItem(item, [text, str(qid)])
            self.groups.addTopLevelItem(item)

    def export(self) -> None:
        if self.review is None:
            return
        kind = self.export_kind.currentIndex()
        default = ["pairs.csv", "groups.csv", "unique_questions.csv"][kind]
        name, _ = QFileDialog.getSaveFileName(self, "Export", default, "CSV (*.csv)")
        if name:
            self.export_to(name, kind)

    def export_to(self, path: str, kind: int = 0) -> int:
        store, run, t = self.window.store, self.review.run.id, self.review.threshold
        try:
            if kind == 0:
                n = export_pairs(store, run, path, min_score=t)
            elif kind == 1:
                n = export_groups(store, run, path, t)
            else:
                n = export_unique(store, run, path, t)
        except OSError as exc:
            self.error.emit(f"Could not write {path}: {exc.strerror or exc}")
            return 0
        self.window.statusBar().showMessage(f"Wrote {n} rows to {path}", 8000)
        return n
