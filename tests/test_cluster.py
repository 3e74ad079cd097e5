"""Mining past one process: Ray workers for the neural stages (``--ray local``) and the
candidate search in Milvus Lite (``--milvus FILE.db``), each compared with the local run.

Ray and Milvus Lite are the optional cluster packages; ``make test`` installs them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from killed_runs import kill_cli_when_encoded
from owned_data import write_pairs
from scipy import sparse

from quoradesk.core import models
from quoradesk.core.cluster import ClusterError, collection_name
from quoradesk.core.mining import MiningJob, MiningParams
from quoradesk.core.questions import load_questions
from quoradesk.core.resources import SAMPLE_QUESTIONS
from quoradesk.core.search.index import SparseIndex, prepare
from quoradesk.core.store import Store

WHY = "needs the optional cluster packages: pip install 'quoradesk[cluster]' (make test installs them)"
ray = pytest.importorskip("ray", reason=WHY)
pymilvus = pytest.importorskip("pymilvus", reason=WHY)


def mine(db: Path, src: Path, *, reranker=None, sparse_model=None, params=None, **cluster) -> tuple[Store, MiningJob]:
    store = Store(db)
    store.add_import(load_questions(src))
    # float32 encoding (no bf16, no int8) both ways unless asked: the very same vectors in and out
    # of Ray (its workers take the fast paths their own node has, which may differ from this process's)
    params = params or MiningParams(chunk_size=256, encode_bf16=False, encode_int8=False)
    job = MiningJob(store, sparse_model=sparse_model, reranker=reranker, params=params, device="cpu", **cluster)
    events = list(job.run())
    assert events[-1].stage == "done", events[-1]
    return store, job


def pairs_of(store: Store, run_id: int) -> dict[tuple[int, int], tuple[float, float | None, float | None]]:
    rows = store.db.execute("select a, b, sparse_score, rerank_score, score from pairs where run_id = ?",
                            [run_id]).fetchall()
    return {(a, b): (s, r, score) for a, b, s, r, score in rows}


def best_partner(pairs: dict) -> dict[int, int]:
    """Each question's best pair, as the Review tab ranks them (ranking score, then sparse)."""
    best: dict[int, tuple] = {}
    for (a, b), (s, _, score) in pairs.items():
        key = (-1.0 if score is None else score, s)
        for q, other in ((a, b), (b, a)):
            if q not in best or key > best[q][0]:
                best[q] = (key, other)
    return {q: other for q, (_, other) in best.items()}


def assert_same_result(local: dict, remote: dict) -> None:
    """The issue's bar: the same best pair for at least 95% of questions, the same scores for
    the pairs both runs find."""
    want, got = best_partner(local), best_partner(remote)
    same = sum(got.get(q) == other for q, other in want.items()) / len(want)
    common = local.keys() & remote.keys()
    print(f"same best pair {same:.4f}; pairs {len(local)} local, {len(remote)} remote, {len(common)} both")
    assert same >= 0.95
    assert len(common) >= 0.95 * len(local)
    assert max(abs(local[k][0] - remote[k][0]) for k in common) < 1e-5  # sparse cosine
    reranked = [k for k in common if local[k][1] is not None]
    assert all(remote[k][1] is not None for k in reranked)
    # int8 scores may move a little with a batch's threads; measured identical on the sample.
    assert max((abs(local[k][1] - remote[k][1]) for k in reranked), default=0.0) < 0.02


@pytest.mark.parametrize("source", ["sample", "quora"])
def test_ray_local_with_milvus_lite_finds_the_local_pairs(source, tmp_path, request):
    """--ray local --milvus FILE.db against the in-process run, with the shipped reranker:
    on the bundled sample, and on a slice of the Quora dev questions (600 pairs)."""
    if source == "sample":
        src = SAMPLE_QUESTIONS
    else:
        src = request.getfixturevalue("dev_slice")(600)
    reranker = models.default_reranker_path()
    local, local_job = mine(tmp_path / "local.sqlite", src, reranker=reranker)
    remote, remote_job = mine(tmp_path / "remote.sqlite", src, reranker=reranker,
                              ray="local", milvus=str(tmp_path / "vectors.db"))
    assert_same_result(pairs_of(local, local_job.run_record.id), pairs_of(remote, remote_job.run_record.id))
    run = remote.get_run(remote_job.run_record.id)
    n = run.question_count
    # Every question was encoded on a Ray node, every reranked pair scored on one.
    assert sum(remote_job.node_counts["encode"].values()) == n
    assert sum(remote_job.node_counts["rerank"].values()) == remote.count_pairs(run.id, reranked=True) > 0
    assert f"on Ray local: encode {n:,} questions" in run.note
    # and at what rate the node's worker encoded them (its own time, not its start-up)
    rate = re.search(rf"encode {n:,} questions \(node \w{{8}} {n:,} at ([\d,]+) a second\)", run.note)
    assert rate and int(rate.group(1).replace(",", "")) > 0, run.note
    assert not ray.is_initialized()  # the local Ray instance stopped with the run


def test_ray_workers_encode_with_the_fast_paths_a_local_run_takes(tmp_path):
    """The app's default encoding (bf16, int8 head and body where the CPU has them) on Ray: a
    worker on this machine's node stores the vectors an in-process run stores, not float32's."""
    from quoradesk.core.models.encode import encode_csr

    local, local_job = mine(tmp_path / "local.sqlite", SAMPLE_QUESTIONS, params=MiningParams(chunk_size=256))
    remote, remote_job = mine(tmp_path / "remote.sqlite", SAMPLE_QUESTIONS, params=MiningParams(chunk_size=256),
                              ray="local")
    for key in ("encode_bf16", "encode_int8", "encode_int8_body"):
        assert remote.get_run(remote_job.run_record.id).params[key] == local_job.params.key()[key]
    ids = local.question_ids()
    texts = local.texts(ids)
    here = local.load_encodings(local_job.sparse_key, ids, 30522)
    there = remote.load_encodings(remote_job.sparse_key, remote.question_ids(), 30522)
    assert remote.texts(remote.question_ids()) == texts
    assert abs(here - there).max() < 1e-4
    if models.native_int8():  # else both ran the float32 path, and agree trivially
        assert abs(there - encode_csr(local_job.encoder(), texts, 32)).max() > 1e-3


def test_milvus_collection_is_reused_and_matches_the_exact_index(tmp_path, encoder):
    """A grown project writes only its new questions; a changed vector is rewritten; the
    search gives the exact index's pairs and scores."""
    from quoradesk.core.cluster.milvus_index import MilvusIndex, connect_milvus
    from quoradesk.core.models.encode import encode_csr

    texts = load_questions(SAMPLE_QUESTIONS).questions
    matrix = prepare(encode_csr(encoder, [q.text for q in texts]), "cosine")
    ids = np.arange(1, matrix.shape[0] + 1)
    client = connect_milvus(str(tmp_path / "v.db"))
    try:
        first = MilvusIndex(client, "quoradesk_t", matrix[:150], ids[:150])
        assert first.written == 150
        grown = MilvusIndex(client, "quoradesk_t", matrix, ids)
        assert grown.written == matrix.shape[0] - 150
        changed = sparse.csr_matrix(matrix, copy=True)
        changed.data[changed.indptr[3]] *= 0.5  # question 4's vector is not what was stored
        assert MilvusIndex(client, "quoradesk_t", changed, ids).written == 1
        index = MilvusIndex(client, "quoradesk_t", matrix, ids)
        assert index.written == 1  # back to the original vector
        got = index.neighbours(0, index.n, top_k=5)
        want = SparseIndex(matrix).neighbours(0, index.n, top_k=5)
        got_pairs = dict(zip(zip(got[0].tolist(), got[1].tolist()), got[2].tolist()))
        want_pairs = dict(zip(zip(want[0].tolist(), want[1].tolist()), want[2].tolist()))
        common = got_pairs.keys() & want_pairs.keys()
        assert len(common) >= 0.98 * len(want_pairs)  # ties at the 5th place may differ
        assert max(abs(got_pairs[k] - want_pairs[k]) for k in common) < 1e-5
        # Only the run's questions are searched: a smaller run does not see the grown ones.
        small = MilvusIndex(client, "quoradesk_t", matrix[:100], ids[:100])
        r, c, _, _ = small.neighbours(0, 100, top_k=10)
        assert len(r) and c.max() < 100
    finally:
        client.close()


def test_collection_name_follows_project_and_model():
    a = collection_name(Path("/x/My project.sqlite"), "1700000000.1", "abc123def4567890", "cosine")
    assert a.startswith("quoradesk_My_project_") and a.endswith("_abc123def456_cosine")
    assert a == collection_name(Path("/elsewhere/My project.sqlite"), "1700000000.1", "abc123def4567890", "cosine")
    assert a != collection_name(Path("/x/My project.sqlite"), "1700000099.9", "abc123def4567890", "cosine")


@pytest.mark.parametrize("ray_address, milvus, says", [
    ("127.0.0.1:1", None, "Cannot reach the Ray cluster"),
    ("ray://127.0.0.1:1", None, "Cannot reach the Ray cluster"),
    ("somewhere", None, "is not one of"),
    (None, "http://127.0.0.1:1", "Cannot reach the Milvus server"),
    (None, "/no/such/folder/v.db", "does not exist"),
    (None, "vectors.sqlite", "neither a Milvus Lite file"),
])
def test_unreachable_or_wrong_address_is_refused_before_anything_is_written(tmp_path, ray_address, milvus, says):
    db = tmp_path / "p.sqlite"
    cmd = [sys.executable, "-m", "quoradesk", "mine", str(SAMPLE_QUESTIONS), "--db", str(db), "--quiet",
           "--no-rerank", "--show", "0"]
    cmd += ["--ray", ray_address] if ray_address else []
    cmd += ["--milvus", milvus] if milvus else []
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 5, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert not db.exists()  # refused before the project was even created


def test_a_job_refuses_an_unreachable_address_before_opening_a_run(tmp_path, splade_path):
    """The GUI's path: MiningJob itself checks at run(), with the project open."""
    store = Store(tmp_path / "p.sqlite")
    store.add_import(load_questions(SAMPLE_QUESTIONS))
    for cluster in ({"ray": "127.0.0.1:1"}, {"milvus": "http://127.0.0.1:1"}):
        job = MiningJob(store, sparse_model=splade_path, device="cpu", **cluster)
        with pytest.raises(ClusterError, match="Cannot reach"):
            list(job.run())
        assert store.runs() == []
    with pytest.raises(ClusterError, match="is not one of"):
        MiningJob(store, sparse_model=splade_path, device="cpu", ray="nowhere")


def test_ray_run_killed_mid_encode_resumes_to_the_same_pairs(tmp_path, splade_path):
    """SIGKILL the CLI while Ray workers encode; the same command resumes the run and ends
    with the pairs of an uninterrupted local run."""
    src = write_pairs(tmp_path / "pairs.tsv", 1500)
    db = tmp_path / "killed.sqlite"
    args = ["mine", str(src), "--db", str(db), "--quiet", "--no-rerank", "--show", "0", "--chunk-size", "64",
            "--ray", "local"]
    cmd = [sys.executable, "-m", "quoradesk", *args]
    assert kill_cli_when_encoded(args, 64) == -signal.SIGKILL
    with Store(db) as s:
        assert s.integrity_ok()
        run = s.latest_run()
        total = run.question_count
        assert run.status == "running" and run.stage == "encode"
        assert 64 <= s.db.execute("select count(*) from encodings").fetchone()[0] < total
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert "Resuming run" in done.stdout
    # The CLI's default encoding, which the workers take as this node allows.
    local, local_job = mine(tmp_path / "local.sqlite", src, params=MiningParams(chunk_size=64))
    with Store(db) as s:
        run = s.latest_run()
        assert run.status == "done" and len(s.runs()) == 1
        assert_same_result(pairs_of(local, local_job.run_record.id), pairs_of(s, run.id))


# ---------------------------------------------------------------- the Mine tab's Advanced box


def open_sample_project(qtbot, w, path: Path) -> None:
    assert w.open_project(path)
    w.import_tab.load(SAMPLE_QUESTIONS)
    qtbot.waitUntil(lambda: w.import_tab.result is not None, timeout=30000)
    w.import_tab.add_to_project()


def test_mine_tab_runs_on_ray_with_milvus_and_saves_the_settings(qtbot, window, tmp_path):
    open_sample_project(qtbot, window, tmp_path / "p.sqlite")
    tab = window.mine_tab
    tab.rerank.setChecked(False)
    tab.advanced.setChecked(True)
    tab.ray_address.setText("local")
    tab.milvus_uri.setText(str(tmp_path / "vectors.db"))
    with qtbot.waitSignal(window.review_tab.loaded, timeout=240000):
        tab.start()
    run = window.store.latest_run()
    assert run.status == "done" and "on Ray local: encode 233 questions" in run.note
    assert window.review_tab.model.rowCount() > 0
    settings = window.settings
    assert _on(settings.value("mine/advanced")) and settings.value("mine/ray") == "local"
    assert settings.value("mine/milvus") == str(tmp_path / "vectors.db")


def _on(value) -> bool:
    return value is True or str(value).lower() == "true"


def test_mine_tab_reports_an_unreachable_cluster_and_writes_nothing(qtbot, window, tmp_path):
    open_sample_project(qtbot, window, tmp_path / "p.sqlite")
    tab = window.mine_tab
    tab.advanced.setChecked(True)
    tab.ray_address.setText("over there")  # not an address: refused at once, on this thread
    tab.start()
    assert "is not one of" in tab.status.text() and tab.worker is None
    tab.ray_address.setText("127.0.0.1:1")  # an address nobody answers: the worker finds out
    with qtbot.waitSignal(tab.error, timeout=60000) as failed:
        tab.start()
    assert "Cannot reach the Ray cluster" in failed.args[0]
    assert "Cannot reach the Ray cluster" in tab.status.text()
    assert window.store.runs() == [] and tab.start_button.isEnabled()
    tab.advanced.setChecked(False)  # unticked, the addresses are kept but not used
    assert tab.cluster() == {"ray": None, "milvus": None}


def test_cancel_on_ray_keeps_the_committed_chunks_and_resumes(tmp_path, splade_path):
    """Cancel while the Ray workers encode: the run stops, keeps the chunks already
    committed, and the next job resumes it to the pairs of an uninterrupted local run."""
    src = write_pairs(tmp_path / "pairs.tsv", 600)
    store = Store(tmp_path / "p.sqlite")
    store.add_import(load_questions(src))
    params = MiningParams(chunk_size=64)
    job = MiningJob(store, sparse_model=splade_path, params=params, device="cpu", ray="local")
    events = []
    for ev in job.run():
        events.append(ev)
        if ev.stage == "encode" and ev.done >= 64:
            job.cancel()
    assert events[-1].stage == "cancelled"
    run = store.get_run(job.run_record.id)
    saved = store.db.execute("select count(*) from encodings").fetchone()[0]
    assert run.status == "cancelled" and run.stage == "encode" and 64 <= saved < run.question_count
    assert not ray.is_initialized()
    resumed = MiningJob(store, sparse_model=splade_path, params=params, device="cpu", ray="local")
    assert list(resumed.run())[-1].stage == "done" and resumed.resumed
    assert sum(resumed.node_counts["encode"].values()) == run.question_count - saved  # only the rest
    local, local_job = mine(tmp_path / "local.sqlite", src, sparse_model=splade_path, params=params)
    assert_same_result(pairs_of(local, local_job.run_record.id), pairs_of(store, resumed.run_record.id))
