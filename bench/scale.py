"""Benchmark: candidate search and memory from 10,000 to 500,000 questions.

    python bench/scale.py                       # corpus of 500,000, curve 10k..500k
    python bench/scale.py --size 100000         # a smaller top size
    python bench/scale.py --project P.sqlite    # reuse the encodings of an earlier run
    python bench/scale.py --size 100000 --rerank --exact-up-to 0   # mining as the app does it
    python bench/scale.py --size 1000000 --rerank --mining-only    # the CLI run alone

Only 19,062 real questions exist (dev.tsv), so larger corpora are built from them by
word-level variation (``variants``): each synthetic question is a real one with one to three
edits drawn at random (seed 0): drop a word, swap two neighbouring words, replace a word by
a word drawn from the corpus's own word frequencies, or insert such a word. The real
questions come first, then rounds of variants of every question, so any prefix of the corpus
looks like the whole. The search cost depends on how tokens spread over questions, which
these variants keep close to real Quora text.

Steps and what is printed:
  1. writes the corpus (a one-column CSV) and mines it with the real CLI in a child process
     (``quoradesk mine FILE --db P --no-rerank``: import and mine; with ``--rerank``, the
     app's default with the CrossEncoder), reporting the child's peak resident memory, the
     run's stage times and search's share of them (issue 6: under 4 GB at 500,000 questions;
     search at most 5% of mining at 100,000), and the CLI's line about Ask's index, which the
     command keeps once the run is done (its seconds are in the command's, not the stages');
  2. loads the encodings that run stored and times the candidate search at growing sizes, as
     mining runs it (each question's top 10 and its strong neighbours past them;
     ``--plain-top-k``: the top 10 alone): the exact index (``SparseIndex``, while it stays
     affordable) and the pruned index (``PrunedIndex``), with the share of the exact top-10
     pairs the pruned one finds and the number of pairs it returns;
  3. a table of seconds per size with the growth exponent between sizes (1.0 = linear,
     2.0 = quadratic) and seconds / (N log N) normalised to the smallest size.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


from quoradesk.core.mining import MiningParams  # noqa: E402
from quoradesk.core.questions import load_questions  # noqa: E402
from quoradesk.core.search.index import WIDE_CAPS, WIDE_UP_TO, PrunedIndex, SparseIndex, prepare  # noqa: E402

DEV = Path(os.environ.get("QUORADESK_DEV_TSV", REPO.parent / "shared" / "data" / "quora" / "dev.tsv"))
SIZES = (10_000, 20_000, 50_000, 100_000, 200_000, 500_000)


def variants(real: list[str], size: int, seed: int = 0) -> list[str]:
    """``real`` followed by word-level variants of it, ``size`` distinct questions in all."""
    rng = random.Random(seed)
    words = Counter(w for q in real for w in q.split())
    vocab, weights = zip(*words.most_common(20_000), strict=True)
    cum = list(itertools.accumulate(weights))  # what choices(weights=) computes on every call
    out, seen = list(real[:size]), set(real[:size])
    while len(out) < size:
        for q in real:
            if len(out) >= size:
                break
            w = q.split()
            for _ in range(rng.randint(1, 3)):
                op = rng.random()
                i = rng.randrange(len(w))
                if op < 0.3 and len(w) > 3:
                    del w[i]
                elif op < 0.5 and len(w) > 1:
                    j = min(i + 1, len(w) - 1)
                    w[i], w[j] = w[j], w[i]
                elif op < 0.8:
                    w[i] = rng.choices(vocab, cum_weights=cum)[0]
                else:
                    w.insert(i, rng.choices(vocab, cum_weights=cum)[0])
            text = " ".join(w)
            if text not in seen:
                seen.add(text)
                out.append(text)
    return out


def mine_in_child(texts: list[str], folder: Path, rerank: bool = False,
                  model: str | None = None) -> tuple[Path, dict]:
    """Import and mine ``texts`` with the CLI in a child process; its peak RSS and timings."""
    src, project = folder / "corpus.csv", folder / "scale.sqlite"
    with src.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["question"])
        writer.writerows([t] for t in texts)
    flags = ("" if rerank else ", '--no-rerank'") + (f", '--model', {model!r}" if model else "")
    code = (
        "import resource, runpy, sys, time\n"
        "t = time.perf_counter()\n"
        f"sys.argv = ['quoradesk', 'mine', sys.argv[1], '--db', sys.argv[2], '--quiet', '--show', '0'{flags}]\n"
        "try:\n"
        "    runpy.run_module('quoradesk', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(src), str(project)], check=True, cwd=REPO,
                         capture_output=True, text=True)
    peak_kb, seconds = re.search(r"PEAK_KB (\d+) ([\d.]+)", out.stdout).groups()
    ask = re.search(r"^Ask's index .*$", out.stdout, re.M)  # what the run leaves for Ask, and its seconds
    return project, {"peak_mb": int(peak_kb) / 1024, "seconds": float(seconds), "ask": ask.group(0) if ask else ""}


def load_vectors(project: Path):
    from quoradesk.core.store import Store

    store = Store(project)
    run = store.latest_run()
    ids = store.question_ids(run.max_question_id)
    return store.load_encodings(run.sparse_model_key, ids), run


def timed(index_cls, matrix, top_k: int, strong: dict):
    t = time.perf_counter()
    index = index_cls(matrix)
    pairs = index.all_pairs(top_k, **strong)
    return time.perf_counter() - t, pairs


def agreement(exact, approx, top_k: int, best_only: bool = False) -> float:
    """Share of the exact index's top-k pairs (or of its rank-1 pairs) the pruned index also found."""
    def key(p, keep):
        return set(zip(p[0][keep].tolist(), p[1][keep].tolist(), strict=True))
    want = key(exact, exact[3] == 1 if best_only else exact[3] <= top_k)
    return len(want & key(approx, slice(None))) / max(1, len(want))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=500_000)
    ap.add_argument("--project", type=Path, help="a project mined by an earlier run of this script")
    ap.add_argument("--exact-up-to", type=int, default=100_000, help="largest size to run the exact index on")
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--plain-top-k", action="store_true",
                    help="search for the top-k only, without the strong neighbours mining also keeps")
    ap.add_argument("--rerank", action="store_true",
                    help="mine with the shipped CrossEncoder too (the app's default), to see search's share")
    ap.add_argument("--model", help="the SPLADE to mine with (a name or a folder; default: the app's)")
    ap.add_argument("--mining-only", action="store_true",
                    help="report the CLI run alone (its peak memory and stage times), without the search curve")
    args = ap.parse_args()

    if args.project is None:
        folder = Path(tempfile.mkdtemp(prefix="qd-scale-"))
        real = [q.text for q in load_questions(DEV).questions]
        texts = variants(real, args.size)
        print(f"corpus: {len(real)} real questions + {len(texts) - len(real)} variants -> {folder}", file=sys.stderr)
        del real
        project, child = mine_in_child(texts, folder, rerank=args.rerank, model=args.model)
        del texts
    else:
        project, child = args.project, None
    if child:
        from quoradesk.core.store import Store

        store = Store(project)
        run, n_all = store.latest_run(), store.question_count()
        stages = {k: round(v, 1) for k, v in run.timings.items()}
        print(f"\nmining {n_all} questions (CLI, {'rerank' if args.rerank else 'no rerank'}, "
              f"{run.sparse_model}): peak RSS {child['peak_mb']:.0f} MB, {child['seconds']:.1f} s for the "
              f"whole command; stages {json.dumps(stages)}; "
              f"search {100 * stages.get('search', 0) / max(1e-9, sum(stages.values())):.1f}% of mining; "
              f"{store.count_pairs(run.id):,} pairs; project {project.stat().st_size / 2**20:,.0f} MB; "
              f"{child['ask'] or 'no line about Ask'}", flush=True)
        if args.mining_only:
            return
    matrix, run = load_vectors(project)
    matrix = prepare(matrix, "cosine")
    n_all = matrix.shape[0]
    print(f"{matrix.nnz / n_all:.1f} active tokens per question\n")
    # The search as mining runs it: the top k and the strong neighbours past it (MiningParams).
    defaults = MiningParams(top_k=args.top_k)
    strong = {} if args.plain_top_k else {"keep_above": defaults.keep_above,
                                          "max_neighbours": defaults.max_neighbours}
    print(f"search: top {args.top_k}" + ("" if args.plain_top_k else
          f" and neighbours from {defaults.keep_above} up to {defaults.max_neighbours}") + "\n")
    print(f"| questions | exact index s | pruned index s | pruned finds of exact top-{args.top_k} pairs | of exact best pairs | pairs (pruned) | growth exponent (pruned) | pruned s / N log N (x smallest) |")
    print("|---|---|---|---|---|---|---|---|")
    prev = first = None
    for n in [s for s in SIZES if s <= n_all]:
        sub = matrix[:n]
        # The caps make_index gives the pruned index at this size (wide up to WIDE_UP_TO).
        caps = WIDE_CAPS if n <= WIDE_UP_TO else {}
        t_pruned, approx = timed(lambda m, caps=caps: PrunedIndex(m, **caps), sub, args.top_k, strong)
        t_exact, share, best = None, None, None
        if n <= args.exact_up_to:
            t_exact, exact = timed(SparseIndex, sub, args.top_k, strong)
            share = agreement(exact, approx, args.top_k)
            best = agreement(exact, approx, args.top_k, best_only=True)
        nlogn = t_pruned / (n * math.log(n))
        first = first or nlogn
        growth = "" if prev is None else f"{math.log(t_pruned / prev[1]) / math.log(n / prev[0]):.2f}"
        print(f"| {n:,} | {'' if t_exact is None else f'{t_exact:.1f}'} | {t_pruned:.1f} | "
              f"{'' if share is None else f'{share:.4f}'} | {'' if best is None else f'{best:.4f}'} | "
              f"{len(approx[0]):,} | "
              f"{growth} | {nlogn / first:.2f} |", flush=True)
        prev = (n, t_pruned)
    if child and prev is not None and prev[0] == n_all and n_all > args.exact_up_to:
        # The search stage also loads the vectors and stores the pairs; the search proper is
        # the index as mining builds and runs it (make_index: pruned where exact search costs too much, on threads).
        print(f"\ncandidate search alone at {n_all:,} (build the pruned index and search, as timed above): "
              f"{prev[1]:.1f} s, {100 * prev[1] / sum(stages.values()):.1f}% of mining's stages")


if __name__ == "__main__":
    main()
