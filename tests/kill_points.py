"""Killing a mining run at points read from the run itself, not from the clock.

A child process (forked from a multiprocessing forkserver that has already imported torch and
sentence-transformers, so a child starts in a fraction of a second) mines the project the real
way, with the real models, and SIGKILLs itself when the run reaches its :class:`KillPoint`:

- ``where="event"``: at the first progress event of ``stage`` whose ``done`` is at least
  ``at`` (questions encoded, rows searched, pairs reranked; mid-chunk in the encoder, inside
  the search, right after a rerank chunk's commit);
- ``where="commit"``: from that event on, at the next ``COMMIT`` the project's connection
  runs, after the write's statements and before the commit itself (SQLite's statement trace
  fires as a statement starts).

SIGKILL to itself is the same as a kill from outside at that instant: no Python cleanup runs.
Only the moment is chosen by the run, so every box kills at the same places.

Usage::

    ctx = kill_context()
    code = run_child(ctx, db, KillPoint("rerank", 40, "commit"))   # -9: killed there
    code = run_child(ctx, db, None)                                 # 0: ran to the end
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
from dataclasses import dataclass
from pathlib import Path

from quoradesk.core import models
from quoradesk.core.mining import MiningJob, MiningParams
from quoradesk.core.store import Store

STAGES = ("encode", "search", "rerank")
# Chunks of 64 encoded in batches of 16: four progress events inside every encode chunk, so
# event kills land mid-chunk as well as after a commit. float32: the same vectors on every box.
PARAMS = MiningParams(chunk_size=64, batch_size=16, encode_bf16=False)


@dataclass(frozen=True)
class KillPoint:
    stage: str  # encode | search | rerank
    at: int  # the stage's progress count (its events' `done`) that arms the kill
    where: str  # "event": kill at that event; "commit": kill before the next COMMIT

    def __str__(self) -> str:
        return f"{self.stage}>={self.at}@{self.where}"


def mining_job(store: Store) -> MiningJob:
    return MiningJob(store, sparse_model=models.SHIPPED_SPARSE, reranker=models.SHIPPED_CROSS,
                     params=PARAMS, device="cpu")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def mine_until(db: str, point: KillPoint | None) -> None:
    """The child: resume (or start) mining ``db`` and die at ``point`` (None: run to the end).
    A point whose stage the run has already passed kills at the first event of a later stage."""
    store = Store(db, create=False)
    armed = False

    def on_statement(sql: str) -> None:
        if armed and sql.lstrip().upper().startswith("COMMIT"):
            _die()

    store.db.conn.set_trace_callback(on_statement)
    for event in mining_job(store).run():
        if point is None or event.stage not in STAGES:
            continue
        later = STAGES.index(event.stage) > STAGES.index(point.stage)
        if later or (event.stage == point.stage and event.done >= point.at):
            if point.where == "event":
                _die()
            armed = True
    store.close()


# What the forkserver imports once. Modules of the installed package only: Python 3.11's
# forkserver imports its preload before it applies the parent's sys.path (and skips a module it
# cannot find), so this tests-folder module is imported by each child, cheaply, after these.
PRELOAD = ["torch", "sentence_transformers", "quoradesk.core.mining", "quoradesk.core.models.encode",
           "quoradesk.core.models.rerank", "quoradesk.core.store"]


def kill_context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def run_child(ctx, db: Path, point: KillPoint | None, timeout: float = 600) -> int:
    """Run :func:`mine_until` in a forked child; its exit code (-9 when it killed itself)."""
    proc = ctx.Process(target=mine_until, args=(str(db), point))
    proc.start()
    proc.join(timeout)
    if proc.exitcode is None:
        proc.kill()
        proc.join()
        raise AssertionError(f"the child mining to {point} did not end in {timeout} s")
    return proc.exitcode


def plan_kills(rng: random.Random, totals: dict[str, int], per_stage: dict[str, int]) -> list[KillPoint]:
    """Kill points in the run's order: ``per_stage[s]`` of them in stage ``s``, at counts drawn
    below the stage's total (so the run is still unfinished when each lands), event or commit."""
    points = []
    for stage in STAGES:
        ats = sorted(rng.randrange(0, totals[stage]) for _ in range(per_stage[stage]))
        points += [KillPoint(stage, at, rng.choice(("event", "commit"))) for at in ats]
    return points
