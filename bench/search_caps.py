"""Benchmark: the pruned index's caps on the 19,062 dev questions, against exact search.

    python bench/search_caps.py                          # the accurate SPLADE, the caps below
    python bench/search_caps.py --caps 1024/48/32,1024/32/32 --rounds 3
    python bench/search_caps.py --model fast --exact

Encodes every distinct question of dev.tsv once, as mining does on this CPU (bf16 and the int8
head where the CPU has them), then, alternately for ``--rounds`` rounds, searches the vectors
with ``PrunedIndex`` at each cap ``postings/query_terms/candidates`` (and with the exact
``SparseIndex`` when ``--exact``), keeping strong neighbours as mining does. For each: seconds
(index build and search, on as many threads as torch uses), pairs, and, of the labelled
duplicates, the mining AP of the pairs ranked by cosine, recall among the first 5x as many
pairs as there are duplicates (R@5x) and recall among all pairs. No reranking: this compares
candidate searches only (bench/mine.py times the whole pipeline).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mine import recall_at  # noqa: E402

from quoradesk.core import models  # noqa: E402
from quoradesk.core.mining import MiningParams  # noqa: E402
from quoradesk.core.models.encode import encode_csr  # noqa: E402
from quoradesk.core.questions import load_questions  # noqa: E402
from quoradesk.core.search.index import WIDE_CAPS, PrunedIndex, SparseIndex, prepare  # noqa: E402
from quoradesk.core.training.evaluate import mining_metrics  # noqa: E402

DEV = Path(os.environ.get("QUORADESK_DEV_TSV", REPO.parent / "shared" / "data" / "quora" / "dev.tsv"))
DEFAULT_CAPS = "1024/48/48,1024/48/32,1024/40/32,1024/32/32,768/48/32"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="accurate", help="accurate, fast or a SPLADE folder")
    ap.add_argument("--caps", default=DEFAULT_CAPS, help="comma-separated postings/query_terms/candidates")
    ap.add_argument("--exact", action="store_true", help="also time the exact index")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if not DEV.is_file():
        sys.exit(f"No labelled Quora file at {DEV} (set QUORADESK_DEV_TSV)")
    result = load_questions(DEV)
    texts = [q.text for q in result.questions]
    gold = [(p.a, p.b) for p in result.labelled_pairs if p.label == 1]
    params = MiningParams().on_device("cpu")
    model = models.load_sparse_encoder(models.sparse_model_path(args.model))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; model {args.model}; bf16 {params.encode_bf16}, int8 head "
          f"{params.encode_int8}; the app's wide caps now {WIDE_CAPS}")
    t = time.perf_counter()
    matrix = prepare(encode_csr(model, texts, params.batch_size, bf16=params.encode_bf16, int8=params.encode_int8),
                     params.similarity)
    print(f"{len(texts)} questions encoded in {time.perf_counter() - t:.1f} s, {len(gold)} labelled duplicates\n")

    def make(name):
        if name == "exact":
            return SparseIndex(matrix)
        postings, query_terms, candidates = (int(x) for x in name.split("/"))
        return PrunedIndex(matrix, postings=postings, query_terms=query_terms, candidates=candidates)

    names = args.caps.split(",") + (["exact"] if args.exact else [])
    for round_ in range(1, args.rounds + 1):
        for name in names:
            t = time.perf_counter()
            a, b, s, _ = make(name).all_pairs(params.top_k, keep_above=params.keep_above,
                                              max_neighbours=params.max_neighbours)
            took = time.perf_counter() - t
            order = np.argsort(-s, kind="stable")
            ranked = list(zip(a[order].tolist(), b[order].tolist(), strict=True))
            m = mining_metrics(ranked, gold)
            r5 = recall_at(ranked, gold, 5 * len(gold))
            print(f"{name:<12} round {round_}  {took:5.1f} s  {len(a):>7} pairs  AP {m.average_precision:.4f}  "
                  f"R@5x {r5:.4f}  recall {m.recall:.4f}", flush=True)


if __name__ == "__main__":
    main()
