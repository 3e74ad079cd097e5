"""The project file: creation, refusal of foreign files, atomic imports, labels."""

from __future__ import annotations

import os
import sqlite3

import pytest

from quoradesk.core.questions import load_questions
from quoradesk.core.store import SCHEMA_VERSION, ProjectError, Store


@pytest.fixture
def sample(tmp_path):
    p = tmp_path / "q.txt"
    p.write_text("How do I cook rice?\nWhy is the sky blue?\nHow do I cook rice?\n\nWhat is SQL?\n")
    return load_questions(p)


def test_new_project_records_schema_and_uses_wal(tmp_path):
    store = Store(tmp_path / "p.sqlite")
    meta = {r["key"]: r["value"] for r in store.db["meta"].rows}
    assert meta["app"] == "quoradesk" and int(meta["schema_version"]) == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_import_is_recorded_with_rejections_and_not_doubled(tmp_path, sample):
    store = Store(tmp_path / "p.sqlite")
    info = store.add_import(sample)
    assert (info.new_questions, info.merged, info.rejected) == (3, 1, 1)
    assert store.question(1)["sources"] == ["1", "3"]
    assert [r["line"] for r in store.rejected_rows(info.import_id)] == [4]
    again = store.add_import(sample)
    assert again.already_imported and store.question_count() == 3
    store.close()
    reopened = Store(tmp_path / "p.sqlite")
    assert reopened.question_count() == 3 and len(reopened.imports()) == 1


def test_second_file_merges_existing_texts(tmp_path, sample):
    store = Store(tmp_path / "p.sqlite")
    store.add_import(sample)
    other = tmp_path / "o.txt"
    other.write_text("What is SQL?\nA new one?\n")
    info = store.add_import(load_questions(other))
    assert info.new_questions == 1 and store.question_count() == 4
    assert store.question(3)["sources"] == ["5", "1"]


def test_garbage_file_is_refused_and_not_changed(tmp_path):
    p = tmp_path / "notes.sqlite"
    p.write_bytes(b"this is not a database at all" * 10)
    before = p.read_bytes()
    with pytest.raises(ProjectError, match="not an SQLite file"):
        Store(p)
    assert p.read_bytes() == before


def test_corrupt_sqlite_file_is_refused(tmp_path, sample):
    p = tmp_path / "p.sqlite"
    store = Store(p)
    store.add_import(sample)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = bytearray(p.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # smash the schema page
    p.write_bytes(bytes(data))
    with pytest.raises(ProjectError, match="not a usable QuoraDesk project"):
        Store(p)


def test_foreign_sqlite_and_newer_schema_are_refused_untouched(tmp_path):
    foreign = tmp_path / "other.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("create table customers (id integer primary key, name text)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    with pytest.raises(ProjectError, match="not a QuoraDesk project"):
        Store(foreign)
    assert foreign.read_bytes() == before

    newer = tmp_path / "newer.sqlite"
    Store(newer).db["meta"].update("schema_version", {"value": str(SCHEMA_VERSION + 1)})
    with pytest.raises(ProjectError, match="newer QuoraDesk"):
        Store(newer)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_locations_are_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(ProjectError, match="not writable"):
        Store(ro / "p.sqlite")


def test_location_nobody_can_write(tmp_path):
    with pytest.raises(ProjectError, match="Cannot create the project file /proc/"):
        Store("/proc/quoradesk-test.sqlite")  # not even root can create files in /proc


def test_missing_folder_and_folder_path(tmp_path):
    with pytest.raises(ProjectError, match="does not exist"):
        Store(tmp_path / "no" / "such" / "p.sqlite")
    with pytest.raises(ProjectError, match="is a folder"):
        Store(tmp_path)
    with pytest.raises(ProjectError, match="No such project"):
        Store(tmp_path / "absent.sqlite", create=False)


def test_read_only_file_is_refused(tmp_path, sample):
    p = tmp_path / "p.sqlite"
    Store(p).add_import(sample)
    p.chmod(0o400)
    try:
        if os.access(p, os.W_OK):
            pytest.skip("this user can write read-only files (root)")
        with pytest.raises(ProjectError, match="read-only"):
            Store(p)
    finally:
        p.chmod(0o600)


def test_labels_are_stored_canonically(tmp_path, sample):
    store = Store(tmp_path / "p.sqlite")
    store.add_import(sample)
    store.set_label(3, 1, "accepted")
    store.set_label(2, 3, "rejected")
    assert store.labels() == {(1, 3): "accepted", (2, 3): "rejected"}
    store.set_label(1, 3, None)
    assert store.labels() == {(2, 3): "rejected"}
    with pytest.raises(ValueError):
        store.set_label(1, 2, "maybe")
    store.set_label(1, 2, "accepted")
    # per question, on either side of its pairs; questions without labels are left out
    assert store.label_counts([2, 1, 5]) == {2: {"rejected": 1, "accepted": 1}, 1: {"accepted": 1}}
    assert store.label_counts([]) == {}


def test_paging_pairs_in_small_pages_equals_one_query(tmp_path):
    """iter_pairs pages through the ranking index, falling back to OFFSET for candidates
    without a score (never reranked): the result is the one-query ranking, row for row."""
    import numpy as np

    p = tmp_path / "q.txt"
    p.write_text("".join(f"Question number {i}?\n" for i in range(40)))
    store = Store(tmp_path / "p.sqlite")
    store.add_import(load_questions(p))
    run = store.create_run(sparse_model="m", sparse_model_key="k", reranker="r", reranker_key="rk",
                           params={"rerank_weight": 0.5}, device="cpu")
    rng = np.random.default_rng(1)
    a = np.repeat(np.arange(1, 11), 3)
    b = a + np.tile([10, 20, 30], 10)
    store.replace_pairs(run.id, a, b, rng.random(30).astype(np.float32), np.tile([1, 2, 3], 10))
    store.set_rerank_scores(run.id, [(int(x), int(y), float(s)) for x, y, s in
                                     zip(a[:20], b[:20], rng.random(20), strict=True)])
    whole = [(q.a, q.b) for q in store.top_pairs(run.id, limit=1000)]
    paged = [(q.a, q.b) for q in store.iter_pairs(run.id, chunk=7)]
    assert paged == whole and len(whole) == 30
    assert [q.score is None for q in store.top_pairs(run.id, limit=1000)].count(True) == 10
    assert [(q.a, q.b) for q in store.iter_pairs(run.id, chunk=4, min_score=0.3)] == [
        (q.a, q.b) for q in store.top_pairs(run.id, limit=1000, min_score=0.3)]
