"""Benchmark: SPLADE encoding, plain SparseEncoder.encode against QuoraDesk's encode_csr.

    python bench/encode.py                  # all 19,062 distinct questions of dev.tsv
    python bench/encode.py --limit 3000     # a quicker slice
    python bench/encode.py --model accurate --bf16 --batches 32   # and bfloat16 against float32

Both run a shipped SPLADE (--model fast, the default here, or accurate) (fp32 on the CPU) at batch 32 and 64 in one process, one after
the other. "plain" is ``model.encode(texts, batch_size=B)`` with default arguments (timed
alone; its sparse tensor is converted for the comparison afterwards). "quoradesk" is
``encode_csr`` (SpladeHeadEncoder: the MLM head over cache-sized vocabulary slices, max-pooled
as it goes), returning a scipy CSR matrix. The vectors are compared entry by entry.

``--bf16`` then times ``encode_csr(..., bf16=True)`` (what mining does on a CPU with native
bfloat16, models.native_bf16) against float32 and compares the two: each vector's cosine to its
float32 self, and how often a question's nearest neighbour (cosine) is the same question.
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
from scipy import sparse  # noqa: E402

from quoradesk.core import models  # noqa: E402
from quoradesk.core.encode import encode_csr  # noqa: E402
from quoradesk.core.questions import load_questions  # noqa: E402

DEV = Path(os.environ.get("QUORADESK_DEV_TSV", REPO.parent / "shared" / "data" / "quora" / "dev.tsv"))


def to_csr(t: torch.Tensor) -> sparse.csr_matrix:
    t = t.coalesce().cpu()
    i = t.indices().numpy()
    return sparse.csr_matrix((t.values().numpy(), (i[0], i[1])), shape=tuple(t.shape), dtype=np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--model", default="fast", help="accurate, fast or a SPLADE folder")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batches", default="32,64")
    ap.add_argument("--bf16", action="store_true", help="also time and compare bfloat16 encoding")
    args = ap.parse_args()
    texts = [q.text for q in load_questions(DEV).questions][: args.limit]
    device = models.pick_device(args.device)
    model = models.load_sparse_encoder(models.sparse_model_path(args.model), device)
    model.encode(texts[:64], batch_size=32)  # warm-up, both paths share the weights
    encode_csr(model, texts[:64], 32)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    print(f"questions: {len(texts)}\n")
    print(f"{'batch':>5} {'plain s':>8} {'plain q/s':>10} {'ours s':>8} {'ours q/s':>9} {'speed-up':>9} "
          f"{'max |diff|':>11} {'support diff':>13}")
    for bs in (int(b) for b in args.batches.split(",")):
        t = time.perf_counter()
        ref = model.encode(texts, batch_size=bs)
        t_plain = time.perf_counter() - t
        ref = to_csr(ref)
        t = time.perf_counter()
        ours = encode_csr(model, texts, bs)
        t_ours = time.perf_counter() - t
        diff = abs(ours - ref).max()
        support = ((ours != 0) != (ref != 0)).nnz
        n = len(texts)
        print(f"{bs:>5} {t_plain:>8.1f} {n / t_plain:>10.0f} {t_ours:>8.1f} {n / t_ours:>9.0f} "
              f"{t_plain / t_ours:>8.2f}x {diff:>11.2e} {support:>13}")
    if args.bf16:
        compare_bf16(model, texts, int(args.batches.split(",")[0]))


def nearest(m: sparse.csr_matrix, step: int = 1000) -> np.ndarray:
    """Each row's most similar other row (dot product of the prepared rows)."""
    out = np.empty(m.shape[0], dtype=np.int64)
    t = m.T.tocsc()
    for lo in range(0, m.shape[0], step):
        sims = (m[lo : lo + step] @ t).toarray()
        sims[np.arange(sims.shape[0]), np.arange(lo, lo + sims.shape[0])] = -np.inf
        out[lo : lo + step] = sims.argmax(axis=1)
    return out


def compare_bf16(model, texts: list[str], bs: int) -> None:
    from quoradesk.core.index import prepare

    encode_csr(model, texts[:64], bs, bf16=True)  # warm-up
    timed = {}
    for bf16 in (False, True):
        t = time.perf_counter()
        timed[bf16] = (encode_csr(model, texts, bs, bf16=bf16), time.perf_counter() - t)
    (f32, t32), (b16, t16) = timed[False], timed[True]
    a, b = prepare(f32, "cosine"), prepare(b16, "cosine")
    self_cos = np.asarray(a.multiply(b).sum(axis=1)).ravel()
    best = [nearest(m) for m in (a, b)]
    n = len(texts)
    print(f"\nnative bf16 on this CPU: {models.native_bf16()}; batch {bs}")
    print(f"float32 {t32:.1f}s ({n / t32:.0f} q/s), bfloat16 {t16:.1f}s ({n / t16:.0f} q/s): {t32 / t16:.2f}x")
    print(f"cosine of each bf16 vector to its float32 self: min {self_cos.min():.5f}, "
          f"1st percentile {np.percentile(self_cos, 1):.5f}, median {np.median(self_cos):.5f}")
    print(f"active terms per question: float32 {f32.getnnz(axis=1).mean():.1f}, bf16 {b16.getnnz(axis=1).mean():.1f}")
    print(f"same top-1 pair partner: {np.mean(best[0] == best[1]):.4f}")


if __name__ == "__main__":
    main()
