"""The headless CLI: the sample end to end, and exit codes that mean something."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import pytest

from quoradesk.cli import EXIT_INPUT, EXIT_MODEL, EXIT_OK, EXIT_PROJECT, main
from quoradesk.core.resources import SAMPLE_QUESTIONS as SAMPLE
from quoradesk.core.store import Store


def run_cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "quoradesk", *map(str, args)],
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("cli") / "sample.sqlite"
    done = run_cli("mine", SAMPLE, "--db", db, "--quiet", "--show", "5")
    assert done.returncode == EXIT_OK, done.stderr
    return db, done.stdout


def test_mine_sample_end_to_end(sample_db):
    db, out = sample_db
    assert "233 questions" in out and "candidate pairs" in out
    # the run leaves Ask's index: `quoradesk ask` maps it instead of building it
    assert "Ask's index kept beside the project" in out
    asked = run_cli("ask", "How do I learn Python?", "--db", db, "--no-rerank")
    assert asked.returncode == EXIT_OK and "as kept" in asked.stderr, asked.stderr
    with Store(db) as store:
        run = store.latest_run("done")
        top = store.top_pairs(run.id, limit=20)
    groups = {}
    with open(SAMPLE, newline="") as fh:
        for row in csv.DictReader(fh):
            groups[row["question"]] = row["paraphrase_group"]
    same = sum(bool(groups[p.text_a]) and groups[p.text_a] == groups[p.text_b] for p in top)
    print(f"{same} of the top 20 pairs are paraphrases")
    assert same >= 14  # measured 16 of 20 with the untuned BERT-tiny SPLADE
    # The CLI's defaults are the app's: a run started in one resumes in the other.
    from quoradesk.core.mining import MiningParams

    assert run.params == MiningParams().key()


def test_model_short_names_pick_the_shipped_splade_models(sample_db, tmp_path):
    """The default is the distilled SPLADE; --model fast mines with the BERT-tiny one as a run of
    its own, --model accurate with the 6-layer one; an unknown name is a missing folder (exit 3),
    not a silent default."""
    db = tmp_path / "fast.sqlite"
    shutil.copy(sample_db[0], db)
    assert "SPLADE model: shipped:splade-minilm-l4-quora" in sample_db[1]
    done = run_cli("mine", "--db", db, "--model", "fast", "--no-rerank", "--quiet", "--device", "cpu")
    assert done.returncode == EXIT_OK, done.stderr
    assert "SPLADE model: shipped:splade-quora" in done.stdout
    with Store(db) as store:
        runs = store.runs()
        assert {r.sparse_model for r in runs} == {"shipped:splade-minilm-l4-quora", "shipped:splade-quora"}
        fast = store.latest_run("done")
        assert fast.sparse_model == "shipped:splade-quora" and store.count_pairs(fast.id) > 100
    done = run_cli("mine", "--db", db, "--model", "accurate", "--no-rerank", "--quiet", "--device", "cpu")
    assert done.returncode == EXIT_OK, done.stderr
    assert "SPLADE model: shipped:splade-minilm-quora" in done.stdout
    with Store(db) as store:
        accurate = store.latest_run("done")
        assert accurate.sparse_model == "shipped:splade-minilm-quora" and store.count_pairs(accurate.id) > 100
    wrong = run_cli("mine", "--db", db, "--model", "fastest", "--quiet")
    assert wrong.returncode == EXIT_MODEL and "fastest" in wrong.stderr


def test_float32_reranker_is_a_run_of_its_own_with_close_scores(sample_db, tmp_path):
    """--no-rerank-int8 reaches the model: a new run (not the default int8 one resumed or
    reused), the same pairs reranked, scores that differ a little and rank the same way."""
    from scipy.stats import spearmanr

    db = tmp_path / "fp32.sqlite"
    shutil.copy(sample_db[0], db)
    done = run_cli("mine", "--db", db, "--no-rerank-int8", "--quiet", "--device", "cpu")
    assert done.returncode == EXIT_OK, done.stderr
    assert "(float32)" in done.stdout and "(int8, ONNX Runtime)" in sample_db[1]
    with Store(db) as store:
        int8, fp32 = store.get_run(1), store.latest_run("done")
        assert int8.id != fp32.id and int8.params["rerank_int8"] and not fp32.params["rerank_int8"]

        def scores(run):
            return dict(((a, b), s) for a, b, s in store.db.execute(
                "select a, b, rerank_score from pairs where run_id = ? and rerank_score is not null", [run.id]))

        x, y = scores(fp32), scores(int8)
    assert x.keys() == y.keys() and len(x) > 50
    diff = [abs(x[k] - y[k]) for k in x]
    assert max(diff) > 1e-4  # quantised: not the float32 model
    assert sum(diff) / len(diff) < 0.05
    assert spearmanr([x[k] for k in x], [y[k] for k in x]).statistic > 0.9


def test_pairs_explains_and_export_writes(sample_db, tmp_path):
    db, _ = sample_db
    out = run_cli("pairs", "--db", db, "--limit", "3")
    assert out.returncode == EXIT_OK, out.stderr
    assert out.stdout.count("matched on:") == 3
    target = tmp_path / "groups.csv"
    exp = run_cli("export", "--db", db, "--out", target, "--what", "groups", "--min-score", "0.5")
    assert exp.returncode == EXIT_OK and target.exists()
    assert main(["runs", "--db", str(db)]) == EXIT_OK


def test_bad_inputs_give_clear_messages_and_codes(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    db = tmp_path / "p.sqlite"
    assert main(["mine", str(empty), "--db", str(db)]) == EXIT_INPUT
    assert "is empty" in capsys.readouterr().err
    assert not db.exists() or Store(db).question_count() == 0  # no partial garbage

    assert main(["mine", str(tmp_path / "nope.csv"), "--db", str(db)]) == EXIT_INPUT
    assert "No such file" in capsys.readouterr().err

    bad_db = tmp_path / "bad.sqlite"
    bad_db.write_bytes(b"junk" * 100)
    assert main(["mine", str(SAMPLE), "--db", str(bad_db)]) == EXIT_PROJECT
    assert "not a QuoraDesk project" in capsys.readouterr().err
    assert bad_db.read_bytes() == b"junk" * 100

    assert main(["mine", str(SAMPLE), "--db", str(db), "--model", str(tmp_path / "m")]) == EXIT_MODEL
    assert "SPLADE model folder not found" in capsys.readouterr().err

    assert main(["pairs", "--db", str(tmp_path / "absent.sqlite")]) == EXIT_PROJECT


def test_half_written_model_fails_before_any_run_is_recorded(tmp_path, splade_path, capsys):
    broken = tmp_path / "m"
    shutil.copytree(splade_path, broken)
    w = broken / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    db = tmp_path / "p.sqlite"
    assert main(["mine", str(SAMPLE), "--db", str(db), "--model", str(broken)]) == EXIT_MODEL
    assert "truncated" in capsys.readouterr().err
    with Store(db) as store:
        assert store.runs() == []  # nothing half-done to resume or clean up


def test_single_question_file_mines_to_no_pairs(tmp_path, capsys):
    one = tmp_path / "one.txt"
    one.write_text("Is this the only question?\n")
    db = tmp_path / "p.sqlite"
    assert main(["mine", str(one), "--db", str(db), "--quiet"]) == EXIT_OK
    assert "0 candidate pairs" in capsys.readouterr().out
