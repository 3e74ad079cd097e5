"""Benchmark: how long the UI thread stops while a run mines, finishes and the Review tab
first paints and explains its best pair, and while the run is opened again (its explaining
model then loads on a worker thread).

    python bench/ui_stall.py                 # 400 dev pairs (about 800 questions), 5 rounds
    python bench/ui_stall.py --pairs 1500 --rounds 3 --rerank
    python bench/ui_stall.py --profile       # also: what took the UI thread's time (cProfile)

A 20 ms timer ticks on the UI thread from Start until the Review tab shows the tokens of its
first pair, twice; the longest gap between ticks is the stall a user feels (a frozen window). Each
round is a fresh window and project, offscreen. The test suite checks *where* the work runs
(models loaded and run off the UI thread, the Review data read off it); the milliseconds are
measured here, since they depend on the box.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEV = Path(os.environ.get("QUORADESK_DEV_TSV", REPO.parent / "shared" / "data" / "quora" / "dev.tsv"))


def wait_until(app, condition, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.002)


def one_round(app, pairs: Path, rerank: bool, profile: cProfile.Profile | None) -> tuple[float, float]:
    """The longest gap (s) while mining and showing the result, and while reopening it."""
    from PySide6.QtCore import QSettings, QTimer

    from quoradesk.gui.main_window import MainWindow

    tmp = Path(tempfile.mkdtemp(prefix="qd-stall-"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    w = MainWindow(QSettings(str(tmp / "settings.ini"), QSettings.IniFormat))
    w.show()
    wait_until(app, w.libraries_loaded.is_set, 120)
    w.open_project(tmp / "p.sqlite")
    w.import_tab.load(pairs)
    wait_until(app, lambda: w.import_tab.result is not None, 60)
    w.import_tab.add_to_project()
    w.mine_tab.rerank.setChecked(rerank)
    done = []
    w.mine_tab.finished.connect(done.append)
    gaps, last = [], [0.0]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    if profile:
        profile.enable()
    w.mine_tab.start()
    last[0] = time.perf_counter()
    timer.start(20)
    wait_until(app, lambda: done and "<b>" in w.review_tab.tokens.text(), 600)
    mined = len(gaps)
    # Reopened later, the run has no model in memory: it loads on a worker thread.
    w.review_tab.load(done[0])
    wait_until(app, lambda: "<b>" in w.review_tab.tokens.text(), 600)
    timer.stop()
    if profile:
        profile.disable()
    w.close()
    return max(gaps[:mined]), max(gaps[mined:], default=0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rerank", action="store_true", help="rerank too (the app's default)")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    if not DEV.is_file():
        raise SystemExit(f"needs the Quora dev pairs at {DEV} (set QUORADESK_DEV_TSV)")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    src = Path(tempfile.mkdtemp()) / "slice.tsv"
    src.write_text("\n".join(DEV.read_text(encoding="utf-8", errors="replace").splitlines()[: args.pairs]) + "\n")
    profile = cProfile.Profile() if args.profile else None
    rounds = [one_round(app, src, args.rerank, profile) for _ in range(args.rounds)]
    print(f"{args.pairs} pairs, rerank {args.rerank}, {args.rounds} rounds; longest UI stall (ms):")
    for name, stalls in (("mining and the first Review paint", [r[0] * 1000 for r in rounds]),
                         ("reopening the run (model loads)", [r[1] * 1000 for r in rounds])):
        print(f"  {name}: " + ", ".join(f"{s:.0f}" for s in stalls)
              + f"; median {statistics.median(stalls):.0f}, max {max(stalls):.0f}")
    if profile:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(r"quoradesk|pyqtgraph", 30)
        print(out.getvalue())


if __name__ == "__main__":
    main()
