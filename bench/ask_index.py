"""Benchmark: Ask's kept index on a mined project: keeping it, then a new process asking.

    python bench/ask_index.py PROJECT.sqlite              # e.g. a project bench/scale.py mined
    python bench/ask_index.py PROJECT.sqlite --asks 60

What is printed, each part in a child process of its own (so each peak is its own):
  1. keeping the index as `quoradesk mine` and the Mine tab do once a run is done
     (core.ask.keep_index, after removing ``<project>.ask/``): seconds and peak RSS;
  2. a new process opening Ask on the project (AskService, the app's default models, as
     `quoradesk ask` and `serve` start): models' and index's seconds, the first ask, and the
     median of ``--asks`` warm asks, with its peak RSS (the mapped index's pages count in it).

The issue's targets: the first answer within 1.5 s of the models being loaded at 100,000
questions; a warm median of 50 ms or less. Compare figures within one run on one box.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

KEEP = """
import json, resource, shutil, sys, time
from quoradesk.core.ask import cache_folder, keep_index
from quoradesk.core.store import Store
with Store(sys.argv[1], create=False) as store:
    shutil.rmtree(cache_folder(store), ignore_errors=True)
    run = store.latest_run("done")
    t = time.perf_counter()
    kept = keep_index(store, run.sparse_model_key, int(sys.argv[2]))
    print(json.dumps({"kept": kept is not None, "seconds": time.perf_counter() - t,
                      "entries": int(kept.inverted.nnz) if kept else 0,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

ASK = """
import json, resource, statistics, sys, time
from quoradesk.core.ask import AskService
from quoradesk.core.store import Store
QUESTIONS = ["What is the best way to lose weight?", "How do I start a small business?", "Why is the sky blue?",
             "What are good books about history?", "How can I improve my English?", "Is coffee bad for you?"]
with Store(sys.argv[1], create=False) as store:
    service = AskService(store)
    t = time.perf_counter()
    service.ask("How can I learn to play the guitar quickly?")
    first = time.perf_counter() - t
    warm = []
    for i in range(int(sys.argv[2])):
        t = time.perf_counter()
        service.ask(QUESTIONS[i % len(QUESTIONS)])
        warm.append(time.perf_counter() - t)
    print(json.dumps({"kept": service.index_kept, **service.open_seconds, "first": first,
                      "warm_median": statistics.median(warm), "questions": len(service.ids),
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(code: str, *args) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=REPO, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("project", type=Path)
    ap.add_argument("--asks", type=int, default=30)
    ap.add_argument("--dim", type=int, default=30522, help="the SPLADE's vocabulary (the shipped ones': 30,522)")
    args = ap.parse_args()
    kept = child(KEEP, args.project, args.dim)
    print(f"keep: {kept['seconds']:.1f} s, peak RSS {kept['peak_mb']:,.0f} MB, {kept['entries']:,} entries"
          + ("" if kept["kept"] else " (NOT kept)"))
    asked = child(ASK, args.project, args.asks)
    print(f"Ask in a new process, {asked['questions']:,} questions: models {asked['models']:.2f} s, index "
          f"{asked['index']:.3f} s{' (kept)' if asked['kept'] else ' (built)'}, first ask {asked['first'] * 1000:.0f} ms "
          f"(ready {asked['index'] + asked['first']:.2f} s after the models); warm median "
          f"{asked['warm_median'] * 1000:.1f} ms over {args.asks}; peak RSS {asked['peak_mb']:,.0f} MB")


if __name__ == "__main__":
    main()
