"""The probability that a mined pair is a duplicate: a monotone calibration of a run's score,
one per scoring path (``reranked``: the run's final score; ``sparse``: the first stage's score
in context), fitted on labelled pairs the models did not train on and stored beside the model
it calibrates (``quoradesk_calibration.json`` in the CrossEncoder's or the SPLADE's folder).

Offers :class:`Calibration` (fit, probability, save, load), :func:`expected_calibration_error`,
:func:`reliability` (the diagram's bins), :class:`RunCalibration` (a run's two paths, applied
pair by pair), :func:`for_run`, and :func:`for_project` with :class:`Recalibration` (the same,
re-fitted on the user's own labels, the shipped fit as the prior).

Also :func:`score_by_mining` (labelled pairs' scores as a real run gives them) and
:func:`fit_by_mining` (a model's calibrations from its held-out pairs: what training stores).

Modules: ``fit`` (the fits and their measures), ``from_mining`` (scores from a throw-away run),
``lookup`` (which calibration a run uses).
"""

from .fit import (
    CALIBRATION_FILE,
    Calibration,
    Recalibration,
    expected_calibration_error,
    reliability,
)
from .from_mining import MinedLabels, fit_by_mining, score_by_mining
from .lookup import RunCalibration, for_project, for_run, refit_on_labels

__all__ = ["CALIBRATION_FILE", "Calibration", "MinedLabels", "Recalibration", "RunCalibration",
           "expected_calibration_error", "fit_by_mining", "for_project", "for_run", "refit_on_labels", "reliability",
           "score_by_mining"]
