"""How good a threshold is, from a few labels (the Review tab's Check this threshold).

    quoradesk estimate --db project.sqlite                     # the latest check's estimate
    quoradesk estimate --db project.sqlite --threshold 0.8     # check 0.8: draws its sample if new
    quoradesk estimate --db project.sqlite --suggest 0.95      # the threshold for 95% precision

A check is a random sample of the run's pairs above and below the threshold (stored in the
project); label its pairs in the app (or any way that sets labels) and run this again.
"""

from __future__ import annotations

from .common import EXIT_OK, positive_int


def cmd_estimate(args) -> int:
    from ..core.review import ThresholdCheck, run_suggestion
    from ..core.store import Store
    from .project import _pick_run

    with Store(args.db, create=False) as store:
        run = _pick_run(store, args.run)
        if args.suggest is not None:
            t, said = run_suggestion(store, run, args.suggest)
            print(("Suggested: " if t is not None else "No suggestion: ") + said)
            if args.threshold is None:
                args.threshold = t
        check = ThresholdCheck.load(store, run.id)
        if args.threshold is not None and (check is None or abs(check.threshold - args.threshold) > 1e-9):
            check = ThresholdCheck.draw(store, run, args.threshold, size=args.size)
            print(f"Drew a check of threshold {check.threshold:.3f}: {len(check.pairs)} pairs to label "
                  f"({len(check.above)} of the {check.pairs_above:,} above it, {len(check.below)} of the "
                  f"{check.pairs_below:,} below)")
            for a, b in check.pairs[: args.show]:
                ta, tb = store.texts([a, b])
                print(f"  #{a} / #{b}: {ta}  <->  {tb}")
        if check is None:
            print(f"No threshold check yet for run {run.id}: quoradesk estimate --db {args.db} --threshold X "
                  "draws one (or the Review tab's Check this threshold)")
            return EXIT_OK
        print(f"Threshold {check.threshold:.3f} (run {run.id}): " + check.estimate(store).text())
    return EXIT_OK


def add_parsers(sub) -> None:
    sp = sub.add_parser("estimate", help="a threshold's precision and the duplicates left below it, from labels")
    sp.add_argument("--db", required=True)
    sp.add_argument("--run", type=int, help="a run id (default: the latest finished run)")
    sp.add_argument("--threshold", type=float, help="the threshold to check (a new one draws its sample)")
    sp.add_argument("--suggest", type=float, metavar="PRECISION",
                    help="also suggest the threshold for this precision (0.95 for 95%%) and check it")
    sp.add_argument("--size", type=positive_int, default=40, help="pairs in a new check's sample")
    sp.add_argument("--show", type=int, default=60, help="sample pairs to print when a check is drawn")
    sp.set_defaults(func=cmd_estimate)
