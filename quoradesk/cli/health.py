"""The commands that look after a project file: check and repair.

    quoradesk check --db project.sqlite            # exit 0 healthy, 4 damaged (says what is wrong)
    quoradesk check --db project.sqlite --full     # SQLite's full integrity check (slower)
    quoradesk repair --db project.sqlite --out recovered.sqlite   # never writes project.sqlite
"""

from __future__ import annotations

from .common import EXIT_OK, EXIT_PROJECT


def cmd_check(args) -> int:
    from ..core.store import check_project

    report = check_project(args.db, full=args.full)
    print("\n".join(report.lines()))
    if not report.healthy:
        print(f"To recover what is readable into a new project: quoradesk repair --db {args.db} --out NEW.sqlite")
    return EXIT_OK if report.healthy else EXIT_PROJECT


def cmd_repair(args) -> int:
    from ..core.store import check_project, repair_project

    result = repair_project(args.db, args.out)
    print("\n".join(result.lines()))
    return EXIT_OK if check_project(args.out).healthy else EXIT_PROJECT


def add_parsers(sub) -> None:
    sp = sub.add_parser("check", help="check a project file (exit 0 healthy, 4 damaged)")
    sp.add_argument("--db", required=True)
    sp.add_argument("--full", action="store_true", help="SQLite's full integrity check instead of the quick one")
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("repair", help="recover what is readable of a damaged project into a new one")
    sp.add_argument("--db", required=True, help="the damaged project (only read)")
    sp.add_argument("--out", required=True, help="the new project file to write")
    sp.set_defaults(func=cmd_repair)
