"""Checking a threshold with a few labels: how many pairs above it are duplicates (precision), and
what share of the duplicates it leaves below, each with a 90% interval.

Usage::

    from quoradesk.core.review import ThresholdCheck

    check = ThresholdCheck.draw(store, run, threshold=0.5, size=40)   # stored in the project
    for a, b in check.pairs: ...                    # the user labels them with the usual keys
    est = check.estimate(store)                     # from the labels present, however many
    est.precision, est.precision_interval, est.share_below, est.share_below_interval
    ThresholdCheck.load(store, run.id)              # the check drawn last for this run

The sample is stratified: about two thirds drawn at random from the pairs at or above the
threshold, the rest from the pairs below it (a random sample, so the estimate is unbiased
whatever the user labelled elsewhere; labels outside the sample are not used). Where the run's
models carry a calibration, each pair's probability is known for every pair of the run, and
the estimate is the difference estimator: the mean probability over all pairs of a stratum,
corrected by the mean of (label - probability) over its labelled sample pairs. It is unbiased
whatever the calibration's quality, and the better the calibration the narrower its interval.
Without one, the plain share of duplicates among the labelled sample pairs. Intervals: normal
with Student's t quantile from the residuals (at least a Jeffreys-sized spread for a few
labels); the share below from both strata's estimates by simulation.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field

import numpy as np

from ..calibration import for_project, for_run

ABOVE_SHARE = 2 / 3  # of the sample: precision is what the user reads first
META_KEY = "threshold_check/{run}"


@dataclass
class Estimate:
    labelled_above: int
    labelled_below: int
    precision: float | None
    precision_interval: tuple[float, float] | None
    share_below: float | None  # of all the run's duplicates, the share scoring below the threshold
    share_below_interval: tuple[float, float] | None
    pairs_above: int
    pairs_below: int

    def text(self) -> str:
        def pct(x):
            return f"{x * 100:.0f}%"

        if self.precision is None:
            return f"Label the sample's pairs: none of the {self.pairs_above:,} above is labelled yet."
        lo, hi = self.precision_interval
        out = (f"Precision above the threshold: {pct(self.precision)} (90% interval {pct(lo)}-{pct(hi)}, "
               f"{self.labelled_above} labelled of {self.pairs_above:,} pairs)")
        if self.share_below is not None:
            lo, hi = self.share_below_interval
            out += (f"; duplicates left below it: {pct(self.share_below)} (90% interval {pct(lo)}-{pct(hi)}, "
                    f"{self.labelled_below} labelled of {self.pairs_below:,})")
        return out


@dataclass
class ThresholdCheck:
    run_id: int
    threshold: float
    seed: int
    above: list[tuple[int, int]] = field(default_factory=list)  # sampled pairs (a, b) at or above
    below: list[tuple[int, int]] = field(default_factory=list)
    pairs_above: int = 0
    pairs_below: int = 0

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """The sample in the order to label it: above and below interleaved, so the estimate
        is useful from the first labels on."""
        out = []
        for i in range(max(len(self.above), len(self.below))):
            out += self.above[i:i + 1] + self.below[i:i + 1]
        return out

    @classmethod
    def draw(cls, store, run, threshold: float, size: int = 40, seed: int | None = None) -> ThresholdCheck:
        seed = random.randrange(2**31) if seed is None else seed
        rng = random.Random(seed)
        keys, scores, _ = _run_pairs(store, run.id)
        is_above = ~np.isnan(scores) & (scores >= threshold)
        above = [keys[i] for i in np.nonzero(is_above)[0]]
        below = [keys[i] for i in np.nonzero(~is_above)[0]]
        n_above = min(len(above), round(size * ABOVE_SHARE))
        n_below = min(len(below), size - n_above)
        check = cls(run.id, float(threshold), seed, rng.sample(above, n_above), rng.sample(below, n_below),
                    len(above), len(below))
        store.set_meta(META_KEY.format(run=run.id), json.dumps(asdict(check)))
        return check

    @classmethod
    def load(cls, store, run_id: int) -> ThresholdCheck | None:
        raw = store.meta(META_KEY.format(run=run_id))
        if not raw:
            return None
        data = json.loads(raw)
        data["above"] = [tuple(p) for p in data["above"]]
        data["below"] = [tuple(p) for p in data["below"]]
        return cls(**data)

    def _calibrated(self, store) -> tuple[dict | None, float | None, float | None]:
        """(each sample pair's probability, the mean probability above, below) by the run's
        shipped calibration (None without one). Read once per check: a run's pairs and its
        models' maps do not change, and the Review tab asks again after every label."""
        if "_calibrated_cache" not in self.__dict__:
            cal = for_run(store.get_run(self.run_id))
            if cal is None:
                self._calibrated_cache = (None, None, None)
            else:
                keys, scores, firsts = _run_pairs(store, self.run_id)
                p = cal.probabilities(scores, firsts)
                is_above = ~np.isnan(scores) & (scores >= self.threshold)
                index = {k: i for i, k in enumerate(keys)}
                sample = {k: float(p[index[k]]) for k in (*self.above, *self.below) if k in index}
                self._calibrated_cache = (
                    sample,
                    float(np.nanmean(p[is_above])) if is_above.any() else None,
                    float(np.nanmean(p[~is_above])) if (~is_above).any() else None)
        return self._calibrated_cache

    def estimate(self, store) -> Estimate:
        labels = store.labels()
        probs, mean_above, mean_below = self._calibrated(store)

        def labelled(sample):
            return [(1.0 if labels[k] == "accepted" else 0.0, probs.get(k) if probs else None)
                    for k in sample if labels.get(k) in ("accepted", "rejected")]

        return estimate_strata(labelled(self.above), labelled(self.below), mean_above, mean_below,
                               self.pairs_above, self.pairs_below, self.seed)


def estimate_strata(above, below, mean_above, mean_below, pairs_above: int, pairs_below: int,
                    seed: int = 0) -> Estimate:
    """The estimate from each stratum's labelled sample pairs, (label 0/1, probability or None),
    and the mean probability over each whole stratum (None: no calibration)."""
    prec, prec_sd, n_a, df_a = stratum_estimate(above, mean_above, pairs_above)
    dup_b, dup_sd, n_b, df_b = stratum_estimate(below, mean_below, pairs_below)
    est = Estimate(n_a, n_b, None, None, None, None, pairs_above, pairs_below)
    if prec is not None:
        est.precision = float(np.clip(prec, 0, 1))
        est.precision_interval = interval(prec, prec_sd, df_a)
    if prec is not None and dup_b is not None:
        est.share_below, est.share_below_interval = share_below(
            prec, prec_sd, df_a, dup_b, dup_sd, df_b, pairs_above, pairs_below, seed)
    return est


MIN_PAIRS = 10  # a cut keeping fewer pairs is no threshold worth suggesting


def suggest_threshold(scores, probabilities, precision: float = 0.95, min_pairs: int = MIN_PAIRS) -> float | None:
    """The lowest threshold whose pairs at or above it have, by their probabilities, at least
    ``precision`` duplicates among them (the most pairs kept for that precision); None when no
    threshold keeping ``min_pairs`` reaches it. ``scores``: the ranking scores (NaN: never passes)."""
    s = np.asarray(scores, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    keep = ~np.isnan(s) & ~np.isnan(p)
    s, p = s[keep], p[keep]
    if not len(s):
        return None
    order = np.argsort(-s, kind="stable")
    s, p = s[order], p[order]
    mean_above = np.cumsum(p) / np.arange(1, len(p) + 1)
    # ties: a threshold keeps every pair with its score, so only the last of a tie can end a cut
    last_of_tie = np.append(s[1:] != s[:-1], True)
    ok = np.nonzero((mean_above >= precision) & last_of_tie & (np.arange(len(s)) >= min_pairs - 1))[0]
    return float(s[ok[-1]]) if len(ok) else None


def best_reachable(scores, probabilities, min_pairs: int = MIN_PAIRS) -> tuple[float, float] | None:
    """(threshold, precision) of the cut with the highest precision by the probabilities among
    cuts keeping at least ``min_pairs`` pairs: what to offer when a target is out of reach."""
    s = np.asarray(scores, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    keep = ~np.isnan(s) & ~np.isnan(p)
    s, p = s[keep], p[keep]
    if len(s) < min_pairs:
        return None
    order = np.argsort(-s, kind="stable")
    s, p = s[order], p[order]
    mean_above = np.cumsum(p) / np.arange(1, len(p) + 1)
    i = min_pairs - 1 + int(np.argmax(mean_above[min_pairs - 1:]))
    return float(s[i]), float(mean_above[i])


def run_suggestion(store, run, precision: float = 0.95) -> tuple[float | None, str]:
    """``suggest_threshold`` over a run's pairs with its calibration (re-fitted on the user's
    labels): (threshold or None, what to tell the user)."""
    cal = for_project(store, run)
    if cal is None:
        return None, "this run's models carry no calibration, so there is nothing to suggest from"
    _, scores, firsts = _run_pairs(store, run.id)
    probs = cal.probabilities(scores, firsts)
    t = suggest_threshold(scores, probs, precision)
    if t is not None:
        return t, f"threshold {t:.3f} for {precision:.0%} precision (by the probabilities)"
    best = best_reachable(scores, probs)
    if best is None:
        return None, "too few scored pairs to suggest from"
    return None, (f"no threshold reaches {precision:.0%} by the probabilities; the most is {best[1]:.0%}, "
                  f"above {best[0]:.3f}")


def _run_pairs(store, run_id: int) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """A run's pair keys (a, b) in key order, their ranking scores and first-stage scores (NaN:
    none, as for a pair the reranker never scored)."""
    rows = store.db.execute("select a, b, score, first_score from pairs where run_id = ? order by a, b",
                            [run_id]).fetchall()

    def column(i):
        return np.array([np.nan if r[i] is None else r[i] for r in rows], dtype=np.float64)

    return [(a, b) for a, b, *_ in rows], column(2), column(3)


def stratum_estimate(labelled: list[tuple[float, float | None]], mean_p: float | None, population: int = 0):
    """(share of duplicates, its standard error, labels, degrees of freedom) of one stratum, from
    its labelled sample pairs (label, probability); the difference estimator where every pair's
    probability is known (``mean_p``: their mean over the whole stratum). ``population``: the
    stratum's pairs, for the finite population correction (a sample of 33 of 68 pairs knows
    half the stratum: its error is 0.7 of an infinite stratum's)."""
    n = len(labelled)
    if n == 0:
        return None, None, 0, 0
    y = np.array([lab for lab, _ in labelled])
    if mean_p is not None and all(p is not None for _, p in labelled):
        resid = y - np.array([p for _, p in labelled])
        value = mean_p + resid.mean()
        spread = resid.std(ddof=1) if n > 1 else 0.5
    else:
        value = y.mean()
        spread = y.std(ddof=1) if n > 1 else 0.5
    # A handful of labels that all agree has no spread: not certainty. Never narrower than a
    # Jeffreys interval's spread for the same count.
    floor = np.sqrt((y.sum() + 0.5) * (n - y.sum() + 0.5)) / (n + 1)
    fpc = np.sqrt(max(population - n, 0) / (population - 1)) if population > n else (1.0 if not population else 0.0)
    return float(value), float(max(spread, floor) * fpc / np.sqrt(n)), n, max(n - 1, 1)


def interval(value: float, sd: float, df: int, level: float = 0.90) -> tuple[float, float]:
    from scipy.stats import t

    q = float(t.ppf(0.5 + level / 2, df))
    return float(max(0.0, value - q * sd)), float(min(1.0, value + q * sd))


def share_below(prec, prec_sd, df_a, dup_b, dup_sd, df_b, n_above, n_below, seed, level=0.90, draws=20000):
    """Duplicates below / all duplicates, and its interval from both strata's t distributions."""
    rng = np.random.default_rng(seed)
    a = np.clip(prec + prec_sd * rng.standard_t(df_a, draws), 0, 1) * n_above
    b = np.clip(dup_b + dup_sd * rng.standard_t(df_b, draws), 0, 1) * n_below
    ratio = b / np.maximum(a + b, 1e-9)
    point = max(dup_b, 0) * n_below / max(max(prec, 0) * n_above + max(dup_b, 0) * n_below, 1e-9)
    lo, hi = np.quantile(ratio, [0.5 - level / 2, 0.5 + level / 2])
    return float(point), (float(lo), float(hi))
