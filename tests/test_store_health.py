"""A damaged project is found by `check` and recovered by `repair` into a new file, without the
damaged one being written; every label comes back through the label journal."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import damaged_projects
import pytest
from damaged_projects import LABELLED, damaged_copy, labels_by_text

from quoradesk.core.store import check_project, journal_path, read_journal, repair_project


@pytest.fixture(scope="module")
def labelled_project(tmp_path_factory):
    return damaged_projects.labelled_project(tmp_path_factory.mktemp("health"))


def test_the_journal_follows_every_label_change(labelled_project):
    db, labels = labelled_project
    entries = list(read_journal(journal_path(db)))
    assert len(entries) == LABELLED + 1  # 30 labels, then the undo of the last
    assert entries[-1]["new"] is None and entries[-1]["old"] == entries[-2]["new"]
    assert len(labels) == LABELLED - 1
    assert all(e["text_a"] and e["text_b"] for e in entries)


def test_a_healthy_project_checks_healthy(labelled_project):
    report = check_project(labelled_project[0], full=True)
    assert report.healthy and report.problems == [] and report.schema_version == 2
    assert report.counts["questions"] == 233 and report.counts["labels"] == LABELLED - 1


@pytest.mark.parametrize("kind", ["noise", "truncated", "zeroed page"])
def test_repair_recovers_what_is_readable_and_every_label(labelled_project, tmp_path, kind):
    db, labels = labelled_project
    for seed in range(3):
        bad = damaged_copy(db, tmp_path / f"bad{seed}.sqlite", kind, seed)
        digest = hashlib.sha256(bad.read_bytes()).hexdigest()
        report = check_project(bad)
        if report.healthy:  # the noise fell on free space: nothing to repair
            continue
        out = tmp_path / f"recovered{seed}.sqlite"
        result = repair_project(bad, out)
        assert hashlib.sha256(bad.read_bytes()).hexdigest() == digest  # never written
        assert check_project(out).healthy
        assert labels_by_text(out) == labels  # every label, by the questions' texts
        assert sum(kept for kept, _ in result.tables.values()) > 0 or kind == "truncated"


def test_a_file_lost_whole_still_gives_back_its_labels(labelled_project, tmp_path):
    db, labels = labelled_project
    gone = tmp_path / "gone.sqlite"
    shutil.copy(journal_path(db), journal_path(gone))  # only the journal is left
    result = repair_project(gone, tmp_path / "back.sqlite")
    assert result.labels_from_journal == len(labels) and labels_by_text(tmp_path / "back.sqlite") == labels


def test_repair_refuses_to_write_over_a_file(labelled_project, tmp_path):
    from quoradesk.core.store import ProjectError

    db, _ = labelled_project
    with pytest.raises(ProjectError, match="exists already"):
        repair_project(db, db)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "quoradesk", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))


def test_cli_check_and_repair(labelled_project, tmp_path):
    db, labels = labelled_project
    out = cli("check", "--db", db)
    assert out.returncode == 0 and "healthy" in out.stdout
    bad = damaged_copy(db, tmp_path / "bad.sqlite", "zeroed page", 5)
    out = cli("check", "--db", bad)
    assert out.returncode == 4 and "DAMAGED" in out.stdout and "quoradesk repair" in out.stdout
    assert "Traceback" not in out.stderr
    out = cli("repair", "--db", bad, "--out", tmp_path / "new.sqlite")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "was not written" in out.stdout and "restored from the label journal" in out.stdout
    assert labels_by_text(tmp_path / "new.sqlite") == labels
