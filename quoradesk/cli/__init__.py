"""The command line: the same core jobs as the app, headless (``quoradesk --help``).

Modules: ``main`` (the parser and the one place errors become exit codes), ``common`` (exit
codes, error printing, argument types: what every command imports), and one module a command
group: ``project`` (import, mine, pairs, export, runs, demo), ``train`` (train, evaluate),
``ask`` (ask, serve), ``health`` (check, repair), ``estimate``, ``adapt`` (suggest, label, improve).
"""

from .common import (
           EXIT_CLUSTER,
           EXIT_ERROR,
           EXIT_INPUT,
           EXIT_INTERRUPTED,
           EXIT_MODEL,
           EXIT_OK,
           EXIT_PROJECT,
)
from .main import build_parser, main

__all__ = ["EXIT_CLUSTER", "EXIT_ERROR", "EXIT_INPUT", "EXIT_INTERRUPTED", "EXIT_MODEL", "EXIT_OK",
           "EXIT_PROJECT", "build_parser", "main"]
