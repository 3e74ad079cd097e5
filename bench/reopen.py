"""Benchmark: resident memory and explanation failures over reopens of a mined project.

    python bench/reopen.py                 # the sample, mined with the defaults, reopened 20 times
    python bench/reopen.py --reopens 40 --switch

A scripted user in an offscreen window: open the project, wait for the Review tab to explain
its best pair, show the Ask tab and wait for it to be ready; again and again. Prints the
resident memory (RSS) after each open, its growth from the first open, and how many
explanations or Ask openings failed. ``--switch`` alternates with a second project mined with
the fast SPLADE, so each open also releases the other project's model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from ui_stall import wait_until  # noqa: E402 - bench/ is this script's folder

from quoradesk.core import models  # noqa: E402
from quoradesk.core.mining import MiningJob, MiningParams  # noqa: E402
from quoradesk.core.questions import load_questions  # noqa: E402
from quoradesk.core.resources import SAMPLE_QUESTIONS  # noqa: E402
from quoradesk.core.store import Store  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def mine(path: Path, model) -> Path:
    with Store(path) as store:
        store.add_import(load_questions(SAMPLE_QUESTIONS))
        list(MiningJob(store, sparse_model=model, params=MiningParams(), device="cpu").run())
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reopens", type=int, default=20)
    ap.add_argument("--switch", action="store_true", help="alternate with a project mined with the fast SPLADE")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qd-reopen-"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    projects = [mine(tmp / "default.sqlite", None)]
    if args.switch:
        projects.append(mine(tmp / "fast.sqlite", models.sparse_model_path("fast")))
    # Mined in another process's worth of objects: drop them before measuring the window.
    import gc

    gc.collect()

    from quoradesk.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(QSettings(str(tmp / "settings.ini"), QSettings.IniFormat))
    window.show()
    loaded = []
    window.review_tab.loaded.connect(loaded.append)
    failures, sizes = [], []
    tokens = window.review_tab.tokens
    for i in range(args.reopens):
        path = projects[i % len(projects)]
        before = len(loaded)
        started = time.perf_counter()
        window.open_project(path)
        wait_until(app, lambda before=before: len(loaded) > before, 180)
        wait_until(app, lambda: "<b>" in tokens.text() or "no explanation" in tokens.text(), 180)
        if "<b>" not in tokens.text():
            failures.append(f"open {i + 1}: {tokens.text()}")
        window.tabs.setCurrentWidget(window.ask_tab)
        wait_until(app, window.ask_tab.ready.is_set, 180)
        if "fail" in window.ask_tab.status.text().lower() or "could not" in window.ask_tab.status.text().lower():
            failures.append(f"open {i + 1}, Ask: {window.ask_tab.status.text()}")
        sizes.append(rss_mb())
        alive = sorted(f"{k[0]}:{Path(k[1]).name}{':int8' if k[4] else ''}" for k in models.loaded_models())
        print(f"open {i + 1:>2} ({path.name}): RSS {sizes[-1]:,.0f} MB, {time.perf_counter() - started:.2f} s, "
              f"models held: {', '.join(alive)}", flush=True)
    window.close()
    print(f"\nRSS after the first open {sizes[0]:,.0f} MB, after the last {sizes[-1]:,.0f} MB "
          f"(growth {sizes[-1] - sizes[0]:+,.0f} MB; most {max(sizes):,.0f} MB) over {args.reopens} opens")
    print(f"explanation or Ask failures: {len(failures)}")
    for f in failures:
        print("  " + f)


if __name__ == "__main__":
    main()
