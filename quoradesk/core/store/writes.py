"""How the project store writes: one immediate transaction a write, and a ProjectError that
says what happened when SQLite refuses (disk full, read-only, busy)."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path


class ProjectError(Exception):
    """The project file cannot be used; the message says why, for the user."""


def _write_failure(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc).lower()
    if "full" in text:
        why = "the disk is full"
    elif "disk i/o" in text:  # how SQLite reports a refused write (EFBIG, EIO)
        why = "the disk refused the write (disk I/O error: out of space, file too large or a failing device)"
    elif "readonly" in text or "read-only" in text:
        why = "the file or its folder is read-only"
    elif "locked" in text or "busy" in text:
        why = "another QuoraDesk kept the project busy for more than 10 seconds"
    else:
        why = str(exc)
    return (f"Could not save to {path}: {why}. Everything saved before this step is intact; "
            f"fix that and try again.")


def _writes(method):
    """Run a Store method as one immediate write transaction (see Store._transaction) and turn
    SQLite's write failures (disk full, read-only, busy) into a ProjectError that says what
    happened; the transaction is rolled back, so the file keeps its last good state."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            with self._transaction():
                return method(self, *args, **kwargs)
        except sqlite3.OperationalError as exc:
            raise ProjectError(_write_failure(self.path, exc)) from exc

    return wrapper
