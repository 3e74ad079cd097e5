"""The Review screen's logic without a window: pages, threshold, labels and undo."""

from __future__ import annotations

import pytest
from owned_data import write_pairs

from quoradesk.core.mining import MiningJob, MiningParams
from quoradesk.core.questions import load_questions
from quoradesk.core.review import ReviewSession
from quoradesk.core.store import Store


@pytest.fixture(scope="module")
def project(tmp_path_factory, splade_path):
    tmp = tmp_path_factory.mktemp("review")
    src = write_pairs(tmp / "slice.tsv", 80)
    path = tmp / "p.sqlite"
    store = Store(path)
    store.add_import(load_questions(src))
    list(MiningJob(store, sparse_model=splade_path, params=MiningParams(top_k=5), device="cpu").run())
    store.close()
    return path


def test_pages_follow_the_ranking_and_threshold(project):
    store = Store(project)
    review = ReviewSession(store, threshold=0.0)
    everything = review.count()
    first, second = review.page(0, 10), review.page(10, 10)
    assert [r.position for r in first + second] == list(range(1, 21))
    scores = [r.pair.score for r in first + second]
    assert scores == sorted(scores, reverse=True)
    review.threshold = 0.6
    assert 0 < review.count() < everything
    assert all(r.pair.score >= 0.6 for r in review.page(0, 1000))
    counts, edges = review.histogram(bins=20)
    assert counts.sum() == everything and len(edges) == 21
    assert first[0].cells[0] == f"{first[0].pair.score:.3f}"


def test_paging_after_a_row_equals_offset_paging(project):
    review = ReviewSession(Store(project), threshold=0.0)
    by_offset = review.page(0, 60)
    by_cursor = review.page(0, 20)
    while len(by_cursor) < 60:
        by_cursor += review.page(len(by_cursor), 20, after=by_cursor[-1])
    assert [(r.pair.a, r.pair.b) for r in by_cursor] == [(r.pair.a, r.pair.b) for r in by_offset]
    assert [r.position for r in by_cursor] == list(range(1, 61))


def test_labels_and_undo_survive_a_restart(project):
    store = Store(project)
    review = ReviewSession(store)
    rows = review.page(0, 3)
    review.label(rows[0], "accepted")
    review.label(rows[1], "rejected")
    review.label(rows[1], "unsure")
    store.close()

    store = Store(project)  # a restart
    review = ReviewSession(store)
    rows = review.page(0, 3)
    assert [r.pair.label for r in rows[:2]] == ["accepted", "unsure"]
    assert review.undo() == (rows[1].pair.a, rows[1].pair.b)
    assert store.label(rows[1].pair.a, rows[1].pair.b) == "rejected"
    review.undo()
    review.undo()
    assert store.labels() == {}
    assert review.undo() is None


def test_no_finished_run_is_a_clear_error(tmp_path):
    with pytest.raises(LookupError, match="mine the questions first"):
        ReviewSession(Store(tmp_path / "empty.sqlite"))


def test_sort_and_search(project):
    store = Store(project)
    review = ReviewSession(store, threshold=0.0)
    review.sort_by_column(2, descending=False)  # question A
    texts = [r.pair.text_a.lower() for r in review.page(0, 50)]
    assert texts == sorted(texts)
    review.sort_by_column(0, descending=False)
    scores = [r.pair.score for r in review.page(0, 50)]
    assert scores == sorted(scores)
    word = review.page(0, 1)[0].pair.text_a.split()[1]
    review.search = word
    rows = review.page(0, 1000)
    assert rows and len(rows) == review.count() < review.count(above_threshold=False)
    assert all(word.lower() in (r.pair.text_a + r.pair.text_b).lower() for r in rows)
    review.search = "100%_no_such\\\\text"
    assert review.count() == 0 and review.page(0, 10) == []


def test_first_view_is_what_the_tab_would_read_itself_and_moves_to_another_connection(project, encoder):
    """What the Review tab paints first, read on a worker's connection, then used on the UI's."""
    import threading

    out = {}

    def read():  # on another thread, with a connection of its own (SQLite's rule)
        with Store(project) as worker_store:
            session = ReviewSession(worker_store, threshold=0.5, encoder=encoder)
            out["first"] = session.first_view(page=25)

    t = threading.Thread(target=read)
    t.start()
    t.join()
    first = out["first"]
    with Store(project) as store:
        direct = ReviewSession(store, threshold=0.5)
        assert first.total == direct.count() and first.all_pairs == direct.count(above_threshold=False)
        assert [(r.pair.a, r.pair.b, r.position) for r in first.rows] == \
               [(r.pair.a, r.pair.b, r.position) for r in direct.page(0, 25)]
        counts, edges = direct.histogram()
        assert (first.counts == counts).all() and (first.edges == edges).all()
        here = first.session.on_store(store)  # the UI's session: same run, model and scores
        assert here.store is store and here.encoder_loaded and here.run.id == direct.run.id
        assert here.explain(first.rows[0]) is first.explanation  # read once, on the worker
        assert first.explanation.content and here.page(25, 5)[0].position == 26


def test_a_run_whose_model_is_gone_says_so(tmp_path):
    """A project from an earlier version (its run used a shipped model since replaced): the
    pairs still show; explaining them says which model is missing and what to do."""
    from pathlib import Path

    from quoradesk.core.models import ModelError

    old = tmp_path / "old.sqlite"
    old.write_bytes((Path(__file__).parent / "fixtures" / "project-schema1.sqlite").read_bytes())
    with Store(old, create=False) as store:
        session = ReviewSession(store)
        assert session.page(0, 5)
        with pytest.raises(ModelError, match=r"run #1 used \(shipped:splade-quora\) is not on this machine"):
            session.encoder()
