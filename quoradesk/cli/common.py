"""What every command shares: exit codes, error printing, argument types.

Usage::

    from .common import EXIT_OK, EXIT_INPUT, err, positive_int

Exit codes: 0 done; 1 unexpected error; 2 bad input file or arguments; 3 model problem;
4 project file problem; 5 Ray or Milvus missing, unreachable or refusing (nothing written);
130 interrupted (Ctrl-C): the run is saved and ``mine`` resumes it.
"""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_ERROR, EXIT_INPUT, EXIT_MODEL, EXIT_PROJECT, EXIT_CLUSTER, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 5, 130


def err(msg: str) -> None:
    """One line on stderr, prefixed with the program's name: never a traceback."""
    print(f"quoradesk: {msg}", file=sys.stderr)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
