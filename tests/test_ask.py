"""Ask: one new question against a project, in the core, the CLI and the local HTTP API, with
the real models on the bundled sample (its paraphrase groups say what must come first)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from quoradesk.core import models
from quoradesk.core.ask import AskError, AskService, cache_folder
from quoradesk.core.ask import service as ask
from quoradesk.core.mining import MiningJob, MiningParams
from quoradesk.core.questions import load_questions
from quoradesk.core.resources import SAMPLE_QUESTIONS
from quoradesk.core.search.index import prepare
from quoradesk.core.search.margins import usual_closeness
from quoradesk.core.store import ProjectError, Store


@pytest.fixture(scope="module")
def mined_sample(tmp_path_factory, splade_path) -> Path:
    db = tmp_path_factory.mktemp("ask") / "sample.sqlite"
    with Store(db) as store:
        store.add_import(load_questions(SAMPLE_QUESTIONS))
        list(MiningJob(store, sparse_model=splade_path, params=MiningParams(), device="cpu").run())
    return db


@pytest.fixture
def project(mined_sample, tmp_path) -> Path:
    """A copy of the mined sample a test may change."""
    db = tmp_path / "p.sqlite"
    shutil.copy(mined_sample, db)
    return db


@pytest.fixture(scope="module")
def service(mined_sample):
    store = Store(mined_sample, create=False)
    yield AskService(store)
    store.close()


def snapshot(db: Path) -> tuple:
    with Store(db, create=False) as s:
        return (s.question_count(), len(s.imports()), s.db.execute("select count(*) from encodings").fetchone()[0],
                s.labels())


def test_a_paraphrase_comes_first_with_its_reasons(service):
    result = service.ask("What's the quickest way to learn Python?", top=5)
    first = result.matches[0]
    assert "Python" in first.text and first.rerank_score is not None
    assert first.score == pytest.approx(0.5 * first.rerank_score + 0.5 * first.first_score)
    assert "python" in [t for t, _ in first.why.content]  # the content token that matched
    assert len(result.matches) == 5 and [m.score for m in result.matches[:3]] == sorted(
        (m.score for m in result.matches[:3]), reverse=True)
    assert set(result.seconds) >= {"encode", "search", "rerank", "total"}
    # the project's own text is found as such
    same = service.ask("Why is the sky blue?").matches[0]
    assert same.same_text and same.sparse_score == pytest.approx(1.0, abs=1e-5)


def test_labels_show_in_the_matches(project):
    with Store(project, create=False) as store:
        qid = store._ids_for_texts(["Why is the sky blue?"])["Why is the sky blue?"]
        other = store._ids_for_texts(["What makes the sky look blue?"])["What makes the sky look blue?"]
        store.set_label(qid, other, "accepted")
        m = AskService(store, reranker=None).ask("Why is the sky blue?").matches[0]
        assert m.question_id == qid and m.labels == {"accepted": 1} and "accepted 1" in m.label_summary()
        assert m.rerank_score is None and m.score == m.first_score  # no reranker: the cosine in context


def test_asking_a_stored_question_scores_its_pairs_as_the_run_did(service, mined_sample):
    """Ask ranks by the run's cosine in context: asking a question the project holds gives each
    match it was paired with in the run that pair's first-stage score (same scale as Review)."""
    with Store(mined_sample, create=False) as store:
        run = store.latest_run("done")
        rows = store.db.execute("select a, b, sparse_score, first_score from pairs where run_id = ?",
                                [run.id]).fetchall()
        qid = store._ids_for_texts(["Why is the sky blue?"])["Why is the sky blue?"]
    # read from each question's best-ranked pairs only, the same as over every pair
    a, b, cosine = (np.array(x) for x in zip(*[r[:3] for r in rows], strict=True))
    every = usual_closeness(np.searchsorted(service.ids, a), np.searchsorted(service.ids, b), cosine, len(service.ids))
    assert service.usual == pytest.approx(every)
    in_run = {(a if b == qid else b): (s, f) for a, b, s, f in rows if qid in (a, b)}
    matches = [m for m in service.ask("Why is the sky blue?", top=10).matches if not m.same_text]
    compared = [m for m in matches if m.question_id in in_run]
    assert len(compared) >= 3
    for m in compared:
        cosine, first = in_run[m.question_id]
        assert m.sparse_score == pytest.approx(cosine, abs=1e-4)
        assert m.first_score == pytest.approx(first, abs=1e-4)
    # the context moves scores: a match's first_score is not its cosine
    assert any(abs(m.first_score - m.sparse_score) > 0.01 for m in compared)


def test_a_question_the_run_did_not_see_counts_as_usual_as_the_asked_one(project):
    with Store(project, create=False) as store:
        service = AskService(store, reranker=None)
        qid = service.add("How do I learn the Rust programming language?")
        assert np.isnan(service.usual[-1]) and (~np.isnan(service.usual[:-1])).mean() > 0.9
        result = service.ask("learning the Rust programming language")
        new = next(m for m in result.matches if m.question_id == qid)
        others = sorted((m.sparse_score for m in result.matches), reverse=True)[:2]
        asked = sum(others) / 2  # the asked question's usual closeness: its two best cosines
        assert new.first_score == pytest.approx(new.sparse_score + (new.sparse_score - asked), abs=1e-6)


def test_a_run_finished_while_open_gives_its_context_at_the_next_ask(project, splade_path):
    with Store(project, create=False) as store:
        service = AskService(store, reranker=None)
        src = project.parent / "more.txt"
        src.write_text("How do I repair a flat bicycle tyre?\nHow can I fix a punctured bike tyre?\n")
        store.add_import(load_questions(src))
        service.ask("fixing a bike tyre")  # taken in, but no run has seen them yet
        assert np.isnan(service.usual[-2:]).all() and len(service.ids) == 235
        job = MiningJob(store, sparse_model=splade_path, reranker=None, params=MiningParams(), device="cpu")
        list(job.run())
        assert service.context_run != job.run_record.id
        service.ask("fixing a bike tyre")
        assert service.context_run == job.run_record.id and not np.isnan(service.usual[-2:]).any()


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("   \n\t ", "empty"), ("x" * 1_000_000, "too long"), ("y " * 3000, "too long"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"), ("What\x00is this?", "control characters"),
    (b"\xff\xfe\xfa", "not UTF-8"), (None, "must be text"),
])
def test_bad_questions_are_refused_and_change_nothing(project, text, message):
    before = snapshot(project)
    with Store(project, create=False) as store:
        service = AskService(store, reranker=None)
        with pytest.raises(AskError, match=message):
            service.ask(text)
        with pytest.raises(AskError, match=message):
            service.add(text)
    assert snapshot(project) == before


def test_unopenable_projects_say_why(tmp_path):
    with pytest.raises(ProjectError, match="No such project"):
        Store(tmp_path / "none.sqlite", create=False)
    foreign = tmp_path / "foreign.sqlite"
    foreign.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(ProjectError):
        Store(foreign, create=False)
    with Store(tmp_path / "empty.sqlite") as store, pytest.raises(AskError, match="no questions"):
        AskService(store, reranker=None)


def test_a_project_never_mined_is_encoded_in_memory_and_left_as_it_was(tmp_path, monkeypatch):
    db = tmp_path / "new.sqlite"
    with Store(db) as store:
        store.add_import(load_questions(SAMPLE_QUESTIONS))
    before = snapshot(db)
    with Store(db, create=False) as store:
        service = AskService(store, reranker=None)
        assert service.encoded_in_memory == 233
        assert "Python" in service.ask("How can I learn Python fast?").matches[0].text
        # A large project would take minutes to encode at every start: it says to mine first.
        monkeypatch.setattr(ask, "MAX_ENCODE_ON_OPEN", 100)
        with pytest.raises(AskError, match="mine the project first"):
            AskService(store, reranker=None, max_encode=ask.MAX_ENCODE_ON_OPEN)
    assert snapshot(db) == before


def test_add_stores_the_question_and_its_encoding_and_grows_the_index(project, monkeypatch):
    monkeypatch.setattr(ask, "FOLD_ADDED", 2)  # the second addition folds the side matrix in
    with Store(project, create=False) as store:
        service = AskService(store, reranker=None)
        n = store.question_count()
        texts = ["How do I learn the Rust programming language?", "Is Rust harder to learn than Go?"]
        ids = [service.add(t) for t in texts]
        assert ids == [n + 1, n + 2] and store.question_count() == n + 2
        assert service.add(texts[0]) == ids[0]  # the same text again: nothing new
        assert store.missing_encodings(service.model_key, store.question_ids()).size == 0
        assert service.indexed == n + 2 and service.side.shape[0] == 0  # folded
        assert service.ask("learning Rust programming").matches[0].question_id == ids[0]
        # questions another window imports meanwhile are taken in at the next ask
        src = project.parent / "more.txt"
        src.write_text("How do I repair a flat bicycle tyre?\n")
        with Store(project, create=False) as other:
            other.add_import(load_questions(src))
        m = service.ask("fixing a punctured bike tyre").matches[0]
        assert m.text == "How do I repair a flat bicycle tyre?" and service.side.shape[0] == 1
    # a fresh service finds the added question through its stored encoding
    with Store(project, create=False) as store:
        fresh = AskService(store, reranker=None)
        assert fresh.encoded_in_memory == 1  # only the one imported elsewhere
        assert fresh.ask("learning Rust programming").matches[0].question_id == ids[0]


# ---------------------------------------------------------------- the CLI


def answers(result) -> list:
    return [(m.question_id, round(m.score, 6), round(m.sparse_score, 6), m.why.content) for m in result.matches]


def test_a_new_process_answers_from_the_index_the_project_keeps(project, monkeypatch):
    question = "How can I learn to code in Python quickly?"
    with Store(project, create=False) as store:
        first = AskService(store, reranker=None)
        assert not first.index_kept and (cache_folder(store) / "index" / "key.json").is_file()
        built = first.ask(question)
    with Store(project, create=False) as store:
        again = AskService(store, reranker=None)
        assert again.index_kept and again._raw is None  # nothing read from the encodings table
        assert answers(again.ask(question)) == answers(built)  # the same answers, tokens included
        assert np.array_equal(again.usual, first.usual, equal_nan=True)
        # adding grows a kept index; folding reads every stored row once
        monkeypatch.setattr(ask, "FOLD_ADDED", 2)
        ids = [again.add(t) for t in ("How do I learn the Rust programming language?", "Is Rust harder than Go?")]
        assert again.indexed == len(again.ids) and again.side.shape[0] == 0
        assert again.ask("learning Rust programming").matches[0].question_id == ids[0]
    with Store(project, create=False) as store:  # two questions more: the kept index is stale
        stale = AskService(store, reranker=None)
        assert not stale.index_kept and stale.ask("learning Rust programming").matches[0].question_id == ids[0]
    (cache_folder(project_store := Store(project, create=False)) / "index" / "indices.npy").write_bytes(b"damaged")
    project_store.close()
    with Store(project, create=False) as store:  # a damaged index is rebuilt, not an error
        rebuilt = AskService(store, reranker=None)
        assert not rebuilt.index_kept and rebuilt.ask("learning Rust programming").matches[0].question_id == ids[0]
    with Store(project, create=False) as store:
        assert AskService(store, reranker=None).index_kept


def test_a_finished_run_leaves_asks_index_kept(project, splade_path):
    """What the Mine tab and `quoradesk mine` do once a run is done: the next Ask maps the index
    instead of building it, and that index is the one Ask would build (prepare, transposed)."""
    with Store(project, create=False) as store:
        job = MiningJob(store, sparse_model=splade_path, params=MiningParams(), device="cpu")
        note = ask.keep_index_after_mining(store, job)
        assert note.startswith("Ask's index kept beside the project"), note
        service = AskService(store, reranker=None)
        assert service.index_kept and service._raw is None
        assert not service.inverted.data.flags.writeable  # mapped read-only from its file, not read in
        want = prepare(store.load_encodings(service.model_key, service.ids, dim=service.dim), "cosine").T.tocsr()
        for name in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(service.inverted, name), getattr(want, name)), name
        assert service.ask("What's the quickest way to learn Python?").matches[0].text.count("Python")
        # a question imported since has no encoding: nothing kept, and the user is told why
        src = project.parent / "one.txt"
        src.write_text("How do I descale a kettle?\n")
        store.add_import(load_questions(src))
        assert "not kept (questions without a stored encoding" in ask.keep_index_after_mining(store, job)


def cli(*args, stdin: str | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quoradesk", *map(str, args)], input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def test_cli_asks_one_question_or_lines_from_stdin(project):
    out = cli("ask", "How can I learn Python fast?", "--db", project, "--top", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "Q: How can I learn Python fast?" and "Python" in lines[1] and "matched on: python" in lines[2]
    assert "questions ready" in out.stderr
    out = cli("ask", "--db", project, "--json", "--top", "2", "--no-rerank",
              stdin="Why is the sky blue?\n\n\x01\x02\nHow do I bake bread?\n")
    assert out.returncode == 2  # one line was refused; the others were answered
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r.get("error", "")[:29] for r in rows] == ["", "The question contains control", ""]
    assert rows[0]["matches"][0]["same_text"] and len(rows[2]["matches"]) == 2
    assert rows[2]["matches"][0]["why"]["content"]
    before = snapshot(project)
    assert cli("ask", "   ", "--db", project).returncode == 2
    assert snapshot(project) == before
    out = cli("ask", "How do I learn Rust?", "--db", project, "--add", "--no-rerank")
    assert out.returncode == 0 and "added to the project as question #234" in out.stdout
    assert snapshot(project)[0] == before[0] + 1


def test_cli_on_a_missing_or_unmined_project(tmp_path):
    out = cli("ask", "Why?", "--db", tmp_path / "none.sqlite")
    assert out.returncode == 4 and "No such project" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "none.sqlite").exists()


# ---------------------------------------------------------------- the HTTP API


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, body=None, headers=None, method=None, timeout=60):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture
def server(project):
    """`quoradesk serve` in a process of its own, on a free loopback port, with a token."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "quoradesk", "serve", "--db", str(project), "--port", str(port),
                             "--token", "s3cret"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer s3cret"}
    deadline = time.time() + 120
    try:
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if request(base + "/health", headers=auth, timeout=5)[1].get("status") == "ready":
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            assert time.time() < deadline, "the server never became ready"
            time.sleep(0.3)
        yield base, auth, project
    finally:
        proc.terminate()
        proc.wait(30)


def test_http_api_answers_and_refuses_bad_requests(server):
    base, auth, project = server
    status, health = request(base + "/health", headers=auth)
    assert status == 200 and health["questions"] == 233 and health["reranked"]
    status, body = request(base + "/ask", {"text": "How can I learn Python fast?", "top": 3}, auth)
    assert status == 200 and len(body["matches"]) == 3 and "Python" in body["matches"][0]["text"]
    assert body["matches"][0]["why"]["content"][0][0] == "python"
    before = snapshot(project)
    assert request(base + "/ask", {"text": "How can I learn Python fast?"})[0] == 401  # no token
    assert request(base + "/ask", {"text": "x"}, {"Authorization": "Bearer wrong"})[0] == 401
    status, body = request(base + "/ask", {"text": "  "}, auth)
    assert status == 400 and "empty" in body["detail"]
    assert request(base + "/ask", {"text": "a\x00b"}, auth)[0] == 400
    status, body = request(base + "/ask", {"text": "x" * 70_000}, auth)  # past the 64 KiB limit
    assert status == 413 and "request body" in body["detail"]
    try:  # a 1 MB body: refused before it is read, so the client may not even finish sending
        assert request(base + "/ask", {"text": "x" * (1 << 20)}, auth)[0] == 413
    except (urllib.error.URLError, ConnectionError):
        pass
    assert request(base + "/health", headers=auth)[1]["status"] == "ready"  # still serving
    status, body = request(base + "/ask", b"\x89PNG\x00\x01 not json", auth)  # binary: not even text
    assert status == 400 and body["detail"]
    assert request(base + "/ask", b'{"text": "Why?"', auth)[0] == 422  # JSON cut short
    assert request(base + "/ask", {"text": "Why?", "top": 0}, auth)[0] == 422
    assert request(base + "/ask", {"question": "Why?"}, auth)[0] == 422
    assert snapshot(project) == before  # nothing a refused request sent reached the project
    status, body = request(base + "/ask", {"text": "How do I learn Rust?", "add": True}, auth)
    assert status == 200 and body["added_id"] == 234
    assert snapshot(project)[0] == before[0] + 1


def test_serve_refuses_a_wider_address_without_a_token(project):
    port = free_port()
    out = cli("serve", "--db", project, "--host", "0.0.0.0", "--port", port, timeout=60)
    assert out.returncode == 2 and "--token" in out.stderr
    with socket.socket() as s:  # nothing listens
        assert s.connect_ex(("127.0.0.1", port)) != 0
    out = cli("serve", "--db", project.parent / "none.sqlite", timeout=60)
    assert out.returncode == 4 and "No such project" in out.stderr


def test_models_load_offline(mined_sample, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("asking tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "1"))
    with Store(mined_sample, create=False) as store:
        service = AskService(store, sparse_model=models.SHIPPED_SPARSE)
        assert service.ask("Is green tea healthy?").matches


def test_serve_says_loading_then_ready_and_a_question_sent_while_loading_waits(project):
    """/health is 503 with Retry-After while the models load, 200 once ready; a question posted
    as soon as the port answers (the models take seconds) waits for them and gets its answer."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "quoradesk", "serve", "--db", str(project), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:  # the first answer of the port
            assert proc.poll() is None, proc.stdout.read()
            try:
                with urllib.request.urlopen(base + "/health", timeout=5) as resp:
                    first = (resp.status, resp.headers, json.loads(resp.read()))
                break
            except urllib.error.HTTPError as err:
                first = (err.code, err.headers, json.loads(err.read()))  # headers: any case
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                assert time.time() < deadline, "the server never answered"
                time.sleep(0.1)
        status, headers, body = first
        assert (status, body["status"]) in ((503, "loading"), (200, "ready"))
        if status == 503:
            assert int(headers.get("Retry-After")) > 0
        status, answer = request(base + "/ask", {"text": "How can I learn Python fast?", "top": 3})
        assert status == 200 and "Python" in answer["matches"][0]["text"]
        status, health = request(base + "/health")
        assert status == 200 and health["status"] == "ready"
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_run_keeps_the_projects_vocabulary_and_ask_and_later_runs_encode_with_it(tmp_path):
    """The default model's int8 encoder on the sample: the first run fits the project's
    vocabulary (models.project_vocabulary) and keeps it; the stored vectors carry the entries it
    adds ("taps" for "How can I repair a dripping tap?"); Ask encodes with it, so the question
    asked again scores 1.0 against its stored vector; a later run encodes its new questions with
    the kept one; a repaired project keeps it."""
    from quoradesk.core.models.encode import SpladeHeadEncoder
    from quoradesk.core.store.health import repair_project

    db = tmp_path / "p.sqlite"
    params = MiningParams(encode_int8=True, encode_int8_body=True)
    tap = "How can I repair a dripping tap?"
    with Store(db) as store:
        store.add_import(load_questions(SAMPLE_QUESTIONS))
        job = MiningJob(store, sparse_model=models.default_sparse_model_path(), reranker=None, params=params,
                        device="cpu")
        list(job.run())
        kept = store.encoding_vocabulary(job.sparse_key)
        active = SpladeHeadEncoder.for_model(job.encoder()).active_columns
        taps = job.encoder().tokenizer.convert_tokens_to_ids("taps")
        assert kept is not None and np.all(np.isin(active, kept)) and taps in kept and taps not in active
        assert f"{len(kept) - len(active):,} vocabulary entries this project's questions use" in store.get_run(job.run_record.id).note
        tap_id = store._ids_for_texts([tap])[tap]
        assert store.load_encodings(job.sparse_key, [tap_id], 30522)[0, taps] > 0
        again = AskService(store, reranker=False).ask(tap).matches[0]
        assert again.same_text and again.sparse_score == pytest.approx(1.0, abs=1e-5)
        extra = tmp_path / "more.txt"
        extra.write_text("Why do taps drip at night?\n", encoding="utf-8")
        store.add_import(load_questions(extra))
        job2 = MiningJob(store, sparse_model=models.default_sparse_model_path(), reranker=None, params=params,
                         device="cpu")
        list(job2.run())
        assert np.array_equal(job2.vocabulary, kept)
        new_id = store._ids_for_texts(["Why do taps drip at night?"])["Why do taps drip at night?"]
        assert store.load_encodings(job.sparse_key, [new_id], 30522)[0, taps] > 0
    repair_project(db, tmp_path / "repaired.sqlite")
    with Store(tmp_path / "repaired.sqlite", create=False) as repaired:
        assert np.array_equal(repaired.encoding_vocabulary(job.sparse_key), kept)
