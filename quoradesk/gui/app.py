"""Start the desktop app: ``quoradesk`` with no arguments, or ``quoradesk gui [--sample]``.

``quoradesk gui --sample --quit-when-done`` is the bundle's smoke test: it opens the sample,
mines it in the real window and exits 0 once the run is done (1 on an error).
"""

from __future__ import annotations

import sys
from pathlib import Path


def _seconds_since_process_start() -> float:
    import time

    try:
        import psutil

        return time.time() - psutil.Process().create_time()
    except Exception:  # noqa: BLE001 - psutil missing: no figure rather than no app
        return float("nan")


def run(project: str | None = None, sample: bool = False, quit_when_done: bool = False,
        startup_probe: bool = False) -> int:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from ..core.resources import ICON
    from .main_window import APP, MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APP)
    app.setOrganizationName(APP)
    app.setDesktopFileName("quoradesk")  # matches resources/quoradesk.desktop
    app.setWindowIcon(QIcon(str(ICON)))
    window = MainWindow()
    window.show()
    if startup_probe:  # bench/startup.py: how long until the window is up and idle
        from PySide6.QtCore import QTimer

        def report() -> None:
            print(f"first window after {_seconds_since_process_start():.2f} s", flush=True)
            app.exit(0)

        QTimer.singleShot(0, report)  # runs once the event loop has painted the window
        return app.exec()
    if quit_when_done:
        def done(run_id: int) -> None:
            pairs = window.store.count_pairs(run_id)
            print(f"run {run_id} done: {window.store.question_count()} questions, {pairs} pairs", flush=True)
            app.exit(0 if pairs else 1)

        def failed(message: str) -> None:
            print(f"error: {message}", file=sys.stderr, flush=True)
            app.exit(1)

        window.review_tab.loaded.connect(done)  # mined, and the Review tab shows the run
        for tab in (window.import_tab, window.mine_tab, window.review_tab):
            tab.error.connect(failed)
    if project:
        window.open_project(Path(project))
    elif sample:
        window.open_sample()
    if quit_when_done and (window.store is None or not (window.mine_tab.worker and window.mine_tab.worker.running)):
        # Nothing to wait for: already mined (or nothing opened) - report and leave.
        run = window.store.latest_run("done") if window.store else None
        if run is None:
            print("error: nothing was mined", file=sys.stderr)
        else:
            print(f"run {run.id} done: {window.store.question_count()} questions, "
                  f"{window.store.count_pairs(run.id)} pairs (mined before)")
        window.close()  # waits for the workers (the Review tab's reader): none outlives Qt
        return 0 if run is not None else 1
    code = app.exec()
    window.close()
    return code
