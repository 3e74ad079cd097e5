"""Benchmark: a SPLADE's int8 encoder by the size of its active vocabulary.

    python bench/active_vocabulary.py                                  # the distilled model, 5,20,50,100
    python bench/active_vocabulary.py --model accurate --thresholds 5,50
    python bench/active_vocabulary.py --no-timing                      # held-out AP only

For each threshold, the model's folder is copied to a temporary one and its active vocabulary
(``core.models.active_vocabulary``) fitted there on its training questions (dev.tsv less the
held-out 15%, seed 12, as scripts/train_default_models.py does): the entries firing on at least
that many of them. Printed: the number of entries, the int8 encoder's held-out pair AP, and
its questions per second on 3,000 dev questions, medians of ``--rounds`` rounds that
interleave every threshold with the reference (the accurate model with bf16 and its int8
head, the default when the speed issue was filed) and the accurate model's int8 encoder.
The shipped folder is never changed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from encode import DEV, held_out_ap  # noqa: E402

from quoradesk.core import models, training  # noqa: E402
from quoradesk.core.models import active_vocabulary  # noqa: E402
from quoradesk.core.models.encode import encode_csr  # noqa: E402
from quoradesk.core.questions import load_questions  # noqa: E402

INT8 = {"bf16": True, "int8": True, "int8_body": True}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="distilled", help="a shipped name or a SPLADE folder")
    ap.add_argument("--thresholds", default="5,20,50,100")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-timing", action="store_true")
    args = ap.parse_args()
    source = models.sparse_model_path(args.model)
    train, held = training.split_held_out(training.read_pair_file(DEV), 0.15, seed=12)
    questions = sorted(set(train.q1) | set(train.q2))
    texts = [q.text for q in load_questions(DEV).questions][:3000]
    work = Path(tempfile.mkdtemp(prefix="active-vocabulary-"))
    timed = {}
    if not args.no_timing:
        accurate = models.load_sparse_encoder(models.sparse_model_path("accurate"), "cpu")
        timed["accurate, bf16 + int8 head (reference)"] = (accurate, {"bf16": True, "int8": True})
        timed["accurate, int8 encoder"] = (accurate, INT8)
    whole = None
    try:
        for least in (int(t) for t in args.thresholds.split(",")):
            folder = work / f"at-{least}"
            shutil.copytree(source, folder)
            (folder / active_vocabulary.FILE_NAME).unlink(missing_ok=True)
            if whole is None:  # the whole head's vectors of the training questions, once
                whole = encode_csr(models.load_sparse_encoder(folder, "cpu"), questions, 32)
            columns = active_vocabulary.fit(folder, whole, least)
            model = models.load_sparse_encoder(folder, "cpu")
            print(f"{source.name}, entries firing on at least {least} training questions: {len(columns):,} "
                  f"entries; held-out pair AP {held_out_ap(model, held, 32, **INT8):.4f}", flush=True)
            timed[f"{source.name}, at least {least}"] = (model, INT8)
        if args.no_timing:
            return
        for model, kw in timed.values():
            encode_csr(model, texts[:256], 32, **kw)  # warm-up: the int8 copies are made
        seconds = {name: [] for name in timed}
        for _ in range(args.rounds):
            for name, (model, kw) in timed.items():
                t = time.perf_counter()
                encode_csr(model, texts, 32, **kw)
                seconds[name].append(time.perf_counter() - t)
        ref = statistics.median(next(iter(seconds.values())))
        print(f"\n{len(texts):,} dev questions, batch 32, median of {args.rounds} interleaved rounds:")
        for name, s in seconds.items():
            print(f"  {name:48} {len(texts) / statistics.median(s):5.0f} questions/s "
                  f"({ref / statistics.median(s):.2f}x the reference)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
