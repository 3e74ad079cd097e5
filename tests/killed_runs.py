"""Killing a mining CLI in a child process mid-run, for the tests that resume it.

Usage::

    from killed_runs import kill_cli_when_encoded, progress

    code = kill_cli_when_encoded(["mine", src, "--db", db], at_least=128)   # -9
    stage, encoded, reranked = progress(db)

The child is the real CLI; it SIGKILLs itself at the first encoding progress event that counts
``at_least`` questions (just after a chunk's commit, or inside the next one), an event the run
reports whatever the box's speed: no polling against the clock, which a faster encoder
outran (the run was over before the poll saw 128 questions).
"""

from __future__ import annotations

import subprocess
import sys
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


# The CLI with one change in its process: a SIGKILL to itself at an encoding progress event.
_KILLED_CLI = """
import os, signal, sys
from quoradesk.core.mining import job
at_least = int(sys.argv[1])
progress = job.MiningJob._progress
def killing(self, stage, done, *rest, **kwargs):
    if stage == "encode" and done >= at_least:
        os.kill(os.getpid(), signal.SIGKILL)
    return progress(self, stage, done, *rest, **kwargs)
job.MiningJob._progress = killing
from quoradesk.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def kill_cli_when_encoded(args: list[str], at_least: int, *, timeout: float = 600, env: dict | None = None) -> int:
    """Run ``quoradesk ARGS`` in a child that kills itself once ``at_least`` questions are
    encoded (see the module's docstring); its exit code (-9 when the kill came)."""
    done = subprocess.run([sys.executable, "-c", _KILLED_CLI, str(at_least), *map(str, args)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
    return done.returncode
