"""Benchmark: the shipped models against the untuned SPLADE and all-MiniLM-L6-v2.

    python bench/models.py
    python bench/models.py --split validation   # the 850 pairs that chose the recipes instead

On the held-out split of dev.tsv (``training.split_held_out(0.15, seed=12)``: 1,500 pairs
that share no question text with the training pairs) it prints:
  1. pair classification (AP, F1, accuracy at the best threshold) of each encoder;
  2. mining the held-out questions (top-10 per question, then ranked): recall and AP of the
     labelled duplicates, for each encoder, and for the full QuoraDesk pipeline with the
     shipped CrossEncoder reranking the candidates;
  3. the shipped CrossEncoder's own pair classification.
all-MiniLM-L6-v2 was trained on Quora duplicates (likely including these very questions),
so its figures are flattered: it is a ceiling to aim at, not a fair opponent.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from mine import ranked_by  # noqa: E402

from quoradesk.core import models, training  # noqa: E402
from quoradesk.core.mining import MiningJob, MiningParams  # noqa: E402
from quoradesk.core.questions import load_questions  # noqa: E402
from quoradesk.core.store import Store  # noqa: E402
from quoradesk.core.training import evaluate  # noqa: E402

DEV = Path(os.environ.get("QUORADESK_DEV_TSV", REPO.parent / "shared" / "data" / "quora" / "dev.tsv"))


def pick(metrics: dict, sim: str) -> tuple[float, float, float]:
    return metrics[f"{sim}_ap"], metrics[f"{sim}_f1"], metrics[f"{sim}_accuracy"]


def pipeline(held_out, sparse_path, reranker_path, device):
    """The app's own pipeline on the questions of ``held_out``; returns metrics and seconds."""
    tmp = Path(tempfile.mkdtemp(prefix="qd-models-"))
    src = tmp / "held_out.txt"
    texts = sorted(set(held_out.q1) | set(held_out.q2))
    src.write_text("\n".join(texts) + "\n", encoding="utf-8")
    store = Store(tmp / "p.sqlite")
    store.add_import(load_questions(src))
    ids = store._ids_for_texts(texts)
    gold = [(ids[a], ids[b]) for a, b, y in zip(held_out.q1, held_out.q2, held_out.labels, strict=True) if y]
    job = MiningJob(store, sparse_model=sparse_path, reranker=reranker_path, params=MiningParams(), device=device)
    t = time.perf_counter()
    list(job.run())
    seconds = time.perf_counter() - t
    run = store.get_run(job.run_record.id)
    pairs = list(store.iter_pairs(run.id))
    final = evaluate.mining_metrics(((p.a, p.b) for p in pairs), gold)
    sparse_only = evaluate.mining_metrics(ranked_by(pairs, "sparse_score"), gold)
    first_only = evaluate.mining_metrics(ranked_by(pairs, "first_score"), gold)
    return final, sparse_only, first_only, seconds, run.timings


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="SPLADE: distilled, accurate, fast or a folder (default: the default one)")
    ap.add_argument("--reranker", default=str(models.SHIPPED_CROSS), help="CrossEncoder (default: the shipped one)")
    ap.add_argument("--split", choices=["held-out", "validation"], default="held-out",
                    help="validation: the 10%% of the training pairs (seed 13) that chose the shipped "
                         "recipes; no shipped model trained on them, but they were selected on them")
    args = ap.parse_args()
    device = models.pick_device("auto")
    pairs = training.read_pair_file(DEV)
    train, held = training.split_held_out(pairs, 0.15, seed=12)
    if args.split == "validation":
        _, held = training.split_held_out(train, 0.10, seed=13)
    n_questions = len(set(held.q1) | set(held.q2))
    print(f"{args.split}: {len(held)} pairs ({held.positives} duplicates), {n_questions} questions; device {device}\n")

    shipped, base = models.sparse_model_path(args.model), models.base_splade_path()
    rows = []
    for name, path in ((f"shipped SPLADE ({shipped.name})", shipped), ("untuned BERT-tiny SPLADE", base)):
        enc = models.load_sparse_encoder(path, device)
        m = evaluate.evaluate_sparse(enc, held)
        mine_cos = evaluate.mining_eval(enc, held, similarity="cosine")
        mine_dot = evaluate.mining_eval(enc, held, similarity="dot")
        rows.append((name, *pick(m, "cosine"), *pick(m, "dot")[:1], mine_cos, mine_dot, m["active_dims"]))

    from sentence_transformers import SentenceTransformer, util

    dense = SentenceTransformer(str(models.minilm_path()), device=device, local_files_only=True)
    md = evaluate.evaluate_dense(dense, held)
    texts = sorted(set(held.q1) | set(held.q2))
    pos = {t: i for i, t in enumerate(texts)}
    mined = util.paraphrase_mining(dense, texts, top_k=10, max_pairs=10**9, show_progress_bar=False)
    gold = [(pos[a], pos[b]) for a, b, y in zip(held.q1, held.q2, held.labels, strict=True) if y]
    dense_mine = evaluate.mining_metrics(((i, j) for _, i, j in mined), gold)

    print(f"1. Pair classification on {args.split} pairs (best threshold)")
    print(f"{'model':<48} {'cos AP':>7} {'cos F1':>7} {'cos acc':>7} {'dot AP':>7} {'dims':>6}")
    for name, ap, f1, acc, dot_ap, _, _, dims in rows:
        print(f"{name:<48} {ap:>7.4f} {f1:>7.4f} {acc:>7.4f} {dot_ap:>7.4f} {dims:>6.1f}")
    print(f"{'all-MiniLM-L6-v2, dense (Quora-trained: flattered)':<48} "
          f"{md['cosine_ap']:>7.4f} {md['cosine_f1']:>7.4f} {md['cosine_accuracy']:>7.4f} {'-':>7} {'-':>6}")

    print(f"\n2. Mining the {args.split} questions (top-10 each): recall / AP of labelled duplicates")
    print(f"{'method':<64} {'recall':>7} {'AP':>7}")
    for name, *_, mine_cos, mine_dot, _ in rows:
        print(f"{name + ', cosine':<64} {mine_cos.recall:>7.4f} {mine_cos.average_precision:>7.4f}")
        print(f"{name + ', dot':<64} {mine_dot.recall:>7.4f} {mine_dot.average_precision:>7.4f}")
    print(f"{'all-MiniLM-L6-v2 paraphrase_mining (flattered)':<64} {dense_mine.recall:>7.4f} {dense_mine.average_precision:>7.4f}")
    final, sparse_only, first_only, secs, timings = pipeline(held, shipped, Path(args.reranker), device)
    policy = MiningParams()
    print(f"{'QuoraDesk pipeline: shipped SPLADE candidates, sparse score only':<64} "
          f"{sparse_only.recall:>7.4f} {sparse_only.average_precision:>7.4f}")
    print(f"{'QuoraDesk pipeline: the same, cosine in context (core.margins)':<64} "
          f"{first_only.recall:>7.4f} {first_only.average_precision:>7.4f}")
    print(f"{f'QuoraDesk pipeline: + CrossEncoder rerank (best {policy.rerank_top}, from {policy.rerank_floor})':<64} "
          f"{final.recall:>7.4f} {final.average_precision:>7.4f}")
    print(f"   pipeline time {secs:.1f}s: " + ", ".join(f"{k} {v:.1f}s" for k, v in sorted(timings.items())))

    ce = models.load_cross_encoder(args.reranker, device)
    mc = evaluate.evaluate_cross(ce, held)
    print(f"\n3. CrossEncoder {args.reranker} on {args.split} pairs")
    print(f"accuracy {mc['accuracy']:.4f}  F1 {mc['f1']:.4f}  precision {mc['precision']:.4f}  "
          f"recall {mc['recall']:.4f}  AP {mc['average_precision']:.4f}")


if __name__ == "__main__":
    main()
