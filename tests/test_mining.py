"""The mining pipeline with the real SPLADE model: its mechanics on the project's own pairs,
what it finds on the sample's labelled paraphrases and, where the data is there, on Quora's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from killed_runs import kill_cli_when_encoded
from owned_data import sample_pairs, write_pairs

from quoradesk.core.mining import MiningJob, MiningParams, encode_chunks
from quoradesk.core.questions import load_questions
from quoradesk.core.store import Store
from quoradesk.core.training.evaluate import mining_metrics

N_PAIRS = 300


def gold_pairs(store: Store, result) -> list[tuple[int, int]]:
    """Labelled duplicates of an import, as project question ids."""
    ids = store._ids_for_texts(q.text for q in result.questions)
    return [
        (ids[result.questions[p.a].text], ids[result.questions[p.b].text])
        for p in result.labelled_pairs if p.label == 1
    ]


def mine_all(store, splade_path, params, **kw):
    job = MiningJob(store, sparse_model=splade_path, params=params, device="cpu", **kw)
    events = list(job.run())
    return job, events


def mine_file(tmp, src: Path, splade_path):
    """One uninterrupted run over a pair file: (src, import result, store, job, events)."""
    result = load_questions(src)
    store = Store(tmp / "ref.sqlite")
    store.add_import(result)
    job, events = mine_all(store, splade_path, MiningParams(top_k=10, chunk_size=128))
    return src, result, store, job, events


@pytest.fixture(scope="module")
def mined(tmp_path_factory, splade_path):
    """One uninterrupted run over the project's first N_PAIRS pairs: the reference for resumes."""
    tmp = tmp_path_factory.mktemp("mined")
    return mine_file(tmp, write_pairs(tmp / "slice.tsv", N_PAIRS), splade_path)


def assert_duplicates_on_top(mined, recall, ap, top20):
    _, result, store, job, events = mined
    run = store.get_run(job.run_record.id)
    assert run.status == "done" and run.stage == "done"
    assert events[-1].stage == "done" and not run.reranked
    assert "no reranking" in run.note
    ranked = [(p.a, p.b) for p in store.iter_pairs(run.id)]
    gold = gold_pairs(store, result)
    metrics = mining_metrics(ranked, gold)
    top = sum((p.a, p.b) in set(gold) for p in store.top_pairs(run.id, limit=20))
    print(f"recall {metrics.recall:.3f}, AP {metrics.average_precision:.3f}, {top} of the top 20")
    assert metrics.recall >= recall
    assert metrics.average_precision >= ap
    assert top >= top20  # most of the very best are real duplicates


@pytest.fixture(scope="module")
def mined_sample(tmp_path_factory, splade_path):
    """One run over the sample's paraphrase groups (owned_data.sample_pairs: 158 pairs, 90
    duplicates)."""
    tmp = tmp_path_factory.mktemp("mined_sample")
    return mine_file(tmp, write_pairs(tmp / "s.tsv", len(sample_pairs())), splade_path)


def test_known_duplicates_come_out_on_top(mined_sample):
    # Measured with the shipped fast SPLADE: recall 0.956, AP 0.714 (0.649 by cosine alone),
    # 16 of the top 20 duplicates.
    assert_duplicates_on_top(mined_sample, recall=0.93, ap=0.65, top20=13)


@pytest.fixture(scope="module")
def mined_quora(tmp_path_factory, dev_lines, splade_path):
    """The same uninterrupted run over the first N_PAIRS Quora dev pairs."""
    tmp = tmp_path_factory.mktemp("mined_quora")
    src = tmp / "slice.tsv"
    src.write_text("\n".join(dev_lines[:N_PAIRS]) + "\n", encoding="utf-8")
    return mine_file(tmp, src, splade_path)


def test_known_quora_duplicates_come_out_on_top(mined_quora):
    # Measured with the shipped fast SPLADE on these 300 pairs: recall 1.00, AP 0.741 (by cosine
    # alone 0.715; an older model 0.61), 17 of the top 20 pairs labelled duplicates.
    assert_duplicates_on_top(mined_quora, recall=0.95, ap=0.65, top20=14)


def assert_context_ranks_better(mined, gain):
    """The first stage ranks by cosine in context (core.margins), not by cosine alone."""
    _, result, store, job, _ = mined
    pairs = list(store.iter_pairs(job.run_record.id))
    assert all(p.score == p.first_score for p in pairs)  # no reranker: the first stage's order
    gold = gold_pairs(store, result)
    in_context = mining_metrics([(p.a, p.b) for p in pairs], gold).average_precision
    by_cosine = sorted(pairs, key=lambda p: -p.sparse_score)
    cosine = mining_metrics([(p.a, p.b) for p in by_cosine], gold).average_precision
    print(f"AP by cosine {cosine:.3f}, in context {in_context:.3f}")
    assert in_context >= cosine + gain


def test_ranking_in_context_beats_cosine_alone(mined_sample):
    # Measured with the fast SPLADE on the sample's paraphrase groups: AP 0.650 by cosine,
    # 0.714 in context (the accurate one: 0.818, 0.879).
    assert_context_ranks_better(mined_sample, gain=0.03)


def test_ranking_in_context_beats_cosine_alone_on_quora(mined_quora):
    # Measured with the fast SPLADE on these 300 pairs: AP 0.715 by cosine, 0.741 in context
    # (on the first 1,000: 0.584, 0.663; held-out figures: bench/rank_fusion.py).
    assert_context_ranks_better(mined_quora, gain=0.01)


def test_strong_neighbours_beyond_top_k_are_mined_too(mined, splade_path):
    # On these 599 questions no neighbour past the 10th reaches the default 0.75 (the reference
    # run is a plain top 10); from 0.6 many do. Same encodings, search only.
    _, result, store, job, _ = mined
    params = MiningParams(top_k=10, keep_above=0.6, max_neighbours=20, chunk_size=128)
    job2, _ = mine_all(store, splade_path, params)
    ref = {(p.a, p.b) for p in store.iter_pairs(job.run_record.id)}
    pairs = list(store.iter_pairs(job2.run_record.id))
    beyond = [p for p in pairs if p.rank > 10]
    assert len(beyond) > 100 and all(p.sparse_score >= 0.6 - 1e-6 and p.rank <= 20 for p in beyond)
    assert {(p.a, p.b) for p in pairs if p.rank <= 10} == ref  # the top 10 are unchanged
    gold = gold_pairs(store, result)
    assert (mining_metrics([(p.a, p.b) for p in pairs], gold).recall
            >= mining_metrics(list(ref), gold).recall)


def test_search_on_threads_gives_the_serial_result(mined):
    from quoradesk.core.search.index import PrunedIndex, SparseIndex, prepare

    _, _, store, job, _ = mined
    run = store.get_run(job.run_record.id)
    matrix = prepare(store.load_encodings(run.sparse_model_key, store.question_ids(run.max_question_id)),
                     "cosine")
    p = job.params
    for index in (SparseIndex(matrix), PrunedIndex(matrix, postings=32, query_terms=8, candidates=16)):
        chunks = index.chunks(budget=int(index.row_cost.sum()) // 20 + 1)
        assert len(chunks) >= 10
        threaded = list(index.iter_neighbours(chunks, p.top_k, p.min_score, keep_above=p.keep_above,
                                               max_neighbours=p.max_neighbours, workers=3))
        assert [stop for stop, _ in threaded] == [stop for _, stop in chunks]  # in order
        for (start, stop), (_, got) in zip(chunks, threaded, strict=True):
            want = index.neighbours(start, stop, p.top_k, p.min_score, keep_above=p.keep_above,
                                    max_neighbours=p.max_neighbours)
            assert all(np.array_equal(x, y) for x, y in zip(got, want, strict=True))


def test_progress_events_cover_every_stage(mined):
    *_, events = mined
    stages = [e.stage for e in events]
    assert stages[0] == "encode" and "search" in stages and stages[-1] == "done"
    encode = [e for e in events if e.stage == "encode"]
    assert encode[-1].done == encode[-1].total and encode[-1].eta == 0
    assert all(e.done <= e.total for e in events)


def snapshot(store, run_id):
    return store.pair_scores(run_id)  # a, b and score (the sparse score: no reranker here)


def test_cancel_then_resume_gives_the_same_pairs(mined, tmp_path, splade_path):
    src, result, ref_store, ref_job, _ = mined
    store = Store(tmp_path / "p.sqlite")
    store.add_import(result)
    params = MiningParams(top_k=10, chunk_size=128)
    job = MiningJob(store, sparse_model=splade_path, params=params, device="cpu")
    partial = []  # progress inside a chunk, before it is saved
    for ev in job.run():
        saved = store.db.execute("select count(*) from encodings").fetchone()[0]
        if ev.stage == "encode" and 0 < ev.done and saved == 0:
            partial.append(ev.done)
        if ev.stage == "encode" and saved > 0:
            job.cancel()  # lands in the second chunk, between two of its batches
    assert partial and partial == sorted(partial) and partial[-1] <= 128  # per batch, within chunk 1
    run = store.get_run(job.run_record.id)
    assert run.status == "cancelled" and run.stage == "encode"
    encoded = store.db.execute("select count(*) from encodings").fetchone()[0]
    assert 0 < encoded < store.question_count()
    assert store.count_pairs(run.id) == 0

    job2, events = mine_all(store, splade_path, params)
    assert job2.resumed and job2.run_record.id == run.id
    assert events[0].done == encoded  # picked up where it stopped
    assert store.get_run(run.id).status == "done"
    for x, y in zip(snapshot(store, run.id), snapshot(ref_store, ref_job.run_record.id), strict=True):
        np.testing.assert_array_equal(x, y)  # exactly the same pairs and scores
    assert store.integrity_ok()


def test_finished_run_is_not_resumed_but_reuses_encodings(mined, splade_path):
    _, _, store, job, _ = mined
    job2 = MiningJob(store, sparse_model=splade_path, params=MiningParams(top_k=3, chunk_size=128), device="cpu")
    events = list(job2.run())
    assert not job2.resumed and job2.run_record.id != job.run_record.id
    assert events[0].done == events[0].total  # nothing left to encode
    assert job2._encoder is None  # the model was never even loaded


def test_pruned_search_is_a_separate_run_with_exact_scores(mined, splade_path):
    _, _, store, job, _ = mined
    job2 = MiningJob(store, sparse_model=splade_path, device="cpu",
                     params=MiningParams(top_k=10, chunk_size=128, search="pruned"))
    list(job2.run())
    run, ref = job2.run_record, job.run_record
    assert run.id != ref.id and run.params["search"] == "pruned" and ref.params["search"] == "auto"
    got = {(p.a, p.b): p.sparse_score for p in store.iter_pairs(run.id)}
    want = {(p.a, p.b): p.sparse_score for p in store.iter_pairs(ref.id)}
    best = {(p.a, p.b) for p in store.iter_pairs(ref.id) if p.rank == 1}
    common = got.keys() & want.keys()
    # Each question looks up 16 of its ~150 tokens: many rank-10 neighbours are missed, but
    # the best match (what duplicates are) is found for nearly every question.
    assert len(best & got.keys()) >= 0.9 * len(best) and len(common) >= 0.5 * len(want)
    assert max(abs(got[k] - want[k]) for k in common) < 1e-5  # pruned or not, scores are exact


def test_auto_search_past_the_exact_work_limit_runs_pruned_and_says_so(mined, splade_path, monkeypatch):
    """'auto' estimates exact search's work (index.exact_work) and goes pruned past the limit;
    pruned search is approximate, so the run's note (shown by the CLI and the Mine tab's
    done message) says so. Here the limit is set below this small project's work."""
    from quoradesk.core.search import index

    _, _, store, job, _ = mined
    assert "pruned" not in job.run_record.note  # the reference run searched exactly
    monkeypatch.setattr(index, "EXACT_WORK", 1.0)
    job2 = MiningJob(store, sparse_model=splade_path, device="cpu",
                     params=MiningParams(top_k=9, chunk_size=128))  # another run, same encodings
    events = list(job2.run())
    run = store.get_run(job2.run_record.id)
    assert run.params["search"] == "auto" and run.id != job.run_record.id
    assert "candidate search pruned: exact search would cost" in run.note and "(limit 1e+00)" in run.note
    assert events[-1].stage == "done" and run.note in events[-1].message
    # Wide caps on a small project: each question's best match is the exact one's.
    best = {(p.a, p.b) for p in store.iter_pairs(job.run_record.id) if p.rank == 1}
    got = {(p.a, p.b) for p in store.iter_pairs(run.id)}
    assert len(best & got) >= 0.98 * len(best)


def test_killed_cli_run_resumes_with_no_pair_lost_or_doubled(mined, tmp_path):
    src, _, ref_store, ref_job, _ = mined
    db = tmp_path / "killed.sqlite"
    args = ["mine", str(src), "--db", str(db), "--quiet", "--model", "fast",
            "--no-rerank", "--top-k", "10", "--show", "0", "--chunk-size", "128"]
    cmd = [sys.executable, "-m", "quoradesk", *args]
    env = dict(os.environ)
    assert kill_cli_when_encoded(args, 128, env=env) == -signal.SIGKILL
    with Store(db) as s:
        assert s.integrity_ok()
        run = s.latest_run()
        assert run.status == "running" and run.stage == "encode"  # as the kill left it
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Resuming run" in done.stdout
    with Store(db) as s:
        run = s.latest_run()
        assert run.status == "done" and len(s.runs()) == 1
        got = snapshot(s, run.id)
        want = snapshot(ref_store, ref_job.run_record.id)
        for x, y in zip(got, want, strict=True):
            np.testing.assert_array_equal(x, y)
        assert s.integrity_ok()


def test_empty_project_cannot_be_mined(tmp_path, splade_path):
    store = Store(tmp_path / "empty.sqlite")
    job = MiningJob(store, sparse_model=splade_path, device="cpu")
    with pytest.raises(ValueError, match="no questions"):
        list(job.run())
    assert store.runs() == []


def test_reranker_scores_only_each_questions_best_above_the_floor(mined, splade_path):
    """Rerank policy: a pair is reranked iff it is some question's best neighbour (rank 1) and
    its cosine is at least the floor; everything else keeps its sparse score and ranks after."""
    from quoradesk.core import models

    _, _, store, _, _ = mined
    params = MiningParams(top_k=10, chunk_size=128)
    assert (params.rerank_top, params.rerank_floor, params.margin_weight) == (1, 0.6, 1.0)
    job = MiningJob(store, sparse_model=splade_path, reranker=models.SHIPPED_CROSS,
                    params=params, device="cpu", resume=False)
    events = list(job.run())
    run = store.get_run(job.run_record.id)
    assert run.status == "done" and run.reranked
    rows = store.db.execute(
        "select rank, sparse_score, rerank_score, score, first_score from pairs where run_id = ?", [run.id]
    ).fetchall()
    eligible = [r for r in rows if r[0] <= 1 and r[4] >= 0.6]  # the floor is on the score in context
    assert eligible and len(eligible) < len(rows) / 3
    assert all(r[2] is not None for r in eligible)
    assert all(r[2] is None for r in rows if not (r[0] <= 1 and r[4] >= 0.6))
    # a reranked pair's score mixes the reranker with the first stage's margin score
    assert all(r[3] == pytest.approx(0.5 * r[2] + 0.5 * r[4]) for r in eligible)
    assert any(abs(r[4] - r[1]) > 0.01 for r in rows)
    rerank_events = [e for e in events if e.stage == "rerank"]
    assert rerank_events[-1].total == len(eligible) == rerank_events[-1].done
    # ranked: every reranked pair before every pair without a reranker score
    top = [p.rerank_score is not None for p in store.iter_pairs(run.id)]
    assert top == sorted(top, reverse=True)


def test_progress_counts_only_newly_encoded_questions(tmp_path, pair_slice, splade_path):
    """Second import into a mined project: the partly encoded chunk is re-encoded whole, but
    the progress must end at the question count, not past it."""
    store = Store(tmp_path / "grow.sqlite")
    store.add_import(load_questions(pair_slice(60)))
    params = MiningParams(top_k=5, chunk_size=256)
    list(MiningJob(store, sparse_model=splade_path, params=params, device="cpu").run())
    store.add_import(load_questions(pair_slice(40, start=60)))
    events = [e for e in MiningJob(store, sparse_model=splade_path, params=params, device="cpu").run()
              if e.stage == "encode"]
    assert events[0].done < events[0].total
    assert events[-1].done == events[-1].total == store.question_count()


# The int8 case runs on the Quora slice its noise bound was measured on: on the project's own
# pairs (reworded variants near the reranker's boundary) the noise reached 0.37 in one run of
# five, 0.2-0.25 in the others.
@pytest.mark.parametrize("int8, data", [(False, "mined"), (True, "mined_quora")], ids=["float32", "int8"])
def test_cancel_during_rerank_keeps_the_scored_pairs_and_resumes(request, tmp_path, splade_path, int8, data):
    """A cancel between two reranker batches of one chunk keeps the batch already scored; the
    resumed run scores only the rest and ends with the scores of an uninterrupted run (in
    float32 to float rounding; the int8 model quantises activations per batch, and a resumed
    run cuts its batches from other chunks, so there to quantisation noise)."""
    from quoradesk.core import models

    _, result, _, _, _ = request.getfixturevalue(data)
    params = MiningParams(top_k=10, chunk_size=128, rerank_batch=8, rerank_int8=int8)
    ref_store = Store(tmp_path / "ref.sqlite")
    ref_store.add_import(result)
    ref_job, _ = mine_all(ref_store, splade_path, params, reranker=models.SHIPPED_CROSS)
    store = Store(tmp_path / "p.sqlite")
    store.add_import(result)
    job = MiningJob(store, sparse_model=splade_path, reranker=models.SHIPPED_CROSS, params=params, device="cpu")
    ce = job.reranker()
    predict = ce.predict

    def predict_then_cancel(*args, **kwargs):  # the real model; the user presses Cancel after one batch
        out = predict(*args, **kwargs)
        job.cancel()
        return out

    ce.predict = predict_then_cancel
    list(job.run())
    run = store.get_run(job.run_record.id)
    assert run.status == "cancelled" and run.stage == "rerank"
    assert store.count_pairs(run.id, reranked=True) == 8  # the scored batch was kept
    assert store.integrity_ok()

    ce.predict = predict
    job2 = MiningJob(store, sparse_model=splade_path, reranker=models.SHIPPED_CROSS, params=params, device="cpu")
    job2._reranker = ce  # the same loaded model: no second load
    events = [e for e in job2.run() if e.stage == "rerank"]
    assert job2.resumed and events[0].done == 8
    got = {(p.a, p.b): p.rerank_score for p in store.iter_pairs(run.id) if p.rerank_score is not None}
    want = {(p.a, p.b): p.rerank_score for p in ref_store.iter_pairs(ref_job.run_record.id)
            if p.rerank_score is not None}
    assert got.keys() == want.keys()
    diff = np.array([abs(got[k] - want[k]) for k in want])
    print(f"resumed against uninterrupted: max |diff| {diff.max():.2g}, mean {diff.mean():.2g}")
    if int8:  # measured with batches of 8: mean 0.011, max 0.2 (bench: AP is unchanged)
        assert diff.mean() < 0.03 and diff.max() < 0.35
    else:
        assert diff.max() < 1e-4


def test_encode_chunks_group_questions_of_like_length_the_same_way_each_time():
    """Chunks are cut from the questions longest first (so batches pad little), every question
    in exactly one, and the same chunks again for the same questions (a resumed run's)."""
    texts = ["Why?", "How do I learn Python quickly?", "What is love?", "Is it safe to eat raw eggs every day?",
             "How?", "Why is the sky blue?", "What is the best way to learn Python for data science?"]
    ids = np.array([3, 9, 4, 12, 5, 7, 8])
    chunks = encode_chunks(ids, texts, 3)
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert sorted(np.concatenate(chunks).tolist()) == sorted(ids.tolist())
    length = dict(zip(ids.tolist(), map(len, texts), strict=True))
    ordered = [length[int(q)] for q in np.concatenate(chunks)]
    assert ordered == sorted(ordered, reverse=True)
    assert chunks[1][-1] == 3 and chunks[2].tolist() == [5]  # "Why?" (3) and "How?" (5) tie: lower id first
    assert all((a == b).all() for a, b in zip(chunks, encode_chunks(ids, texts, 3), strict=True))
