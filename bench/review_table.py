"""Benchmark: the Review table's queries on a project with 500,000 pairs.

    python bench/review_table.py [--pairs 500000]

Builds a project from the 19,062 dev.tsv questions with N random pairs (random sparse and
reranker scores: the table's cost does not depend on where the scores came from), then times
what the Review tab does: count above the threshold, the first page, a page deep in the
list (lazy fetching), sorting by a text column, a text filter, the histogram and the
duplicate groups (the Groups view).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from quoradesk.core.questions import load_questions  # noqa: E402
from quoradesk.core.review import ReviewSession  # noqa: E402
from quoradesk.core.store import Store  # noqa: E402

DEV = Path(os.environ.get("QUORADESK_DEV_TSV", REPO.parent / "shared" / "data" / "quora" / "dev.tsv"))


def timed(label, fn, rows):
    t = time.perf_counter()
    out = fn()
    rows.append((label, time.perf_counter() - t))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=500_000)
    args = ap.parse_args()
    store = Store(Path(tempfile.mkdtemp()) / "big.sqlite")
    store.add_import(load_questions(DEV))
    n = store.question_count()
    rng = np.random.default_rng(0)
    a = rng.integers(1, n + 1, size=args.pairs * 2)
    b = rng.integers(1, n + 1, size=args.pairs * 2)
    keep = a < b
    a, b = a[keep], b[keep]
    key = np.unique(a * (n + 1) + b)[: args.pairs]
    a, b = key // (n + 1), key % (n + 1)
    run = store.create_run(sparse_model="bench", sparse_model_key="bench", reranker="bench",
                           reranker_key="bench", params={"rerank_weight": 0.5, "similarity": "cosine"},
                           device="cpu")
    t = time.perf_counter()
    store.replace_pairs(run.id, a, b, rng.random(len(a)).astype(np.float32),
                        rng.integers(1, 11, len(a)), stage="done")
    store.set_rerank_scores(run.id, list(zip(a.tolist(), b.tolist(), rng.random(len(a)).tolist(), strict=True)))
    store.update_run(run.id, status="done")
    print(f"{len(a)} pairs over {n} questions written in {time.perf_counter() - t:.1f}s")
    rows = []
    review = timed("open review session", lambda: ReviewSession(store, run.id, threshold=0.3), rows)
    timed("count above threshold", review.count, rows)
    timed("first page (500 rows)", lambda: review.page(0, 500), rows)
    timed("page at row 200,000 (OFFSET)", lambda: review.page(200_000, 500), rows)
    prev = review.page(199_999, 1)[0]
    timed("page at row 200,000 (after row)", lambda: review.page(200_000, 500, after=prev), rows)
    timed("histogram (all scores)", review.histogram, rows)
    review.threshold = 0.9
    timed("duplicate groups at 0.9", review.groups, rows)
    review.threshold = 0.3
    review.sort_by_column(1, descending=False)
    timed("sort by question A, first page", lambda: review.page(0, 500), rows)
    review.sort_by_column(0, descending=True)
    review.search = "python"
    timed("filter 'python': count", review.count, rows)
    timed("filter 'python': first page", lambda: review.page(0, 500), rows)
    print(f"\n{'operation':<36} {'seconds':>8}")
    for label, secs in rows:
        print(f"{label:<36} {secs:>8.3f}")


if __name__ == "__main__":
    main()
