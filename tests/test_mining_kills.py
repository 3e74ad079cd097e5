"""A hundred kills of a mining run at points the run itself reaches (questions encoded, rows
searched, pairs reranked, a write before its commit), each followed by a check of the file, and
a final resume that must give exactly the pairs and scores of an uninterrupted run.

Marked ``crash``: not part of ``make test``; ``make test-crash`` (and CI, after ``make test``)
runs them. Nothing here waits on the clock: each kill lands where its point says, on any box.
Run with ``-s`` to see where each kill landed."""

from __future__ import annotations

import random
import shutil
import signal

import pytest
from kill_points import STAGES, kill_context, plan_kills, run_child
from killed_runs import progress
from owned_data import write_pairs

from quoradesk.core.questions import load_questions
from quoradesk.core.store import Store

pytestmark = pytest.mark.crash

N_PAIRS = 300  # 300 of the project's pairs: about 600 questions
SEEDS = range(10)  # 10 sequences of 10 kills: 100 kills
PER_STAGE = {"encode": 4, "search": 2, "rerank": 4}
KILLED = -signal.SIGKILL


def pair_rows(store: Store, run_id: int) -> list[tuple]:
    return store.db.execute(
        "select a, b, rank, sparse_score, rerank_score, score from pairs where run_id = ? order by a, b",
        [run_id],
    ).fetchall()


@pytest.fixture(scope="module")
def ctx():
    return kill_context()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kills")
    db = folder / "template.sqlite"
    with Store(db) as s:
        s.add_import(load_questions(write_pairs(folder / "slice.tsv", N_PAIRS)))
    return db


@pytest.fixture(scope="module")
def reference(ctx, template, tmp_path_factory):
    """An uninterrupted run in a child like the killed ones: its pairs and each stage's total."""
    db = tmp_path_factory.mktemp("reference") / "ref.sqlite"
    shutil.copy(template, db)
    assert run_child(ctx, db, None) == 0
    with Store(db, create=False) as s:
        (run,) = s.runs()
        assert run.status == "done" and run.reranked
        totals = {"encode": s.question_count(), "search": s.question_count(),
                  "rerank": s.count_pairs(run.id, reranked=True)}
        assert totals["rerank"] > 64 * 3  # several rerank chunks for the kills to split
        return pair_rows(s, run.id), totals


@pytest.mark.parametrize("seed", SEEDS)
def test_kills_at_progress_points_resume_to_the_same_pairs(ctx, template, reference, tmp_path, seed):
    rows, totals = reference
    db = tmp_path / "killed.sqlite"
    shutil.copy(template, db)
    points = plan_kills(random.Random(seed), totals, PER_STAGE)
    landed = []
    for point in points:
        assert run_child(ctx, db, point) == KILLED, f"the run ended before {point}"
        with Store(db, create=False) as s:
            assert s.integrity_ok(), f"integrity check failed after the kill at {point}"
            (run,) = s.runs()  # always resumed, never restarted
            assert run.status == "running" and run.stage in STAGES  # killed, not finished
        stage, encoded, reranked = progress(db)
        landed.append(f"{point} -> {stage} {encoded}/{totals['encode']} encoded, {reranked} reranked")
    assert run_child(ctx, db, None) == 0
    with Store(db, create=False) as s:
        assert s.integrity_ok()
        (run,) = s.runs()
        assert run.status == "done"
        got = pair_rows(s, run.id)
        assert len(got) == len({(a, b) for a, b, *_ in got})  # none doubled
        assert got == rows  # none lost, the same scores
    print(f"\nseed {seed}: " + "; ".join(landed))
