"""Benchmark: CrossEncoder reranking throughput, pairs per second.

    python bench/rerank.py                  # 3,000 real candidate pairs from dev.tsv
    python bench/rerank.py --pairs 1000

Compares, on the shipped CrossEncoder and the same pairs: batches of 32 in store order (the
first version), batches of 64 sorted by combined length in characters (the second), and what
the app does now (batches of 64 sorted by token count, ``rerank.rerank_scores``); it checks
the scores are the same. The pairs are dev.tsv's labelled pairs (real questions of
real lengths).

Then, on the 1,500 held-out pairs (``training.split_held_out``), which neither model was
trained on: pairs per second and pair-classification AP of the float32 CrossEncoder, the same
model in ONNX Runtime with int8 weights (``models.load_cross_encoder(..., int8=True)``,
``onnx_rerank.Int8CrossEncoder``), torch's own dynamic int8 quantisation (what the app used
before), and the distilled 4-layer CrossEncoder (the default reranker) in float32 and in int8
(the app's default on a CPU), each timed twice in turn (this shared box's speed drifts).
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

import numpy as np  # noqa: E402
import torch  # noqa: E402

from quoradesk.core import models  # noqa: E402
from quoradesk.core.models.rerank import rerank_scores  # noqa: E402
from quoradesk.core.questions import load_questions  # noqa: E402

DEV = Path(os.environ.get("QUORADESK_DEV_TSV", REPO.parent / "shared" / "data" / "quora" / "dev.tsv"))


def predict_in_store_order(ce, pairs, size):
    """What the app did before: batches in the order the store gave the pairs."""
    scores = []
    for lo in range(0, len(pairs), size):
        scores.extend(ce.predict(pairs[lo : lo + size], batch_size=size, show_progress_bar=False).tolist())
    return np.array(scores)


def predict_sorted_by_characters(ce, pairs, size):
    """The second version: batches of pairs of similar length in characters."""
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    scores = np.zeros(len(pairs))
    for lo in range(0, len(order), size):
        part = order[lo : lo + size]
        scores[part] = ce.predict([pairs[i] for i in part], batch_size=size, show_progress_bar=False)
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=3000)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    result = load_questions(DEV)
    qs = [q.text for q in result.questions]
    pairs = [(qs[p.a], qs[p.b]) for p in result.labelled_pairs][: args.pairs]
    device = models.pick_device(args.device)
    ce = models.load_cross_encoder(models.SHIPPED_CROSS, device)
    predict_in_store_order(ce, pairs[:64], 32)  # warm-up
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    print(f"pairs: {len(pairs)}\n")
    ref = None
    for name, score in [("first: batch 32, store order", lambda: predict_in_store_order(ce, pairs, 32)),
                        ("second: batch 64, sorted by characters",
                         lambda: predict_sorted_by_characters(ce, pairs, 64)),
                        ("now: batch 64, sorted by tokens (rerank.rerank_scores)",
                         lambda: np.array(rerank_scores(ce, pairs, 64)))]:
        t = time.perf_counter()
        s = score()
        secs = time.perf_counter() - t
        ref = s if ref is None else ref
        print(f"{name:<56} {secs:>7.1f} s {len(pairs) / secs:>7.0f} pairs/s   max |diff| {abs(s - ref).max():.1e}")

    from sklearn.metrics import average_precision_score

    from quoradesk.core import training

    _, held = training.split_held_out(training.read_pair_file(DEV), 0.15, seed=12)
    held_pairs = list(zip(held.q1, held.q2, strict=True))
    print(f"\nheld-out pairs: {len(held_pairs)} ({held.positives} duplicates), batches of 64 sorted by tokens")
    rerankers = {
        "float32 CrossEncoder": models.load_cross_encoder(models.SHIPPED_CROSS, device),
        "int8 in ONNX Runtime": models.load_cross_encoder(models.SHIPPED_CROSS, device, int8=True),
        "int8 by torch.ao dynamic quantisation (before)": torch_int8(models.SHIPPED_CROSS, device),
    }
    if models.SHIPPED_CROSS_DISTILLED.is_dir():  # the default reranker: 4 of the 6 layers, distilled
        rerankers["distilled, float32"] = models.load_cross_encoder(models.SHIPPED_CROSS_DISTILLED, device)
        rerankers["distilled, int8 in ONNX Runtime (the app's default)"] = models.load_cross_encoder(
            models.SHIPPED_CROSS_DISTILLED, device, int8=True)
    ref = None
    for round_ in (1, 2):
        for name, model in rerankers.items():
            rerank_scores(model, held_pairs[:64], 64)  # warm-up
            t = time.perf_counter()
            s = np.array(rerank_scores(model, held_pairs, 64))
            secs = time.perf_counter() - t
            ref = s if ref is None else ref
            print(f"{name + f' ({round_})':<56} {secs:>7.1f} s {len(held_pairs) / secs:>7.0f} pairs/s   "
                  f"AP {average_precision_score(held.labels, s):.4f}   max |diff| {abs(s - ref).max():.2f}")


def torch_int8(path, device):
    """The float32 CrossEncoder with torch's dynamic int8 quantisation of its linear layers."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    model = models.load_cross_encoder(path, device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in favour of torchao
        model[0].model = quantize_dynamic(model[0].model, {torch.nn.Linear: per_channel_dynamic_qconfig},
                                          dtype=torch.qint8)
    return model

if __name__ == "__main__":
    main()
