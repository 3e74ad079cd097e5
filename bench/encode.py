"""Benchmark: SPLADE encoding, plain SparseEncoder.encode against QuoraDesk's encode_csr.

    python bench/encode.py                  # all 19,062 distinct questions of dev.tsv
    python bench/encode.py --limit 3000     # a quicker slice
    python bench/encode.py --model accurate --bf16 --batches 32   # and bfloat16 against float32
    python bench/encode.py --model accurate --bf16 --int8 --batches 32 --limit 3000   # and the int8 head
    python bench/encode.py --model accurate --bf16 --int8 --int8-body --batches 32 --limit 3000  # the int8 encoder

Both run a shipped SPLADE (--model fast, the default here, or accurate) (fp32 on the CPU) at batch 32 and 64 in one process, one after
the other. "plain" is ``model.encode(texts, batch_size=B)`` with default arguments (timed
alone; its sparse tensor is converted for the comparison afterwards). "quoradesk" is
``encode_csr`` (SpladeHeadEncoder: the MLM head over cache-sized vocabulary slices, max-pooled
as it goes), returning a scipy CSR matrix. The vectors are compared entry by entry.

``--bf16`` then times ``encode_csr(..., bf16=True)`` (what mining does on a CPU with native
bfloat16, models.native_bf16) against float32 and compares the two: each vector's cosine to its
float32 self, how often a question's nearest neighbour (cosine) is the same question, and pair
AP on the held-out 15% of dev.tsv. ``--int8`` adds the MLM head's product in int8
(``encode_csr(..., int8=True)``, what mining does on a CPU with VNNI, models.native_int8), with
float32 and with bf16 products elsewhere. ``--int8-body`` adds the int8 encoder, on the model's
active vocabulary and on the project's (``models.project_vocabulary``, fitted on the texts as
a run fits it on its project; the fit is timed apart).
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
from quoradesk.core.models.encode import encode_csr  # noqa: E402
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
    ap.add_argument("--int8", action="store_true", help="also time and compare the int8 MLM head (alone and with bf16)")
    ap.add_argument("--int8-body", action="store_true",
                    help="also time and compare the int8 encoder (body in int8, head on the active vocabulary)")
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
    names = ((["bf16"] if args.bf16 else []) + (["int8", "bf16+int8"] if args.int8 else [])
             + (["int8 body", "int8 body, project vocabulary"] if args.int8_body else []))
    if names:
        compare_precisions(model, texts, int(args.batches.split(",")[0]), names)


def nearest(m: sparse.csr_matrix, step: int = 1000) -> np.ndarray:
    """Each row's most similar other row (dot product of the prepared rows)."""
    out = np.empty(m.shape[0], dtype=np.int64)
    t = m.T.tocsc()
    for lo in range(0, m.shape[0], step):
        sims = (m[lo : lo + step] @ t).toarray()
        sims[np.arange(sims.shape[0]), np.arange(lo, lo + sims.shape[0])] = -np.inf
        out[lo : lo + step] = sims.argmax(axis=1)
    return out


def held_out_ap(model, held, bs: int, **precision) -> float:
    """Pair AP (cosine) on the labelled pairs ``held``."""
    from sklearn.metrics import average_precision_score

    from quoradesk.core.search.index import prepare

    texts = sorted(set(held.q1) | set(held.q2))
    pos = {t: i for i, t in enumerate(texts)}
    m = prepare(encode_csr(model, texts, bs, **precision), "cosine")
    a, b = m[[pos[q] for q in held.q1]], m[[pos[q] for q in held.q2]]
    return float(average_precision_score(held.labels, np.asarray(a.multiply(b).sum(axis=1)).ravel()))


def compare_precisions(model, texts: list[str], bs: int, names: list[str]) -> None:
    """Time float32 and each precision in ``names`` (bf16: bf16 products; int8: the MLM head
    in int8; bf16+int8: both, what mining did where the CPU has both natively; int8 body: the
    int8 encoder, body in int8 and head on the active vocabulary), and compare
    each one's vectors with float32's."""
    from quoradesk.core.search.index import prepare
    from quoradesk.core.training import read_pair_file, split_held_out

    _, held = split_held_out(read_pair_file(DEV), 0.15, seed=12)  # neither shipped model saw it
    variants = {"float32": {}, **{n: {"bf16": "bf16" in n, "int8": "int8" in n, "int8_body": "body" in n}
                                  for n in names}}
    if "int8 body, project vocabulary" in variants:  # as a run fits it on its questions (timed apart)
        from quoradesk.core.models.project_vocabulary import (
            fit_project_vocabulary,
            sample_positions,
        )

        t = time.perf_counter()
        vocabulary = fit_project_vocabulary(model, [texts[i] for i in sample_positions(len(texts))])
        print(f"project vocabulary: {0 if vocabulary is None else len(vocabulary)} entries, "
              f"fitted in {time.perf_counter() - t:.2f} s")
        variants["int8 body, project vocabulary"]["vocabulary"] = vocabulary
    for kw in variants.values():
        encode_csr(model, texts[:64], bs, **kw)  # warm-up (bf16 and int8 weight copies made)
    print(f"\nnative bf16 on this CPU: {models.native_bf16()}, native int8 (VNNI): {models.native_int8()}; "
          f"batch {bs}")
    ref = None
    for name, kw in variants.items():
        t = time.perf_counter()
        m = encode_csr(model, texts, bs, **kw)
        took = time.perf_counter() - t
        line = f"{name:>10}: {took:6.1f}s ({len(texts) / took:5.0f} q/s), {m.getnnz(axis=1).mean():.1f} terms a question"
        b = prepare(m, "cosine")
        if ref is None:
            ref, ref_time, ref_best = b, took, nearest(b)
        else:
            self_cos = np.asarray(ref.multiply(b).sum(axis=1)).ravel()
            line += (f", {ref_time / took:.2f}x float32's speed; cosine to the float32 vector min {self_cos.min():.5f}, "
                     f"1st percentile {np.percentile(self_cos, 1):.5f}, median {np.median(self_cos):.5f}; "
                     f"same top-1 partner {np.mean(nearest(b) == ref_best):.4f}")
        print(line + f"; held-out pair AP {held_out_ap(model, held, bs, **kw):.4f}", flush=True)


if __name__ == "__main__":
    main()
