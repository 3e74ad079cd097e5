"""Benchmark: what `quoradesk repair` gets back from damaged projects, and what the check costs.

    python bench/damage.py                  # 50 seeds of each damage on the mined sample
    python bench/damage.py --seeds 10 --check-size 100000

Damage, each on a copy of a mined, labelled project (the sample, 30 pairs labelled, one
undone): 16 KB of random bytes at a random offset, the file cut short at a random length, one
page (4 KB) zeroed. For each: whether `check` calls it damaged, and the share of the
questions, pairs and labels the repaired project holds (labels by their questions' texts,
against the labels before the damage). ``--check-size N`` also times SQLite's quick check (the
one the app runs on every open) and the full integrity check on a project of N questions
with an encoding each and 9 pairs a question (synthetic rows of realistic size).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from damaged_projects import damaged_copy, labelled_project, labels_by_text  # noqa: E402

from quoradesk.core.store import Store, check_project, journal_path, repair_project  # noqa: E402

KINDS = ("noise", "truncated", "zeroed page")


def labelled_sample(folder: Path) -> tuple[Path, dict, dict]:
    db, labels = labelled_project(folder)
    with Store(db, create=False) as store:
        counts = {"questions": store.question_count(), "pairs": store.count_pairs(store.latest_run("done").id)}
    return db, labels, counts


def synthetic(folder: Path, n: int) -> Path:
    """A project of ``n`` questions, an encoding each (80 non-zeros) and 9 pairs a question."""
    import numpy as np

    db = folder / f"synthetic-{n}.sqlite"
    rng = np.random.default_rng(0)
    with Store(db) as store:
        d = store.db
        with d.atomic():
            d["questions"].insert_all(({"id": i, "text": f"synthetic question {i}?", "sources": "[]"}
                                       for i in range(1, n + 1)), batch_size=10000)
            d["runs"].insert({"id": 1, "status": "done", "stage": "done", "params": "{}"})
            d["encodings"].insert_all(({"model_key": "k", "question_id": i,
                                        "indices": rng.integers(0, 30522, 80, dtype=np.int32).tobytes(),
                                        "vals": rng.random(80, dtype=np.float32).tobytes()}
                                       for i in range(1, n + 1)), batch_size=10000)
            d["pairs"].insert_all(({"run_id": 1, "a": i, "b": i + k, "sparse_score": 0.5, "rerank_score": None,
                                    "rank": k, "score": 0.5, "first_score": 0.5}
                                   for i in range(1, n + 1) for k in range(1, 10) if i + k <= n), batch_size=20000)
    return db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--check-size", type=int, default=0, help="also time the checks at this many questions")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qd-damage-"))
    db, labels, counts = labelled_sample(tmp)
    print(f"project: {db.stat().st_size:,} bytes, {counts['questions']} questions, {counts['pairs']:,} pairs, "
          f"{len(labels)} labels; {args.seeds} seeds of each damage\n")
    print(f"{'damage':<12} {'found':>6} {'questions':>10} {'pairs':>8} {'labels':>8} {'all labels':>11} {'repair s':>9}")
    for kind in KINDS:
        found, shares, every_label, seconds = 0, {"questions": [], "pairs": [], "labels": []}, 0, []
        for seed in range(args.seeds):
            bad = damaged_copy(db, tmp / "bad.sqlite", kind, seed)
            found += not check_project(bad).healthy
            out = tmp / "out.sqlite"
            for f in (out, journal_path(out)):
                f.unlink(missing_ok=True)
            started = time.perf_counter()
            repair_project(bad, out)
            seconds.append(time.perf_counter() - started)
            with Store(out, create=False) as store:
                run = store.latest_run()
                shares["questions"].append(store.question_count() / counts["questions"])
                shares["pairs"].append((store.count_pairs(run.id) if run else 0) / counts["pairs"])
            got = labels_by_text(out)
            shares["labels"].append(sum(got.get(k) == v for k, v in labels.items()) / len(labels))
            every_label += got == labels
            for f in (bad, journal_path(bad)):
                f.unlink(missing_ok=True)
        print(f"{kind:<12} {found:>3}/{args.seeds} {statistics.mean(shares['questions']):>10.3f} "
              f"{statistics.mean(shares['pairs']):>8.3f} {statistics.mean(shares['labels']):>8.3f} "
              f"{every_label:>7}/{args.seeds} {statistics.median(seconds):>9.2f}")
    print("\nquestions, pairs, labels: mean share recovered; all labels: seeds where every label came back;"
          " found: seeds where `check` said damaged (16 KB of noise can fall on free pages)")
    if args.check_size:
        project = synthetic(tmp, args.check_size)
        for full in (False, True):
            os.sync()
            started = time.perf_counter()
            report = check_project(project, full=full)
            print(f"{'integrity' if full else 'quick'} check, {args.check_size:,} questions "
                  f"({project.stat().st_size / 1e6:,.0f} MB): {time.perf_counter() - started:.2f} s, healthy {report.healthy}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
