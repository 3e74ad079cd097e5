"""Learning the user's domain (core.adapt): the pairs to label next, labels from the command
line, and an improved CrossEncoder kept only when labels it did not see say it is better, with
everything it writes undone by a cancel. On the bundled sample, with the real shipped models."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from quoradesk.core import models
from quoradesk.core.adapt import (
    ImproveConfig,
    ImproveJob,
    check_labels,
    models_folder,
    project_reranker,
    suggest_pairs,
)
from quoradesk.core.ask import AskService
from quoradesk.core.store import Store, read_journal
from quoradesk.core.training import TrainingError


@pytest.fixture(scope="module")
def mined_sample(sample_with_gold):
    """The sample mined with the shipped defaults (calibrated), and its known duplicate pairs."""
    return sample_with_gold


@pytest.fixture
def project(mined_sample, tmp_path):
    db = tmp_path / "p.sqlite"
    shutil.copy(mined_sample[0], db)
    return db


def cli(*args, ok=True):
    out = subprocess.run([sys.executable, "-m", "quoradesk", *map(str, args)], capture_output=True, text=True,
                         timeout=600)
    if ok:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def label_reranked(store, gold, n: int, *, invert: bool = False) -> int:
    """Label ``n`` of the run's reranked pairs as the sample's groups say (or the opposite: a user
    whose idea of a duplicate the shipped model does not share), best first."""
    run = store.latest_run("done")
    rows = store.db.execute("select a, b from pairs where run_id = ? and score is not null order by score desc",
                            [run.id]).fetchall()[:n]
    for a, b in rows:
        store.set_label(a, b, "accepted" if ((a, b) in gold) != invert else "rejected")
    return len(rows)


def project_state(db) -> tuple:
    with Store(db, create=False) as store:
        runs = [(r.id, r.status, r.reranker) for r in store.runs()]
        pairs = store.db.execute("select count(*) from pairs").fetchone()[0]
        meta = store.meta("adapt/reranker")
        labels = store.labels()
    folder = db.with_name(db.name + ".models")
    kept = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    return runs, pairs, meta, labels, kept


# ---------------------------------------------------------------- suggest and label


def test_suggest_never_repeats_a_labelled_pair_and_spreads_over_questions(project, mined_sample):
    with Store(project, create=False) as store:
        run = store.latest_run("done")
        first = suggest_pairs(store, 15, seed=1)
        assert len(first) == 15
        reranked = {(a, b) for a, b in store.db.execute(
            "select a, b from pairs where run_id = ? and score is not null", [run.id])}
        assert {(s.a, s.b) for s in first} <= reranked  # the list a user reviews
        questions = [q for s in first for q in (s.a, s.b)]
        assert len(set(questions)) == len(questions)  # no question twice
        # nor a close variant of one already suggested (its best neighbours in the run)
        close = {(a, b) for a, b in store.db.execute("select a, b from pairs where run_id = ? and rank <= 2",
                                                     [run.id])}
        for i, s in enumerate(first):
            for t in first[:i]:
                assert not {(min(x, y), max(x, y)) for x in (s.a, s.b) for y in (t.a, t.b)} & close
        assert all(s.probability is not None and 0 <= s.probability <= 1 for s in first)
        assert {s.why for s in first} <= {"near the boundary", "spread over the range"}
        for s in first:
            store.set_label(s.a, s.b, "accepted" if (s.a, s.b) in mined_sample[1] else "rejected")
        again = suggest_pairs(store, 15, seed=1)
        assert not {(s.a, s.b) for s in again} & {(s.a, s.b) for s in first}
        store.set_label(again[0].a, again[0].b, "unsure")  # any label, unsure too, takes a pair out
        assert (again[0].a, again[0].b) not in {(s.a, s.b) for s in suggest_pairs(store, 200, seed=1)}


def test_suggest_and_label_from_the_command_line(project):
    out = cli("suggest", "--db", project, "--n", "5", "--json").stdout.splitlines()
    rows = [json.loads(line) for line in out]
    assert len(rows) == 5 and {"a", "b", "text_a", "text_b", "probability"} <= rows[0].keys()
    a, b = rows[0]["a"], rows[0]["b"]
    said = cli("label", "--db", project, b, a, "accepted").stdout  # either order
    assert f"#{a} / #{b}: unlabelled -> accepted" in said
    with Store(project, create=False) as store:
        assert store.label(a, b) == "accepted"
        history = store.db.execute("select a, b, old, new from label_history").fetchall()
        assert history[-1] == (a, b, None, "accepted")
        assert store.undo_label() == (a, b) and store.label(a, b) is None  # the app's undo takes it back
    entries = list(read_journal(project.with_name(project.name + ".labels.jsonl")))
    assert entries[0]["text_a"] == rows[0]["text_a"] and entries[0]["new"] == "accepted"
    bad = cli("label", "--db", project, a, 999999, "rejected", ok=False)
    assert bad.returncode == 2 and "no question #999999" in bad.stderr
    assert "Label these 3 pairs" in cli("suggest", "--db", project, "--n", "3").stdout


# ---------------------------------------------------------------- improve


def test_improve_with_too_few_or_one_sided_labels_says_so_and_changes_nothing(project, mined_sample):
    before = project_state(project)
    out = cli("improve", "--db", project, ok=False)
    assert out.returncode == 2 and "at least 40 labelled pairs" in out.stderr and "0 accepted" in out.stderr
    with Store(project, create=False) as store:
        run = store.latest_run("done")
        rows = store.db.execute("select a, b from pairs where run_id = ? limit 60", [run.id]).fetchall()
        for a, b in rows:
            store.set_label(a, b, "accepted")  # 60 labels, all of one kind
        with pytest.raises(TrainingError, match="60 accepted and 0 rejected"):
            ImproveJob(store)
    runs, pairs, meta, _, kept = project_state(project)
    assert (runs, pairs, meta, kept) == before[:3] + (before[4],) and meta is None and kept == []


def test_check_labels_bounds():
    import numpy as np

    check_labels(np.array([1] * 10 + [0] * 30))
    for labels in ([1] * 9 + [0] * 31, [1] * 30 + [0] * 9, [1] * 15 + [0] * 15):
        with pytest.raises(TrainingError):
            check_labels(np.array(labels))


def test_improve_keeps_a_better_model_reranks_the_run_and_next_runs_and_ask_use_it(project, mined_sample):
    """A user whose idea of a duplicate is the opposite of Quora's: the improved model ranks their
    held-back labels better, so it is kept, re-ranks the run into a new one, and serves what follows."""
    with Store(project, create=False) as store:
        old = store.latest_run("done")
        n = label_reranked(store, mined_sample[1], 80, invert=True)
        job = ImproveJob(store, config=ImproveConfig(epochs=4, learning_rate=5e-5, replay_per_label=0.5))
        events, steps = [], job.run()
        for event in steps:  # as the CLI listens: up to "done", then the generator is dropped
            events.append(event)
            if event.stage == "done":
                break
        steps.close()
        result = job.result
        assert {"prepare", "train", "check", "rerank"} <= {e.stage for e in events}
        assert result.accepted, result.message
        assert result.ap_after > result.ap_before and result.held_out + result.train_labels == n
        new = store.latest_run("done")
        assert new.id == result.run_id != old.id and new.stage == "done"
        assert new.sparse_model_key == old.sparse_model_key and new.reranker_key != old.reranker_key
        assert store.count_pairs(new.id) == store.count_pairs(old.id)  # the same candidates, not mined again
        assert store.count_pairs(new.id, reranked=True) == store.count_pairs(old.id, reranked=True)
        assert "improved on" in new.note
        folder = project_reranker(store)
        assert folder == result.model_dir and folder.parent == models_folder(store)
        assert models.run_reranker(new) == folder
        card = json.loads((folder / "quoradesk_training.json").read_text())
        assert card["held_out_check"]["ap_after"] > card["held_out_check"]["ap_before"]
        assert (folder / models.CALIBRATION_FILE).is_file()  # its own probability
        from quoradesk.core.calibration import for_project

        cal = for_project(store, new)
        assert cal is not None and cal.project is None  # the labels it learnt are not evidence of its fit
        service = AskService(store)  # answers with the improved model, and its probability
        assert service.calibration.reranked.source == "your held-back labels"
        assert str(folder) in {str(k[1]) for k in models.loaded_models()}
    mined = cli("mine", "--db", project, "--new-run", "--quiet").stdout
    assert f"Reranker: {models.describe(folder)}" in mined


def test_a_cancelled_improve_leaves_the_project_as_it_was(project, mined_sample):
    with Store(project, create=False) as store:
        label_reranked(store, mined_sample[1], 80, invert=True)
    before = project_state(project)
    for stage in ("train", "rerank"):
        with Store(project, create=False) as store:
            job = ImproveJob(store, config=ImproveConfig(epochs=4, learning_rate=5e-5, replay_per_label=0.5))
            seen = []
            for event in job.run():
                seen.append(event.stage)
                if event.stage == stage and event.done > 0:
                    job.cancel()
            assert seen[-1] == "cancelled" and not job.result.accepted, seen
            assert "nothing was changed" in job.result.message
        assert project_state(project) == before, stage
        assert not project.with_name(project.name + ".models").exists()


# ---------------------------------------------------------------- the app


def test_review_tab_label_next_and_improve(qtbot, window, project, mined_sample):
    window.open_project(project)
    tab = window.review_tab
    qtbot.waitUntil(lambda: tab.review is not None and tab.model.rowCount() > 0, timeout=60000)
    bar = tab.adapt_bar
    bar.improve_button.click()  # no labels yet: says so, changes nothing
    qtbot.waitUntil(lambda: not bar.improving and "at least 40 labelled pairs" in bar.status.text(), timeout=60000)
    bar.size.setValue(8)
    bar.next_button.click()
    qtbot.waitUntil(lambda: bar.back_button.isVisible(), timeout=60000)
    assert tab.model.rowCount() == 8 and "Label next" in tab.count.text()
    shown = [(r.pair.a, r.pair.b) for r in tab.model.rows]
    for i in range(8):
        tab.table.selectRow(i)
        row = tab.model.row_at(i)
        tab.set_label("accepted" if (row.pair.a, row.pair.b) in mined_sample[1] else "rejected")
    with Store(project, create=False) as store:
        assert all(store.label(a, b) for a, b in shown)
        label_reranked(store, mined_sample[1], 80, invert=True)
        first_run = store.latest_run("done").id
    bar.next_button.click()  # the next suggestions leave out what is labelled
    qtbot.waitUntil(lambda: bar.next_button.isEnabled() and bar.back_button.isVisible(), timeout=60000)
    assert not {(r.pair.a, r.pair.b) for r in tab.model.rows} & set(shown)
    bar.back_button.click()
    assert not bar.back_button.isVisible() and "at or above the threshold" in tab.count.text()
    bar.improve_button.click()
    qtbot.waitUntil(lambda: bar.cancel_button.isVisible(), timeout=10000)
    qtbot.waitUntil(lambda: not bar.improving, timeout=600000)
    text = bar.status.text()
    assert text.startswith("Improved:"), text  # labels the opposite of Quora's: it learns them
    qtbot.waitUntil(lambda: tab.review is not None and tab.review.run.id != first_run, timeout=60000)
    assert tab.review.run.reranker.startswith(str(project.with_name(project.name + ".models")))
    assert window.mine_tab.chosen_reranker() == str(tab.review.run.reranker)  # the next run uses it
    window.mine_tab.reranker.setText(str(models.SHIPPED_CROSS))  # either shipped reranker stands for it
    assert window.mine_tab.chosen_reranker() == str(tab.review.run.reranker)
    assert not bar.cancel_button.isVisible() and bar.improve_button.isEnabled()
