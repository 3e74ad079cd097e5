"""Benchmark: the search stage's memory on a mined project, run again as mining runs it.

    python bench/scale.py --size 300000 --rerank --mining-only   # makes a project (prints its folder)
    python bench/search_memory.py /tmp/qd-scale-XXXX/scale.sqlite

Copies the project (the original is left alone), sends its latest run back to the search stage
and runs it with the app's mining job (the stored encodings loaded, the index built, the
candidates found and stored), stopping when reranking would start. Prints the resident memory
sampled every 20 ms: its peak before the first search progress (loading the vectors and
building the index) and during the search and the storing of pairs, the seconds it took, and
the pairs it found. No model is loaded: the encodings are the stored ones.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from quoradesk.core import models  # noqa: E402
from quoradesk.core.mining import MiningJob, MiningParams  # noqa: E402
from quoradesk.core.store import Store  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("project", type=Path)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qd-search-memory-"))
    copy = folder / "project.sqlite"
    shutil.copy(args.project, copy)
    store = Store(copy)
    run = store.latest_run()
    store.update_run(run.id, stage="search", status="cancelled")
    phase, peaks = ["loading and building"], {}

    def sample():
        while True:
            peaks[phase[0]] = max(peaks.get(phase[0], 0.0), rss_mb())
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    start_mb = rss_mb()
    job = MiningJob(store, sparse_model=models.run_sparse_model(run) or models.default_sparse_model_path(),
                    reranker=models.run_reranker(run), params=MiningParams(**run.params), continue_run=run.id)
    t = time.perf_counter()
    for event in job.run():
        if event.stage == "search":
            phase[0] = "searching and storing"
        if event.stage in ("rerank", "done"):
            job.cancel()
    seconds = time.perf_counter() - t
    time.sleep(0.1)
    print(f"{store.question_count():,} questions, {store.count_pairs(run.id):,} pairs, {seconds:.1f} s; "
          f"resident memory at start {start_mb:.0f} MB; peaks: "
          + ", ".join(f"{k} {v:,.0f} MB" for k, v in peaks.items()))
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
