"""Benchmark: "Check this threshold" with simulated labels on the held-out split.

    python bench/calibrate.py --save-scores /tmp/cal.npz    # once: mines dev.tsv (about 80 s)
    python bench/threshold_check.py --scores /tmp/cal.npz    # 50 seeds, 50 labels, the 95% suggestion
    python bench/threshold_check.py --scores /tmp/cal.npz --threshold 0.5   # the Review tab's default

The population is the held-out labelled pairs a run of the app's defaults mined (measure half,
seed 5, of bench/calibrate.py), each with the probability of a calibration fitted on the other
half, as a project's pairs have theirs from the shipped fit. For each seed: the sample the app
draws (two thirds at random above the threshold, the rest below), labelled with the pairs' true
labels, estimated by the same code the app runs (core.review.estimate_strata). Reported: how
often the precision estimate is within 0.07 of the truth, how often each 90% interval covers
the truth (it should, 85-95% of the time), and the interval's width as labels come in.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from quoradesk.core.calibration import Calibration, MinedLabels, RunCalibration  # noqa: E402
from quoradesk.core.review import estimate_strata, suggest_threshold  # noqa: E402
from quoradesk.core.review.threshold_check import ABOVE_SHARE  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scores", required=True, help="bench/calibrate.py --save-scores NPZ")
    ap.add_argument("--threshold", type=float, default=None,
                    help="default: the one the app suggests for --precision (Suggest a threshold)")
    ap.add_argument("--precision", type=float, default=0.95)
    ap.add_argument("--labels", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=50)
    args = ap.parse_args()
    d = np.load(args.scores)
    fit = MinedLabels(d["fit_score"], d["fit_first"], d["fit_label"])
    pop = MinedLabels(d["measure_score"], d["measure_first"], d["measure_label"])
    cal = RunCalibration(Calibration.fit(*fit.path("reranked"), path="reranked"),
                         Calibration.fit(*fit.path("sparse"), path="sparse"))
    probs = cal.probabilities([None if np.isnan(s) else s for s in pop.score], pop.first)
    if args.threshold is None:
        args.threshold = suggest_threshold(pop.score, probs, args.precision)
        print(f"suggested threshold for {args.precision:.0%} precision: {args.threshold:.3f}")
    above = ~np.isnan(pop.score) & (pop.score >= args.threshold)
    truth_precision = float(pop.label[above].mean())
    truth_below = float(pop.label[~above].sum() / pop.label.sum())
    print(f"population: {len(pop.label)} held-out pairs, {int(above.sum())} at or above {args.threshold}; "
          f"true precision {truth_precision:.3f}, true share of duplicates below {truth_below:.3f}; "
          f"mean probability above {probs[above].mean():.3f}")
    idx_above, idx_below = np.nonzero(above)[0].tolist(), np.nonzero(~above)[0].tolist()
    n_above = round(args.labels * ABOVE_SHARE)
    within, cover_p, cover_b, widths = 0, 0, 0, {k: [] for k in (10, 20, 30, 40, args.labels)}
    for seed in range(args.seeds):
        rng = random.Random(seed)
        sa = rng.sample(idx_above, n_above)
        sb = rng.sample(idx_below, args.labels - n_above)
        order = [i for pair in zip(sa, sb + [None] * len(sa), strict=False) for i in pair if i is not None]
        for k in widths:  # the estimate after the first k labels, in the app's labelling order
            first = set(order[:k])
            est = estimate_strata([(pop.label[i], probs[i]) for i in sa if i in first],
                                  [(pop.label[i], probs[i]) for i in sb if i in first],
                                  float(probs[above].mean()), float(probs[~above].mean()),
                                  int(above.sum()), int((~above).sum()), seed)
            lo, hi = est.precision_interval
            widths[k].append(hi - lo)
        within += abs(est.precision - truth_precision) <= 0.07
        cover_p += lo <= truth_precision <= hi
        blo, bhi = est.share_below_interval
        cover_b += blo <= truth_below <= bhi
    n = args.seeds
    print(f"{args.labels} labels ({n_above} above, {args.labels - n_above} below), {n} seeds:")
    print(f"  precision within 0.07 of the truth: {within}/{n} ({within / n:.0%}; target at least 90%)")
    print(f"  90% precision interval covers the truth: {cover_p}/{n} ({cover_p / n:.0%}; target 85-95%)")
    print(f"  90% interval of the share below covers the truth: {cover_b}/{n} ({cover_b / n:.0%})")
    print("  precision interval width by labels so far: "
          + ", ".join(f"{k}: {np.mean(v):.3f}" for k, v in widths.items()))


if __name__ == "__main__":
    main()
