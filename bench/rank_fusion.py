"""Benchmark: how many candidates per question to rerank, and how to fuse the two scores.

    python bench/rank_fusion.py              # the held-out questions of dev.tsv (fair)
    python bench/rank_fusion.py --model fast # the BERT-tiny SPLADE (default: the default one)
    python bench/rank_fusion.py --hybrid     # and dense (MiniLM) candidates joined to the sparse ones

Mines the held-out questions once with the shipped models, reranking each question's best
``--max-top`` candidates from cosine ``--low`` up, then replays the app's ranking offline
for every policy and first stage: a pair is reranked when it is among its question's best
``top`` by cosine and its first-stage score is at least ``floor``; reranked pairs rank by ``w * reranker + (1 - w) *
first``, the rest after them by ``first``, where ``first`` is the cosine alone or the cosine in
context (the run's ``first_score``, core.margins: what the app does). For each policy: pairs reranked, the
seconds that takes at the measured int8 rate, AP, and recall within the first 1x and 5x as
many pairs as there are labelled duplicates (the issue's "recall at 5x the labelled pairs").
The reference is sentence-transformers' ``paraphrase_mining`` with all-MiniLM-L6-v2 (top 10)
on the same questions, timed from loaded model to ranked pairs. MiniLM was trained on Quora
duplicates, so this evaluation flatters it.

Measured on the 2-core Xeon (2,871 held-out questions, 718 duplicates, 23,214 candidates):
today's policy (top 1, floor 0.75, w 0.5) AP 0.640, recall@5x 0.936; the best recall@5x,
top 2 from 0.7 with w 0.3, 0.957 (AP 0.627); cosine alone AP 0.569, recall@5x 0.936; MiniLM
AP 0.688, recall@5x 0.996. Reranking more of each question's candidates lowers AP, as
reranked pairs all rank before the others: past the best pair, the first stage decides.

On the 2-core EPYC, accurate SPLADE, hard-negative reranker (int8), top 1, w 0.5: by cosine
from cosine 0.5 (the previous default) AP 0.696, recall@5x 0.983 (1,068 pairs reranked); in
context from 0.65 (today's default) **0.748, 0.993** (869 pairs). Without reranking: cosine
0.649, 0.983; in context 0.730, 0.993. The fast SPLADE: 0.651, 0.950 -> 0.696, 0.964.
``--hybrid`` (MiniLM's top 10 joined, each model in context, each question's best dense pair
reranked from 0.65): AP 0.766, recall@5x 0.997 for a dense stage of 13.2 s; MiniLM alone in
context 0.731, 0.999 (by plain cosine 0.688, 0.996).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
from rerank_policy import labelled_project  # noqa: E402

from quoradesk.core import models  # noqa: E402
from quoradesk.core.mining import MiningJob, MiningParams  # noqa: E402
from quoradesk.core.training import evaluate  # noqa: E402


def scores_of(ranked: list[tuple[int, int]], gold: set, n_gold: int) -> tuple[float, float, float]:
    """(AP, recall within n_gold pairs, recall within 5 * n_gold pairs)."""
    ap = evaluate.mining_metrics(ranked, gold).average_precision
    hits = np.cumsum([p in gold for p in ranked]) if ranked else np.zeros(1)

    def recall_at(n):
        return float(hits[min(n, len(hits)) - 1]) / n_gold

    return ap, recall_at(n_gold), recall_at(5 * n_gold)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-top", type=int, default=3)
    ap.add_argument("--low", type=float, default=0.5)
    ap.add_argument("--all", action="store_true", help="all of dev.tsv (the shipped models saw 85%% of it)")
    ap.add_argument("--model", help="SPLADE: a shipped name (distilled, the default; accurate; fast) or a folder")
    ap.add_argument("--reranker", type=Path, help="CrossEncoder folder (default: the app's)")
    ap.add_argument("--hybrid", action="store_true",
                    help="also measure hybrid candidates: MiniLM's top-10 pairs joined to the SPLADE's")
    args = ap.parse_args()

    texts, store, labelled = labelled_project(args.all, "qd-fusion-")
    ids = store._ids_for_texts(texts)
    gold = {tuple(sorted(p)) for p in labelled}
    # The run's floor is on the score in context, 2 * cosine - (the questions' usual closeness,
    # at most 1): from 2 * low - 1 it reranks every pair the cosine policies replay too.
    params = MiningParams(rerank_top=args.max_top, rerank_floor=2 * args.low - 1)
    job = MiningJob(store, sparse_model=args.model, reranker=args.reranker or models.default_reranker_path(), params=params,
                    device="cpu")
    job.encoder(), job.reranker()
    list(job.run())
    run = store.get_run(job.run_record.id)
    rows = np.array(store.db.execute(
        "select a, b, sparse_score, coalesce(rerank_score, 'nan'), rank, first_score from pairs where run_id = ?",
        [run.id]).fetchall(), dtype=np.float64)
    a, b = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
    cos, ce, rank, margin = rows[:, 2], rows[:, 3], rows[:, 4], rows[:, 5]
    rate = np.isfinite(ce).sum() / run.timings["rerank"]
    n_gold = len(gold)
    print(f"SPLADE {models.describe(job.sparse_model_path)}: {len(texts)} questions, {n_gold} labelled duplicates, {len(a)} candidate pairs; stages "
          f"{', '.join(f'{k} {v:.1f}s' for k, v in run.timings.items())}; int8 reranker {rate:.0f} pairs/s\n")
    # first stage: "cosine" alone, or "margin" (the run's first_score: core.margins, the app's)
    print(f"{'first':>6} {'top':>3} {'floor':>5} {'w':>4} {'reranked':>8} {'secs':>6} {'AP':>7} {'R@1x':>6} {'R@5x':>6}")
    results = []
    floors = sorted({args.low, *(f for f in (0.4, 0.45, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8) if f >= args.low)})
    for name, first in (("cosine", cos), ("margin", margin)):
        for top, floor, w in itertools.product(range(1, args.max_top + 1), floors, (0.3, 0.5, 0.7, 1.0)):
            chosen = (rank <= top) & (first >= floor - 1e-9) & np.isfinite(ce)
            mixed = w * ce + (1 - w) * first
            order = np.lexsort((-first, -np.where(chosen, mixed, -np.inf)))
            ranked = list(zip(a[order].tolist(), b[order].tolist(), strict=True))
            m = scores_of(ranked, gold, n_gold)
            n = int(chosen.sum())
            results.append((name, top, floor, w, n, m))
            print(f"{name:>6} {top:>3} {floor:>5.2f} {w:>4.1f} {n:>8} {n / rate:>6.1f} {m[0]:>7.4f} {m[1]:>6.4f} "
                  f"{m[2]:>6.4f}")
    print()
    for name, first in (("cosine", cos), ("margin", margin)):
        order = np.argsort(-first, kind="stable")
        m = scores_of(list(zip(a[order].tolist(), b[order].tolist(), strict=True)), gold, n_gold)
        print(f"no rerank ({name} only): AP {m[0]:.4f}  R@1x {m[1]:.4f}  R@5x {m[2]:.4f}")

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import paraphrase_mining

    minilm = SentenceTransformer(str(models.minilm_path()), device="cpu", local_files_only=True)
    t = time.perf_counter()
    mined = paraphrase_mining(minilm, texts, top_k=10, show_progress_bar=False)
    secs = time.perf_counter() - t
    ranked = [tuple(sorted((ids[texts[i]], ids[texts[j]]))) for _, i, j in mined]
    m = scores_of(ranked, gold, n_gold)
    print(f"MiniLM paraphrase_mining (top 10; trained on Quora: flattered): {secs:.1f}s, {len(ranked)} pairs, "
          f"AP {m[0]:.4f}  R@1x {m[1]:.4f}  R@5x {m[2]:.4f}")
    if args.hybrid:
        hybrid(job, ids, texts, mined, secs, (a, b, margin, ce, rank), gold, n_gold, rate)
    best = max(results, key=lambda r: (r[5][2], r[5][0]))
    print(f"best R@5x: {best[0]} top {best[1]} floor {best[2]} w {best[3]}: {best[4]} reranked, AP {best[5][0]:.4f}, "
          f"R@5x {best[5][2]:.4f}")


def hybrid(job, ids, texts, mined, dense_secs, sparse_pairs, gold, n_gold, rate) -> None:
    """Hybrid candidate search, measured: the dense model's top-10 pairs (``mined``) joined to
    the SPLADE's candidates, ranked as the app ranks (core.margins): each model's cosine in
    context over its own candidates, a pair's first-stage score the larger of its two. The
    app's reranked pairs (each question's best, from the app's floor in context) plus each
    question's best dense pair from that floor when the SPLADE run did not rerank it; reranked
    pairs rank first by ``w * reranker + (1 - w) * first`` (the app's weight), the rest by
    ``first``. Costs: the dense encode and search (``dense_secs``) and the extra pairs reranked."""
    from quoradesk.core.models.rerank import rerank_scores
    from quoradesk.core.search.margins import margin_scores

    app = MiningParams()
    floor, w = app.rerank_floor, app.rerank_weight

    a, b, first_sparse, ce, rank = sparse_pairs
    first = {(int(x), int(y)): f for x, y, f in zip(a, b, first_sparse, strict=True)}
    chosen = {(int(x), int(y)): s for x, y, f, s, r in zip(a, b, first_sparse, ce, rank, strict=True)
              if r <= 1 and f >= floor - 1e-9 and np.isfinite(s)}
    dense_pairs = [tuple(sorted((ids[texts[i]], ids[texts[j]]))) for _, i, j in mined]  # best first
    da, db = (np.array(side, dtype=np.int64) for side in zip(*dense_pairs, strict=True))
    questions = np.union1d(da, db)
    dense_first = margin_scores(np.searchsorted(questions, da), np.searchsorted(questions, db),
                                np.array([score for score, _, _ in mined]), len(questions))
    dense = dict(zip(dense_pairs, dense_first.tolist(), strict=True))
    dense_ranked = sorted(dense, key=lambda p: -dense[p])
    best_dense = {}
    for p in dense_ranked:
        for q in p:
            best_dense.setdefault(q, p)
    extra = sorted({p for p in best_dense.values() if p not in chosen and dense[p] >= floor - 1e-9})
    text = dict(zip(ids.values(), ids.keys(), strict=False))
    t = time.perf_counter()
    scores = rerank_scores(job.reranker(), [(text[x], text[y]) for x, y in extra], 64)
    ce_secs = time.perf_counter() - t
    chosen.update(zip(extra, scores, strict=True))
    pairs = set(first) | set(dense)
    fs = {p: max(first.get(p, -np.inf), dense.get(p, -np.inf)) for p in pairs}
    ranked = sorted(pairs, key=lambda p: (0, -(w * chosen[p] + (1 - w) * fs[p])) if p in chosen else (1, -fs[p]))
    m = scores_of(ranked, gold, n_gold)
    print(f"hybrid (SPLADE + MiniLM top 10, each in context, best dense pair reranked from {floor}; MiniLM "
          f"trained on Quora: flattered): {len(pairs)} candidates ({len(pairs) - len(first)} dense only), "
          f"{len(extra)} more reranked in {ce_secs:.1f}s, dense stage {dense_secs:.1f}s; AP {m[0]:.4f}  "
          f"R@1x {m[1]:.4f}  R@5x {m[2]:.4f}; recall of all candidates {len(pairs & gold) / n_gold:.4f} "
          f"(SPLADE alone {len(set(first) & gold) / n_gold:.4f})")
    m = scores_of(dense_ranked, gold, n_gold)
    print(f"MiniLM paraphrase_mining in context (no rerank): AP {m[0]:.4f}  R@1x {m[1]:.4f}  R@5x {m[2]:.4f}")


if __name__ == "__main__":
    main()
