"""Fitting a score -> probability map and measuring it.

Usage::

    from quoradesk.core.calibration import Calibration, expected_calibration_error

    cal = Calibration.fit(scores, labels, path="reranked")   # isotonic from 300 labels, else Platt
    p = cal.probability(new_scores)                           # monotone in the score
    cal.save(model_dir); Calibration.load(model_dir, "reranked")
    expected_calibration_error(p, labels)                     # 10 bins of equal count

Isotonic regression (scikit-learn) is monotone and assumes no shape, but needs a few hundred
labels; below ``ISOTONIC_FROM`` a Platt fit (a logistic curve in the score: two numbers) is
steadier. Either way the map is kept as points (score, probability) and read by linear
interpolation, so a stored calibration needs nothing but numpy to apply.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..models import CALIBRATION_FILE

ISOTONIC_FROM = 300  # labelled pairs
MIN_SLOPE = 0.05  # a project's re-fit stays monotone (core.calibration.Recalibration)
PATHS = ("reranked", "sparse")


@dataclass
class Calibration:
    path: str  # "reranked" (a run's final score) or "sparse" (the first stage's score)
    method: str  # "isotonic" or "platt"
    x: list[float]  # scores, increasing
    y: list[float]  # their probabilities, non-decreasing
    n: int = 0  # labelled pairs it was fitted on
    positives: int = 0
    source: str = ""  # what the labels were
    fitted_with: dict = field(default_factory=dict)  # the other model and parameters of the runs
    created: float = 0.0

    @classmethod
    def fit(cls, scores, labels, *, path: str, method: str | None = None, source: str = "",
            fitted_with: dict | None = None) -> Calibration:
        s = np.asarray(scores, dtype=np.float64)
        t = np.asarray(labels, dtype=np.float64)
        if len(s) < 10 or t.min(initial=1) == t.max(initial=0):
            raise ValueError(f"a calibration needs at least 10 labelled pairs of both kinds ({len(s)} given)")
        method = method or ("isotonic" if len(s) >= ISOTONIC_FROM else "platt")
        if method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, t)
            x, y = iso.X_thresholds_, iso.y_thresholds_
        else:
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=1e4).fit(s.reshape(-1, 1), t)
            x = np.linspace(s.min(), s.max(), 64)
            y = lr.predict_proba(x.reshape(-1, 1))[:, 1]
        return cls(path, method, [float(v) for v in x], [float(v) for v in y], len(s), int(t.sum()), source,
                   fitted_with or {}, time.time())

    def probability(self, scores) -> np.ndarray:
        """Each score's probability of a duplicate (NaN for a missing score)."""
        s = np.asarray(scores, dtype=np.float64)
        out = np.interp(s, self.x, self.y)
        return np.where(np.isnan(s), np.nan, out)

    def score_for(self, probability: float) -> float | None:
        """The lowest score whose probability reaches ``probability`` (None: none does)."""
        y = np.asarray(self.y)
        above = np.nonzero(y >= probability)[0]
        return None if len(above) == 0 else float(self.x[above[0]])

    # ------------------------------------------------------------ stored beside the model

    def save(self, model_dir: str | Path) -> Path:
        """Into the model folder's calibration file, beside the other path's (if any)."""
        file = Path(model_dir) / CALIBRATION_FILE
        stored = _read(file)
        stored[self.path] = asdict(self)
        tmp = file.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored, indent=1))
        tmp.replace(file)
        return file

    @classmethod
    def load(cls, model_dir: str | Path | None, path: str) -> Calibration | None:
        if model_dir is None:
            return None
        entry = _read(Path(model_dir) / CALIBRATION_FILE).get(path)
        try:
            return cls(**entry) if entry else None
        except TypeError:  # written by another version: as if absent
            return None


def _read(file: Path) -> dict:
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _bins(probabilities, labels, bins: int):
    p = np.asarray(probabilities, dtype=np.float64)
    t = np.asarray(labels, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    return [(p[i], t[i]) for i in np.array_split(order, bins) if len(i)]


def expected_calibration_error(probabilities, labels, bins: int = 10) -> float:
    """The count-weighted mean gap between predicted and observed duplicates, over ``bins``
    bins of equal count."""
    parts = _bins(probabilities, labels, bins)
    n = sum(len(p) for p, _ in parts)
    return float(sum(len(p) * abs(p.mean() - t.mean()) for p, t in parts) / max(n, 1))


def reliability(probabilities, labels, bins: int = 10) -> list[tuple[float, float, int]]:
    """The reliability diagram's points: (mean predicted, observed share, pairs) per bin."""
    return [(float(p.mean()), float(t.mean()), len(p)) for p, t in _bins(probabilities, labels, bins)]


@dataclass
class Recalibration:
    """A project's own adjustment of a shipped calibration, from the user's labels:
    p' = sigmoid(a + b * logit(p)). Fitted by maximum a posteriori with the shipped map as the
    prior (a ~ N(0, 1), b ~ N(1, 1)): a few labels move it a little, hundreds move it much.
    Labels chosen by score (a reviewer's top pairs) do not bias it: it models P(duplicate |
    probability), and choosing by score is choosing by probability. Its slope stays at least
    ``MIN_SLOPE``, so the map stays monotone however the labels fall."""

    a: float = 0.0
    b: float = 1.0
    n: int = 0

    @classmethod
    def fit(cls, probabilities, labels, prior_sd: float = 1.0) -> Recalibration:
        p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-4, 1 - 1e-4)
        y = np.asarray(labels, dtype=np.float64)
        x = np.log(p / (1 - p))
        theta, prior = np.array([0.0, 1.0]), np.array([0.0, 1.0])
        design = np.column_stack([np.ones_like(x), x])
        for _ in range(50):  # Newton's method on the log posterior (two parameters)
            q = 1 / (1 + np.exp(-(design @ theta)))
            grad = design.T @ (y - q) - (theta - prior) / prior_sd**2
            hess = -(design.T * (q * (1 - q))) @ design - np.eye(2) / prior_sd**2
            step = np.linalg.solve(hess, grad)
            theta = theta - step
            if np.abs(step).max() < 1e-8:
                break
        if theta[1] < MIN_SLOPE:  # a falling map would rank pairs against their scores: keep it rising
            b, a = MIN_SLOPE, theta[0]
            for _ in range(50):
                q = 1 / (1 + np.exp(-(a + b * x)))
                step = (np.sum(y - q) - (a - prior[0]) / prior_sd**2) / (-np.sum(q * (1 - q)) - 1 / prior_sd**2)
                a -= step
                if abs(step) < 1e-8:
                    break
            theta = np.array([a, b])
        return cls(float(theta[0]), float(theta[1]), len(y))

    def apply(self, probabilities) -> np.ndarray:
        p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-4, 1 - 1e-4)
        out = 1 / (1 + np.exp(-(self.a + self.b * np.log(p / (1 - p)))))
        return np.where(np.isnan(np.asarray(probabilities, dtype=np.float64)), np.nan, out)
