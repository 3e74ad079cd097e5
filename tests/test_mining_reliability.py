"""What desktop users do to a project file: kill the app mid-review, run two copies at once, fill
the disk. Every test runs the real CLI or core on real data and checks the file afterwards.
Mining killed at a hundred points: tests/test_mining_kills.py (make test-crash)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quoradesk.core import models
from quoradesk.core.mining import MiningJob
from quoradesk.core.questions import load_questions
from quoradesk.core.resources import SAMPLE_QUESTIONS
from quoradesk.core.store import SCHEMA_VERSION, ProjectError, Store, pending_upgrade

REPO = Path(__file__).resolve().parents[1]


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "quoradesk", *map(str, args)]


def wait_for_run(db: Path, proc: subprocess.Popen, timeout: float = 180) -> bool:
    """Until the CLI has created its run row (the work has begun) or has exited."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with Store(db, create=False) as s:
                    if s.latest_run() is not None:
                        return True
            except Exception:  # noqa: BLE001 - mid-creation: try again
                pass
        time.sleep(0.05)
    return proc.poll() is None


# ---------------------------------------------------------------- review


LABELLER = """
import sys
from quoradesk.core.store import Store
store = Store(sys.argv[1], create=False)
ids = store.question_ids().tolist()
for i in range(0, len(ids) - 1):
    label = "accepted" if i % 3 else "rejected"
    store.set_label(ids[i], ids[i + 1], label)
    print(ids[i], ids[i + 1], label, flush=True)  # printed after the commit
"""


def test_labels_written_before_a_kill_survive_with_their_undo_history(tmp_path):
    db = tmp_path / "review.sqlite"
    with Store(db) as s:
        s.add_import(load_questions(SAMPLE_QUESTIONS))
    proc = subprocess.Popen([sys.executable, "-c", LABELLER, str(db)], stdout=subprocess.PIPE, text=True)
    written = []
    for line in proc.stdout:
        written.append(line.split())
        if len(written) == 60:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    with Store(db, create=False) as s:
        assert s.integrity_ok()
        labels = s.labels()
        for a, b, label in written:
            assert labels[(int(a), int(b))] == label
        # The history survives the kill: undo takes back the newest label first.
        newest = max(labels, key=lambda k: k[0])  # the labeller walks ids upwards
        assert s.undo_label() == newest
        assert s.label(*newest) is None
    print(f"\n{len(written)} labels confirmed before the kill, {len(labels)} found after")


# ---------------------------------------------------------------- two writers


def test_second_miner_is_told_the_project_is_in_use(tmp_path):
    db = tmp_path / "busy.sqlite"
    store = Store(db)
    store.add_import(load_questions(SAMPLE_QUESTIONS))
    job = MiningJob(store, sparse_model=models.SHIPPED_SPARSE, reranker=None, device="cpu")
    events = job.run()
    next(events)  # mining has begun and holds the project
    other = subprocess.run(cli("mine", "--db", db, "--quiet", "--no-rerank"),
                           capture_output=True, text=True, timeout=120)
    assert other.returncode == 4  # EXIT_PROJECT
    assert "in use" in other.stderr and "Traceback" not in other.stderr
    list(events)  # the first miner finishes undisturbed
    assert store.get_run(job.run_record.id).status == "done"
    again = subprocess.run(cli("mine", "--db", db, "--quiet", "--no-rerank", "--show", "0"),
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr  # free again once the first is done
    assert store.integrity_ok()


def test_labelling_while_another_process_mines(tmp_path):
    """The review (here: this process) and a mining CLI write the same file at once."""
    db = tmp_path / "shared.sqlite"
    with Store(db) as s:
        s.add_import(load_questions(SAMPLE_QUESTIONS))
        ids = s.question_ids().tolist()
    proc = subprocess.Popen(cli("mine", "--db", db, "--quiet", "--no-rerank", "--show", "0"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert wait_for_run(db, proc)
    written = {}
    with Store(db, create=False) as s:
        i = 0
        while proc.poll() is None or i < 100:
            a, b = ids[i % (len(ids) - 1)], ids[i % (len(ids) - 1) + 1]
            label = "accepted" if i % 2 else "rejected"
            s.set_label(a, b, label)
            written[(a, b)] = label
            i += 1
            # 500 labels a second, far beyond any reviewer. Without a pause this loop takes the
            # write lock again the moment it lets go, and SQLite, which does not queue waiting
            # writers, can starve the miner past its 10 s timeout (seen on a fast CPU).
            time.sleep(0.002)
    assert proc.wait() == 0, proc.stderr.read()
    with Store(db, create=False) as s:
        assert s.integrity_ok()
        assert s.latest_run().status == "done" and s.count_pairs(s.latest_run().id) > 0
        labels = s.labels()
        assert all(labels[k] == v for k, v in written.items())
    print(f"\n{i} label writes while the CLI mined")


# ---------------------------------------------------------------- full disk
# (read-only files and folders: tests/test_store.py)


FILLER = """
import resource, signal, sys
from quoradesk.core.questions import load_questions
from quoradesk.core.store import SCHEMA_VERSION, ProjectError, Store
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so an oversize write fails with EFBIG instead
store = Store(sys.argv[1], create=False)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), int(sys.argv[3])))
try:
    store.add_import(load_questions(sys.argv[2]))
except ProjectError as exc:
    print("ERROR", exc)
    sys.exit(4)
print("OK")
"""


def test_full_disk_gives_a_clear_error_and_keeps_the_last_good_state(tmp_path, pair_slice):
    db = tmp_path / "full.sqlite"
    with Store(db) as s:
        s.add_import(load_questions(SAMPLE_QUESTIONS))
        s.set_label(1, 2, "accepted")
        before = (s.question_count(), s.labels())
    size = db.stat().st_size  # RLIMIT_FSIZE caps every file: the project and its WAL
    big = pair_slice(3000)  # about 5,200 more questions: far more than the limit allows
    out = subprocess.run([sys.executable, "-c", FILLER, str(db), str(big), str(size + 64 * 1024)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 4, out.stdout + out.stderr
    # RLIMIT_FSIZE makes write() fail with EFBIG, which SQLite reports as a disk I/O error
    # (a full disk, ENOSPC, is its SQLITE_FULL: "the disk is full").
    assert "Could not save" in out.stdout and "out of space" in out.stdout and "intact" in out.stdout
    with Store(db, create=False) as s:
        assert s.integrity_ok()
        assert (s.question_count(), s.labels()) == before
        assert len(s.imports()) == 1  # the failed import left no trace


# ---------------------------------------------------------------- old and foreign files


FIXTURE = REPO / "tests" / "fixtures" / "project-schema1.sqlite"


def test_project_written_by_schema_1_opens_with_its_data(tmp_path):
    """A project written by schema 1, kept so that later versions must open it: it is brought
    up to today's schema and its pairs keep their order (first-stage score = cosine)."""
    copy = tmp_path / "old.sqlite"
    copy.write_bytes(FIXTURE.read_bytes())
    with sqlite3.connect(copy) as conn:
        order_before = conn.execute(
            "select a, b from pairs order by score desc, sparse_score desc, a desc, b desc").fetchall()  # one run
    with Store(copy, create=False) as s:
        assert s.integrity_ok()
        assert s.meta("schema_version") == str(SCHEMA_VERSION) == "2"
        assert s.question_count() == 233
        run = s.latest_run("done")
        assert run is not None and s.count_pairs(run.id) > 0
        assert [(p.a, p.b) for p in s.iter_pairs(run.id)] == order_before
        assert all(p.first_score == p.sparse_score for p in s.iter_pairs(run.id))
        index = [r[2] for r in s.db.execute("pragma index_info(pairs_ranking)")]
        assert index == ["run_id", "score", "first_score", "a", "b"]
        assert s.labels() == {(1, 2): "accepted", (3, 4): "rejected"}
        assert s.undo_label() == (3, 4)
    with Store(copy, create=False) as s:  # opened again: nothing left to bring up
        assert s.meta("schema_version") == "2" and s.integrity_ok()
    # the file as it was before the migration, kept beside it
    with sqlite3.connect(tmp_path / "old.sqlite.schema1.bak") as conn:
        assert conn.execute("select value from meta where key = 'schema_version'").fetchone() == ("1",)
        assert conn.execute("select a, b from pairs order by score desc, sparse_score desc, a desc, b desc"
                            ).fetchall() == order_before


def test_pending_upgrade_reads_only_and_says_how_many_pairs(tmp_path):
    copy = tmp_path / "old.sqlite"
    copy.write_bytes(FIXTURE.read_bytes())
    with sqlite3.connect(copy) as conn:
        pairs = conn.execute("select count(*) from pairs").fetchone()[0]
    assert pending_upgrade(copy) == pairs > 0
    assert copy.read_bytes() == FIXTURE.read_bytes()  # looked at, not changed
    Store(copy, create=False).close()
    assert pending_upgrade(copy) == 0  # upgraded
    (tmp_path / "notes.txt").write_text("not a project")
    assert pending_upgrade(tmp_path / "notes.txt") == pending_upgrade(tmp_path / "none.sqlite") == 0


def test_nothing_beside_the_project_is_left_locked(tmp_path):
    db = tmp_path / "p.sqlite"
    with Store(db) as s:
        s.add_import(load_questions(SAMPLE_QUESTIONS))
        with s.mining_lock():
            with pytest.raises(ProjectError, match="in use"), Store(db).mining_lock():
                pass
        with s.mining_lock():  # released: can be taken again
            pass

