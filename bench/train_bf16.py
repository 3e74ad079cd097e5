"""Benchmark: training steps in float32 against bfloat16 autocast on this CPU.

    python bench/train_bf16.py              # 10 steps of each recipe, both precisions
    python bench/train_bf16.py --steps 20 --only sparse

Each recipe trains from the same base, on the same dev.tsv training pairs, with the same seed,
once with ``config.bf16=False`` and once with ``True`` (what ``training._use_bf16`` chooses
where ``models.native_bf16()``): the accurate SPLADE (shipped splade-minilm-quora, cosine MNRL,
batch 64), the CrossEncoder (MiniLM body, batch 32) and the dense MiniLM (MNRL, batch 64).
Seconds a step are the median gap between consecutive logged steps after the first two
(warm-up); the loss is the mean of the logged losses, which should agree to about two digits.
Only worth running where the CPU has AVX512-BF16 or AMX: elsewhere bf16 is emulated.

Measured (`--steps 7`, 2-core AMD EPYC with AVX512-BF16, torch 2.13 CPU, one run):
    sparse  float32  7.42 s/step (loss 0.0711)   bf16  3.81 s/step (loss 0.0709)   1.95x
    cross   float32  1.46 s/step (loss 0.6921)   bf16  0.85 s/step (loss 0.6936)   1.72x
    dense   float32  2.68 s/step (loss 0.0401)   bf16  1.45 s/step (loss 0.0401)   1.85x
(an 8-step probe of the sparse recipe before this script: 6.4 against 4.3 s, 1.48x).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from quoradesk.core import models, training  # noqa: E402
from quoradesk.core.training.dense import DenseConfig, train_dense  # noqa: E402

DEV = Path(os.environ.get("QUORADESK_DEV_TSV", REPO.parent / "shared" / "data" / "quora" / "dev.tsv"))


def run(kind: str, bf16: bool, steps: int, train) -> tuple[float, float]:
    """(seconds a step, mean logged loss) of ``steps`` steps of one recipe."""
    stamps, losses = [], []

    def on_event(e):
        if e.kind == "loss":
            stamps.append(time.perf_counter())
            losses.append(e.values["loss"])

    common = dict(max_steps=steps, logging_steps=1, bf16=bf16)
    out = Path(tempfile.mkdtemp(prefix=f"bf16-{kind}-")) / "model"
    if kind == "sparse":
        training.train_sparse(models.sparse_model_path("accurate"), train, None, out,
                              training.SparseConfig(loss="mnrl-cos", batch_size=64, learning_rate=5e-5, **common),
                              device="cpu", on_event=on_event)
    elif kind == "cross":
        training.train_cross(models.minilm_path(), train, None, out,
                             training.CrossConfig(batch_size=32, learning_rate=5e-5, **common),
                             device="cpu", on_event=on_event)
    else:
        train_dense(models.minilm_path(), train, None, out, DenseConfig(batch_size=64, **common),
                    device="cpu", on_event=on_event)
    gaps = [b - a for a, b in zip(stamps[2:], stamps[3:])]
    return statistics.median(gaps), statistics.fmean(losses)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEV)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--only", choices=["sparse", "cross", "dense"], action="append")
    args = ap.parse_args()
    if not args.data.is_file():
        sys.exit(f"{args.data} not found: set QUORADESK_DEV_TSV")
    import torch

    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, native bf16: {models.native_bf16()}")
    train, _ = training.split_held_out(training.read_pair_file(args.data), 0.15, seed=12)
    for kind in args.only or ["sparse", "cross", "dense"]:
        (s32, l32), (s16, l16) = run(kind, False, args.steps, train), run(kind, True, args.steps, train)
        print(f"{kind:6s}  float32 {s32:5.2f} s/step (loss {l32:.4f})   bf16 {s16:5.2f} s/step "
              f"(loss {l16:.4f})   {s32 / s16:.2f}x")


if __name__ == "__main__":
    main()
