"""The headless QuoraDesk: the same core jobs as the app, from a terminal.

    quoradesk mine questions.csv --db project.sqlite     # import + encode + search (+ rerank)
    quoradesk pairs --db project.sqlite --limit 20        # best pairs, with the matching tokens
    quoradesk export --db project.sqlite --out pairs.csv  # pairs | groups | unique
    quoradesk import questions.csv --db project.sqlite    # import only, with the rejected rows
    quoradesk runs --db project.sqlite                    # every run, its status and timings
    quoradesk estimate --db project.sqlite --threshold 0.8   # its precision, from a labelled sample
    quoradesk demo                                        # the bundled sample, end to end
    quoradesk suggest --db project.sqlite --n 20          # the pairs worth labelling next
    quoradesk label --db project.sqlite 12 57 accepted    # label a pair by its question ids
    quoradesk improve --db project.sqlite                 # learn from your labels, re-rank the latest run

    quoradesk train sparse --data pairs.tsv --out my-splade   # fine-tune (also: cross)
    quoradesk evaluate my-splade --data pairs.tsv           # AP, F1, ... and mining recall/AP

    quoradesk mine questions.csv --db P --ray local --milvus vectors.db   # on Ray, search in Milvus

Exit codes: 0 done; 1 unexpected error; 2 bad input file or arguments; 3 model problem;
4 project file problem; 5 Ray or Milvus missing, unreachable or refusing (nothing written);
130 interrupted (Ctrl-C): the run is saved and ``mine`` resumes it.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

from . import adapt, ask, estimate, health, project, train
from .common import (
    EXIT_CLUSTER,
    EXIT_ERROR,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_MODEL,
    EXIT_PROJECT,
    err,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="quoradesk", description="Find duplicate questions, offline.")
    p.add_argument("--self-test", action="store_true",
                   help="check this installation: mine the bundled sample headless and report (use alone)")
    sub = p.add_subparsers(dest="command", required=True)
    project.add_parsers(sub)
    train.add_parsers(sub)
    ask.add_parsers(sub)
    health.add_parsers(sub)
    estimate.add_parsers(sub)
    adapt.add_parsers(sub)

    sp = sub.add_parser("gui", help="open the desktop app (the default with no command)")
    sp.add_argument("project", nargs="?", help="a project file to open")
    sp.add_argument("--sample", action="store_true", help="open the bundled sample and mine it")
    sp.add_argument("--quit-when-done", action="store_true",
                    help="exit once mining finishes (0) or fails (1): a smoke test of the app")
    sp.add_argument("--startup-probe", action="store_true", help=argparse.SUPPRESS)
    sp.set_defaults(func=cmd_gui)

    return p


def cmd_gui(args) -> int:
    from ..gui.app import run

    return run(project=args.project, sample=args.sample, quit_when_done=args.quit_when_done,
               startup_probe=args.startup_probe)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # double-click / plain `quoradesk`: the desktop app
        argv = ["gui"]
    if argv == ["--self-test"]:  # a flag, not a command: `quoradesk --self-test` checks an install
        from ..selftest import self_test

        return self_test()
    args = build_parser().parse_args(argv)
    from ..core.cluster import ClusterError
    from ..core.models import ModelError
    from ..core.questions import ImportError_
    from ..core.store import ProjectError
    from ..core.training import TrainingError

    try:
        return args.func(args)
    except (ImportError_, TrainingError) as exc:
        err(str(exc))
        return EXIT_INPUT
    except ModelError as exc:
        err(str(exc))
        return EXIT_MODEL
    except ProjectError as exc:
        err(str(exc))
        return EXIT_PROJECT
    except ClusterError as exc:
        err(str(exc))
        return EXIT_CLUSTER
    except (LookupError, ValueError) as exc:
        err(str(exc))
        return EXIT_INPUT
    except sqlite3.DatabaseError as exc:  # a write the Store did not translate: still no traceback
        err(f"the project file could not be used: {exc}")
        return EXIT_PROJECT
    except KeyboardInterrupt:
        err("interrupted; finished work is saved")
        return EXIT_INTERRUPTED
    except OSError as exc:
        err(f"{exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "))
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
