"""Benchmark: the app used for a long time by a seeded random user, offscreen.

    python bench/soak.py                        # 10 minutes, seed 1
    python bench/soak.py --seconds 60 --seed 3  # what tests/test_gui_soak.py runs
    python bench/soak.py --seconds 240 --skip train,reopen   # which actions memory grows with

The user imports files (the sample, slices of the project's own pairs, an .xlsx, a .parquet, a
binary file the app must refuse), mines with or without reranking, cancels and resumes, labels
and undoes, filters and moves the threshold, asks and adds questions, exports, switches tabs,
trains two steps (SPLADE or CrossEncoder), and closes and reopens the window: one action every
0.2 s or so, while the work they start runs on the app's workers. Reported: the actions done by
kind, exceptions raised anywhere (uncaught on the UI thread, in a thread, unraisable: must be 0),
the error banners shown (by text), resident memory at the start and the end, UI stalls (a 20 ms
timer on the UI thread; gaps over 250 ms), and the project's integrity at the end (SQLite's
integrity check, the labels journal agreeing with the file).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
STALL = 0.250
WAITS = ("import",)  # actions that wait (processing events) for their worker, as a user does


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Watch:
    """Exceptions from every source Python offers a hook for, and the UI thread's stalls."""

    def __init__(self, app):
        from PySide6.QtCore import QTimer

        self.exceptions: list[str] = []
        self.gaps: list[float] = []
        self.last_action = "start"  # the user's latest action, to which a stall is charged
        self.stalled_after: Counter = Counter()
        self._last = time.perf_counter()
        self.hooks = sys.excepthook, threading.excepthook, sys.unraisablehook
        originals = self.hooks

        def on_ui(t, v, tb):
            self.exceptions.append(f"UI thread: {t.__name__}: {v}")
            originals[0](t, v, tb)  # the traceback on stderr too

        def on_thread(a):
            self.exceptions.append(f"thread {a.thread.name if a.thread else '?'}: {a.exc_type.__name__}: {a.exc_value}")
            originals[1](a)

        def on_unraisable(u):
            self.exceptions.append(f"unraisable: {u.exc_type.__name__}: {u.exc_value}")
            originals[2](u)

        sys.excepthook, threading.excepthook, sys.unraisablehook = on_ui, on_thread, on_unraisable
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        if now - self._last > STALL:
            self.stalled_after[self.last_action] += 1
        self._last = now

    def close(self) -> None:
        self.timer.stop()
        sys.excepthook, threading.excepthook, sys.unraisablehook = self.hooks

    def stalls(self) -> list[float]:
        return [g for g in self.gaps if g > STALL]


class RandomUser:
    """One seeded user of one window (reopened now and then) on one project."""

    def __init__(self, app, folder: Path, seed: int, watch: Watch, skip: tuple[str, ...] = ()):
        from owned_data import write_pairs

        from quoradesk.core.resources import SAMPLE_QUESTIONS

        self.app, self.folder, self.rng, self.watch = app, folder, random.Random(seed), watch
        self.skip = skip  # actions this soak leaves out (to find what memory growth comes with)
        self.project = folder / "soak.sqlite"
        self.files = [SAMPLE_QUESTIONS, write_pairs(folder / "pairs300.tsv", 300),
                      write_pairs(folder / "pairs120.tsv", 120), self._workbook(), self._parquet()]
        (folder / "binary.csv").write_bytes(bytes(range(256)) * 8)
        self.files.append(folder / "binary.csv")
        self.train_data = write_pairs(folder / "train.tsv", 200)
        self.done: Counter = Counter()
        self.banners: Counter = Counter()
        self.slow: Counter = Counter()  # action: its longest time on the UI thread (ms), if over 250
        self.window = None
        self.open_window()

    def _workbook(self) -> Path:
        import openpyxl
        from owned_data import sample_pairs

        book = openpyxl.Workbook()
        book.active.append(["id", "question"])
        for i, (_, a, b) in enumerate(sample_pairs()[:60]):
            book.active.append([i, a])
            book.active.append([i, b])
        path = self.folder / "questions.xlsx"
        book.save(path)
        return path

    def _parquet(self) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from owned_data import sample_pairs

        texts = [t for _, a, b in sample_pairs()[60:] for t in (a, b)] + [None]
        path = self.folder / "questions.parquet"
        pq.write_table(pa.table({"question": texts}), path)
        return path

    # ------------------------------------------------------------ the window

    def open_window(self) -> None:
        from PySide6.QtCore import QSettings

        from quoradesk.gui.main_window import MainWindow

        self.window = MainWindow(QSettings(str(self.folder / "settings.ini"), QSettings.IniFormat))
        self.window.show()
        self.window.banner.linkActivated.connect(lambda *_: None)
        self.window.show_error = self._banner(self.window.show_error)
        self.window.open_project(self.project)

    def _banner(self, show):
        def counted(message: str) -> None:
            self.banners[message.split(":")[0][:80]] += 1
            show(message)
        return counted

    def wait(self, condition, limit: float) -> bool:
        """Process events until ``condition`` holds or ``limit`` seconds passed (a user gives up)."""
        end = time.perf_counter() + limit
        while not condition():
            if time.perf_counter() > end:
                return False
            self.app.processEvents()
            time.sleep(0.005)
        return True

    # ------------------------------------------------------------ actions

    def act(self) -> str:
        w, rng = self.window, self.rng
        mining = w.mine_tab.worker is not None and w.mine_tab.worker.running
        training = w.train_tab.worker is not None and w.train_tab.worker.running
        review = w.review_tab.review
        choices = ["import", "tabs", "ask", "add", "reopen" if rng.random() < 0.1 else "tabs"]
        choices += ["cancel"] * 2 if mining else ["mine", "mine"]
        if review is not None and w.review_tab.model.rowCount():
            choices += ["label"] * 4 + ["undo", "filter", "threshold", "export"]
        if not training and not mining and rng.random() < 0.3:
            choices.append("train")
        choices = [c for c in choices if c not in self.skip] or ["tabs"]
        action = rng.choice(choices)
        self.watch.last_action = action
        started = time.perf_counter()
        getattr(self, f"do_{action}")()
        took = time.perf_counter() - started
        self.done[action] += 1
        if took > STALL and action not in WAITS:  # the UI thread itself was busy this long
            self.slow[action] = max(self.slow[action], round(took * 1000))
        return action

    def do_import(self) -> None:
        tab = self.window.import_tab
        path = self.rng.choice(self.files)
        before = tab.result
        tab.load(path)
        self.wait(lambda: tab.worker is not None and not tab.worker.running, 60)
        self.app.processEvents()
        if tab.result is not None and tab.result is not before and self.window.store is not None:
            tab.add_to_project()

    def do_tabs(self) -> None:
        self.window.tabs.setCurrentIndex(self.rng.randrange(self.window.tabs.count()))

    def do_mine(self) -> None:
        tab = self.window.mine_tab
        tab.rerank.setChecked(self.rng.random() < 0.7)
        tab.start()

    def do_cancel(self) -> None:
        self.window.mine_tab.cancel()

    def do_label(self) -> None:
        tab = self.window.review_tab
        tab.table.selectRow(self.rng.randrange(tab.model.rowCount()))
        tab.set_label(self.rng.choice(["accepted", "accepted", "rejected", None]))

    def do_undo(self) -> None:
        self.window.review_tab.undo()

    def do_filter(self) -> None:
        tab = self.window.review_tab
        tab.search.setText(self.rng.choice(["", "", "how", "python", "sleep", "zzz"]))
        tab.apply_search()

    def do_threshold(self) -> None:
        self.window.review_tab.set_threshold(self.rng.uniform(-0.2, 1.2))

    def do_export(self) -> None:
        self.window.review_tab.export_to(str(self.folder / "export.csv"), self.rng.randrange(3))

    def do_ask(self) -> None:
        tab = self.window.ask_tab
        self.window.tabs.setCurrentWidget(tab)
        tab.box.setText(self.rng.choice(["How do I sleep better?", "What is Python?", "", "How to learn Java?"]))
        tab.ask_now()

    def do_add(self) -> None:
        tab = self.window.ask_tab
        self.window.tabs.setCurrentWidget(tab)
        tab.box.setText(f"Is question number {self.rng.randrange(10**6)} a new one?")
        tab.add()

    def do_train(self) -> None:
        tab = self.window.train_tab
        tab.kind.setCurrentIndex(self.rng.choice([0, 1]))
        tab.from_file.setChecked(True)
        tab.data.setText(str(self.train_data))
        tab.out.setText(str(self.folder / f"model{self.done['train']}"))
        tab.batch.setValue(16)
        tab.max_steps.setValue(2)
        tab.start()

    def do_reopen(self) -> None:
        self.window.close()
        self.window.deleteLater()
        self.app.processEvents()
        self.open_window()

    def finish(self) -> None:
        """Let running work end (cancel mining, stop training), then close the window."""
        w = self.window
        w.mine_tab.cancel()
        w.train_tab.stop()
        self.wait(lambda: not any(x is not None and x.running for x in (w.mine_tab.worker, w.train_tab.worker)), 300)
        w.close()
        self.app.processEvents()


def integrity(project: Path) -> dict:
    from quoradesk.core.store import Store, check_project, journal_path, read_journal

    report = check_project(project, full=True)
    with Store(project, create=False) as store:
        labels = store.labels()
    journal = {}
    for entry in read_journal(journal_path(project)):  # the labels as the journal last left them
        journal[(entry["a"], entry["b"])] = entry["new"]
    journal = {k: v for k, v in journal.items() if v is not None}
    return {"healthy": report.healthy, "problems": list(report.problems), "labels": len(labels),
            "journal_agrees": journal == labels}


def soak(seconds: float, seed: int, folder: Path | None = None, skip: tuple[str, ...] = ()) -> dict:
    from PySide6.QtWidgets import QApplication

    folder = Path(folder or tempfile.mkdtemp(prefix="qd-soak-"))
    os.environ["XDG_DATA_HOME"] = str(folder / "data")
    app = QApplication.instance() or QApplication([])
    watch = Watch(app)
    try:
        user = RandomUser(app, folder, seed, watch, skip)
        start_rss = rss_mb()  # the app's libraries loaded, before any model
        began = time.perf_counter()
        end, warm_rss = began + seconds, None
        while time.perf_counter() < end:
            if warm_rss is None and time.perf_counter() > began + seconds / 4:
                warm_rss = rss_mb()  # every model loaded by now: growth past this is a leak
            user.act()
            user.wait(lambda: False, user.rng.uniform(0.05, 0.4))  # the user reads, then acts again
        peak_rss = rss_mb()
        user.finish()
    finally:
        watch.close()
    stalls = watch.stalls()
    return {
        "seconds": seconds, "seed": seed, "actions": sum(user.done.values()), "by_action": dict(user.done),
        "exceptions": watch.exceptions, "banners": dict(user.banners),
        "rss_mb": {"start": round(start_rss), "quarter": round(warm_rss or 0), "end": round(peak_rss),
                   "growth_last_three_quarters": round(peak_rss - (warm_rss or peak_rss))},
        "stalls_over_250ms": len(stalls), "longest_stall_ms": round(max(watch.gaps, default=0) * 1000),
        "slow_actions_ms": dict(user.slow), "stalls_after": dict(watch.stalled_after),
        "integrity": integrity(user.project),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip", default="", help="actions to leave out, comma-separated (train,reopen,...)")
    args = ap.parse_args()
    report = soak(args.seconds, args.seed, skip=tuple(filter(None, args.skip.split(","))))
    print(json.dumps(report, indent=1))
    sys.exit(1 if report["exceptions"] or not report["integrity"]["healthy"] else 0)


if __name__ == "__main__":
    main()
