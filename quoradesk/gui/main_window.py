"""The main window: projects, the four tabs, drag-and-drop and an error banner."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core import models
from ..core.resources import SAMPLE_QUESTIONS as SAMPLE
from ..core.resources import user_data_dir
from ..core.store import (
    ProjectError,
    Store,
    check_project,
    journal_path,
    pending_upgrade,
    repair_project,
)
from .ask_tab import AskTab
from .import_tab import ImportTab
from .mine_tab import MineTab
from .review_tab import ReviewTab
from .train_tab import TrainTab
from .worker import GeneratorWorker

APP = "QuoraDesk"
MAX_RECENT = 8
# An old project with at least this many pairs is upgraded on a worker (about 0.5 s of work:
# Store._migrate takes 0.74 s per 145,000 pairs); a smaller one opens at once.
UPGRADE_ON_WORKER = 100_000


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings(APP, APP)
        self.store: Store | None = None
        self.upgrading: Path | None = None  # an old project being upgraded on a worker
        self.upgrade_worker: GeneratorWorker | None = None
        self.setAcceptDrops(True)
        self.resize(1200, 800)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel { background: #f8d7da; color: #721c24; padding: 8px; }")
        self.banner_close = QPushButton("Dismiss")
        self.banner_close.clicked.connect(self.hide_error)
        # Shown with a damaged project's message: recover what is readable into a new file.
        self.banner_repair = QPushButton("Repair…")
        self.banner_repair.clicked.connect(self.repair_dialog)
        self.banner_repair.hide()
        self.damaged: Path | None = None  # the damaged project the banner speaks of
        self.checks: set[GeneratorWorker] = set()  # every check still running (one per open)
        self.repair_worker: GeneratorWorker | None = None
        banner_row = QHBoxLayout()
        banner_row.addWidget(self.banner, 1)
        banner_row.addWidget(self.banner_repair)
        banner_row.addWidget(self.banner_close)
        self.banner_box = QWidget()
        self.banner_box.setLayout(banner_row)
        self.banner_box.hide()

        self.tabs = QTabWidget()
        self.import_tab = ImportTab(self)
        self.mine_tab = MineTab(self)
        self.review_tab = ReviewTab(self)
        self.train_tab = TrainTab(self)
        self.ask_tab = AskTab(self)
        self.tabs.addTab(self.import_tab, "Import")
        self.tabs.addTab(self.mine_tab, "Mine")
        self.tabs.addTab(self.review_tab, "Review")
        self.tabs.addTab(self.ask_tab, "Ask")
        self.tabs.addTab(self.train_tab, "Train")
        for tab in (self.import_tab, self.mine_tab, self.review_tab, self.train_tab, self.ask_tab):
            tab.error.connect(self.show_error)
        self.import_tab.imported.connect(lambda _info: (self.mine_tab.refresh(), self.tabs.setCurrentWidget(self.mine_tab)))
        self.mine_tab.finished.connect(self.mining_done)
        # The Ask tab loads its models and index as soon as it is shown, not at the first word.
        self.tabs.currentChanged.connect(
            lambda _i: self.tabs.currentWidget() is self.ask_tab and self.ask_tab.prepare())
        self.train_tab.use_for_mining.connect(self.use_trained_model)
        # The model libraries load in the background once the window is up (see
        # models.preload_libraries); a run started before they are ready just imports them.
        self.libraries_loaded = threading.Event()
        QTimer.singleShot(0, self._preload_libraries)

        self.welcome = self._welcome()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.tabs)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner_box)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self._menus()
        self.update_title()
        self.statusBar().showMessage("Ready")

    # ---------------------------------------------------------------- chrome

    def _welcome(self) -> QWidget:
        w = QWidget()
        v = QVBoxLayout(w)
        v.addStretch(1)
        title = QLabel("<h1>QuoraDesk</h1><p>Find the questions in your file that mean the same thing.</p>")
        title.setAlignment(Qt.AlignCenter)
        v.addWidget(title)
        row = QHBoxLayout()
        row.addStretch(1)
        sample = QPushButton("Open the sample")
        sample.clicked.connect(self.open_sample)
        mine = QPushButton("Import your questions…")
        mine.clicked.connect(self.import_questions)
        opened = QPushButton("Open a project…")
        opened.clicked.connect(self.open_project_dialog)
        for b in (sample, mine, opened):
            b.setMinimumHeight(40)
            row.addWidget(b)
        row.addStretch(1)
        v.addLayout(row)
        v.addStretch(2)
        return w

    def _menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        for text, slot, key in (
            ("&New project…", self.new_project_dialog, QKeySequence.New),
            ("&Open project…", self.open_project_dialog, QKeySequence.Open),
            ("Open the &sample", self.open_sample, None),
            ("&Check project", self.check_current, None),
            ("&Repair a project…", self.repair_dialog, None),
        ):
            action = QAction(text, self)
            if key is not None:
                action.setShortcut(key)
            action.triggered.connect(slot)
            menu.addAction(action)
        self.recent_menu = menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.Quit)
        quit_action.triggered.connect(self.close)
        menu.addAction(quit_action)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent():
            action = QAction(path, self)
            action.triggered.connect(lambda _=False, p=path: self.open_project(Path(p)))
            self.recent_menu.addAction(action)

    def recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def update_title(self) -> None:
        name = self.store.path.name if self.store else "no project"
        self.setWindowTitle(f"{name} — QuoraDesk")

    def show_error(self, message: str) -> None:
        self.banner.setText(message)
        self.banner_box.show()

    def hide_error(self) -> None:
        self.banner_box.hide()
        self.banner_repair.hide()

    # ---------------------------------------------------------------- damaged projects

    def check_in_background(self, path: Path, *, say_healthy: bool = False) -> None:
        """SQLite's quick check of ``path`` on a worker (it reads the whole file: about
        ``docs/benchmarks.md``'s figure at 100,000 questions); a damaged file gets the banner
        with Repair."""
        path = Path(path)
        worker = GeneratorWorker(lambda: check_project(path))

        def done(report) -> None:
            if not report.healthy:
                self.show_damaged(path, "; ".join(report.problems[:3]))
            elif say_healthy:
                self.statusBar().showMessage(f"{path.name} is healthy ({report.counts.get('questions', 0):,} questions)", 8000)

        # Kept until it ends: a worker dropped while its thread runs would take the thread down.
        worker.finished.connect(lambda report: (self.checks.discard(worker), done(report)))
        worker.failed.connect(lambda message: (self.checks.discard(worker), self.show_error(message)))
        self.checks.add(worker)
        worker.start()

    def check_current(self) -> None:
        if self.store is not None:
            self.check_in_background(self.store.path, say_healthy=True)

    def show_damaged(self, path: Path, problem: str) -> None:
        self.damaged = Path(path)
        self.show_error(f"{self.damaged.name} is damaged ({problem}). Your labels are also kept in "
                        f"{journal_path(self.damaged).name} beside it. Repair recovers what is readable "
                        f"into a new project; the damaged file is left as it is.")
        self.banner_repair.show()

    def repair_dialog(self) -> None:
        source = self.damaged or (self.store.path if self.store is not None else None)
        if source is None:
            source, _ = QFileDialog.getOpenFileName(self, "Project to repair", "", "QuoraDesk projects (*.sqlite)")
            if not source:
                return
        source = Path(source)
        out, _ = QFileDialog.getSaveFileName(self, "Save the recovered project as",
                                             str(source.with_name(source.stem + "-recovered.sqlite")),
                                             "QuoraDesk projects (*.sqlite)")
        if out:
            self.repair_to(source, Path(out))

    def repair_to(self, source: Path, out: Path) -> None:
        """Recover ``source`` into ``out`` on a worker, then open ``out`` and say what came back."""
        self.statusBar().showMessage(f"Recovering {source.name} into {out.name}…")
        if self.store is not None and self.store.path == source:
            self.store.close()  # only read by the repair, but no window writes it meanwhile
            self.store = None
        worker = GeneratorWorker(lambda: repair_project(source, out))

        def done(result) -> None:
            self.damaged = None
            self.hide_error()
            self.open_project(out)
            self.statusBar().showMessage(" ".join(result.lines()[1:])[:400], 30000)

        worker.finished.connect(done)
        worker.failed.connect(self.show_error)
        self.repair_worker = worker
        worker.start()

    def threshold_for(self, store: Store) -> float | None:
        value = self.settings.value(f"threshold/{store.path}")
        return float(value) if value is not None else None

    # ---------------------------------------------------------------- projects

    def open_project(self, path: Path) -> bool:
        """Open ``path`` (created if new); False where it did not open now: an error, shown,
        or an old project large enough to be upgraded on a worker first (it opens when done)."""
        if self.upgrading is not None:
            self.show_error(f"Still upgrading {self.upgrading.name}: open another project when it is done")
            return False
        pairs = pending_upgrade(path)
        if pairs >= UPGRADE_ON_WORKER:
            self._upgrade_then_open(Path(path), pairs)
            return False
        try:
            store = Store(path)
        except ProjectError as exc:
            self.show_error(str(exc))
            if Path(path).is_file():  # a damaged file: said with Repair once the check confirms it
                self.check_in_background(Path(path))
            return False
        if self.store is not None:
            self.store.close()
        self.store = store
        # The last run's model belongs to the project closed: kept here, a shared model that no
        # other project uses would stay in memory (models.loading releases what no one holds).
        self.mine_tab.finished_encoder = None
        recent = [str(path)] + [p for p in self.recent() if p != str(path)]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self.update_title()
        self.hide_error()
        self.stack.setCurrentWidget(self.tabs)
        self.mine_tab.refresh()
        self.import_tab.add_button.setEnabled(self.import_tab.result is not None)
        self.review_tab.load()
        self.check_in_background(store.path)  # a damaged file is said now, not at the next write
        if store.latest_run("done") is not None:
            self.tabs.setCurrentWidget(self.review_tab)  # last results, at once
        elif store.question_count():
            self.tabs.setCurrentWidget(self.mine_tab)
        else:
            self.tabs.setCurrentWidget(self.import_tab)
        return True

    def _upgrade_then_open(self, path: Path, pairs: int) -> None:
        """Bring an old project up to this version's schema on a worker (its pairs gain their
        first-stage score: seconds per million), then open it here. The worker's connection
        stays on the worker: SQLite's are per thread."""
        self.upgrading = path
        self.hide_error()
        self.statusBar().showMessage(f"Upgrading {path.name} to this version's format ({pairs:,} pairs)...")

        def upgrade() -> None:
            Store(path, create=False).close()

        def done(_result=None) -> None:
            self.upgrading = None
            self.statusBar().showMessage(f"{path.name} upgraded", 5000)
            self.open_project(path)

        def failed(message: str) -> None:
            self.upgrading = None
            self.statusBar().clearMessage()
            self.show_error(message)  # the migration is one transaction: the file is as it was

        self.upgrade_worker = GeneratorWorker(upgrade)
        self.upgrade_worker.finished.connect(done)
        self.upgrade_worker.failed.connect(failed)
        self.upgrade_worker.start()

    def new_project_dialog(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, "New project", str(Path.home() / "questions.sqlite"), "QuoraDesk project (*.sqlite)")
        if name:
            path = Path(name)
            if path.exists():
                self.show_error(f"{path} exists: open it instead, or choose a new name")
                return
            self.open_project(path)

    def open_project_dialog(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open project", str(Path.home()), "QuoraDesk project (*.sqlite)")
        if name:
            self.open_project(Path(name))

    def open_sample(self, mine: bool = True) -> None:
        """The bundled sample in its own project; imported and mined the first time."""
        path = user_data_dir() / "sample.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.open_project(path):
            return
        if self.store.question_count() == 0:
            from ..core.questions import load_questions

            self.store.add_import(load_questions(SAMPLE))
            self.mine_tab.refresh()
        if mine and self.store.latest_run("done") is None:
            self.tabs.setCurrentWidget(self.mine_tab)
            self.mine_tab.start()

    def import_questions(self) -> None:
        if self.store is None:
            self.new_project_dialog()
            if self.store is None:
                return
        self.tabs.setCurrentWidget(self.import_tab)
        self.import_tab.choose_file()

    def _preload_libraries(self) -> None:
        loaded = self.libraries_loaded

        def load():
            try:
                models.preload_libraries()
            except Exception:  # a broken install shows its error when a run loads a model
                pass
            loaded.set()

        threading.Thread(target=load, name="preload-libraries", daemon=True).start()

    def mining_done(self, run_id: int) -> None:
        self.review_tab.load(run_id, encoder=self.mine_tab.finished_encoder)
        self.ask_tab.run_finished()
        self.tabs.setCurrentWidget(self.review_tab)

    def use_trained_model(self, kind: str, path) -> None:
        self.mine_tab.use_model(kind, path)
        self.tabs.setCurrentWidget(self.mine_tab)
        self.statusBar().showMessage(f"Mining will use {path}", 8000)

    # ---------------------------------------------------------------- Qt events

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not urls:
            return
        path = Path(urls[0])
        if path.suffix == ".sqlite":
            self.open_project(path)
            return
        if self.store is None:
            self.open_project(path.with_suffix(".sqlite"))  # a project beside the file
        self.tabs.setCurrentWidget(self.import_tab)
        self.import_tab.load(path)

    def closeEvent(self, event) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        # An upgrade cannot be cancelled, only waited for (or cut short: it is one transaction)
        for worker in (self.mine_tab.worker, self.train_tab.worker, *self.review_tab.workers(), self.upgrade_worker,
                       *self.checks, self.repair_worker):
            if worker is not None and worker.running:
                worker.cancel()
                worker.wait(30000)
        self.ask_tab.shutdown()
        if self.store is not None:
            # None, not just closed: a worker's last signal, queued before the wait above
            # ended, still reaches its tab after this (found by bench/soak.py).
            store, self.store = self.store, None
            store.close()
        super().closeEvent(event)
