"""Screenshots of each tab of the real app, saved in docs/ (shown in the README).

    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots.py   # a real X server
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py               # no X at all

It opens a fresh project, imports the bundled sample, mines it with the shipped models,
selects the best pair, runs a few training steps on a slice of the Quora dev data (for the
plots), and grabs the window at each tab.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("XDG_DATA_HOME", tempfile.mkdtemp(prefix="qd-shots-data-"))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from quoradesk.gui.main_window import SAMPLE, MainWindow  # noqa: E402

DOCS = REPO / "docs"
DEV = Path(os.environ.get("QUORADESK_DEV_TSV", REPO.parent / "shared" / "data" / "quora" / "dev.tsv"))


def wait(app, condition, timeout=600):
    end = time.time() + timeout
    while not condition():
        app.processEvents()
        time.sleep(0.02)
        if time.time() > end:
            raise TimeoutError("the app did not get there in time")


def shot(app, window, name):
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    path = DOCS / f"screenshot-{name}.png"
    window.grab().save(str(path))
    print(f"saved {path}")


def main() -> None:
    app = QApplication.instance() or QApplication(sys.argv)
    tmp = Path(tempfile.mkdtemp(prefix="qd-shots-"))
    window = MainWindow(QSettings(str(tmp / "settings.ini"), QSettings.IniFormat))
    window.resize(1280, 820)
    window.show()
    shot(app, window, "welcome")

    window.open_project(tmp / "sample-project.sqlite")
    window.import_tab.load(SAMPLE)
    wait(app, lambda: window.import_tab.result is not None)
    shot(app, window, "import")
    window.import_tab.add_to_project()

    done = []
    window.review_tab.loaded.connect(done.append)  # mined, and the Review tab shows the run
    window.tabs.setCurrentWidget(window.mine_tab)
    window.mine_tab.start()
    wait(app, lambda: window.mine_tab.bars["encode"].value() > 0)
    wait(app, lambda: bool(done))
    window.tabs.setCurrentWidget(window.mine_tab)
    shot(app, window, "mine")

    window.tabs.setCurrentWidget(window.review_tab)
    window.review_tab.table.selectRow(0)
    # tokens, not "(loading the model…)": a run opened later loads its model on a worker
    wait(app, lambda: "<b>" in window.review_tab.tokens.text() or "(no " in window.review_tab.tokens.text())
    shot(app, window, "review")

    # Check this threshold: a sample of 12 drawn at 0.5, the first six labelled by the sample's
    # known paraphrase groups, as a user who knows them would
    from quoradesk.selftest import sample_gold_pairs

    gold = sample_gold_pairs(SAMPLE)
    review = window.review_tab
    review.set_threshold(0.5)
    review.threshold_bar.size.setValue(12)
    review.threshold_bar.check_button.click()
    label_first(review, gold, 6)
    shot(app, window, "review-check")
    review.threshold_bar.back_button.click()

    # Label next: the pairs whose label teaches the most, four of them labelled
    bar = review.adapt_bar
    bar.size.setValue(12)
    bar.next_button.click()
    wait(app, lambda: bar.back_button.isVisible())
    label_first(review, gold, 4)
    shot(app, window, "review-label-next")
    bar.back_button.click()

    tab = window.ask_tab
    window.tabs.setCurrentWidget(tab)
    wait(app, tab.ready.is_set)
    tab.box.setText("What's the quickest way to pick up Python?")
    tab.ask_now()
    wait(app, lambda: tab.result is not None)
    shot(app, window, "ask")

    lines = DEV.read_text(encoding="utf-8", errors="replace").splitlines()[:400]
    slice_path = tmp / "dev_slice.tsv"
    slice_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tab = window.train_tab
    tab.data.setText(str(slice_path))
    tab.out.setText(str(tmp / "trained"))
    tab.batch.setValue(32)
    tab.max_steps.setValue(12)
    window.tabs.setCurrentWidget(tab)
    tab.start()
    wait(app, lambda: not tab.worker.running)
    shot(app, window, "train")
    window.close()


def label_first(review, gold, n: int) -> None:
    """The first ``n`` rows labelled by the sample's known paraphrase groups, with the keys' path."""
    for i in range(n):
        review.table.selectRow(i)
        row = review.model.row_at(i)
        known = tuple(sorted((row.pair.text_a, row.pair.text_b))) in gold
        review.set_label("accepted" if known else "rejected")


if __name__ == "__main__":
    main()
