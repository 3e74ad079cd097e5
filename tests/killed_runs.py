"""Watching a mining CLI in a child process, for the tests that kill it mid-run.

Usage::

    from killed_runs import kill_when_encoded, progress

    kill_when_encoded(cmd, db, at_least=128)    # SIGKILL once 128 questions are encoded
    stage, encoded, reranked = progress(db)
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from quoradesk.core.store import Store


def progress(db: Path) -> tuple[str, int, int]:
    """(stage, questions encoded, pairs reranked) as the file says now."""
    try:
        with Store(db, create=False) as s:
            run = s.latest_run()
            if run is None:
                return "none", 0, 0
            enc = s.db.execute("select count(*) from encodings").fetchone()[0]
            return run.stage, enc, s.count_pairs(run.id, reranked=True)
    except Exception:  # noqa: BLE001 - being created: not yet readable
        return "none", 0, 0


def kill_when_encoded(cmd: list[str], db: Path, at_least: int, *, timeout: float = 120, poll: float = 0.2,
                      env: dict | None = None) -> None:
    """Start ``cmd``, SIGKILL it once the project holds ``at_least`` encodings, and wait for
    it; fails if the run ended before it could be killed."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        time.sleep(poll)
        if db.exists() and progress(db)[1] >= at_least:
            break
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
