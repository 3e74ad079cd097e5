"""Teach the project your own idea of "the same question".

    quoradesk suggest --db project.sqlite --n 20          # the pairs worth labelling next
    quoradesk suggest --db project.sqlite --n 20 --json   # one JSON object a line (a, b, text_a, text_b, ...)
    quoradesk label --db project.sqlite 12 57 accepted    # accepted | rejected | unsure | clear
    quoradesk improve --db project.sqlite                 # fine-tune on the labels, check, re-rank

``label`` writes through the same store path as the app's keys: the undo history and the label
journal get it too. ``improve`` keeps its model only when labels it did not see say it is
better; otherwise, or when cancelled (Ctrl-C), the project is left as it was.
"""

from __future__ import annotations

import json
import signal
import sys

from .common import EXIT_INTERRUPTED, EXIT_OK, positive_int


def cmd_suggest(args) -> int:
    from ..core.adapt import suggest_pairs
    from ..core.review import percent
    from ..core.store import Store
    from .project import _pick_run

    with Store(args.db, create=False) as store:
        run = _pick_run(store, args.run)
        found = suggest_pairs(store, args.n, run=run, seed=args.seed)
        if args.json:
            for s in found:
                print(json.dumps(s.as_json(), ensure_ascii=False))
            return EXIT_OK
        if not found:
            print(f"Nothing to suggest: every pair of run {run.id} the list ranks is labelled")
            return EXIT_OK
        print(f"Label these {len(found)} pairs of run {run.id} (quoradesk label --db {args.db} A B accepted|rejected):")
        for s in found:
            print(f"  #{s.a} / #{s.b}  {percent(s.probability):>4} duplicate  ({s.why})")
            print(f"      {s.text_a}\n      {s.text_b}")
    return EXIT_OK


def cmd_label(args) -> int:
    from ..core.store import Store

    label = None if args.label == "clear" else args.label
    with Store(args.db, create=False) as store:
        if args.a == args.b:
            raise ValueError("a pair needs two different questions")
        for q in (args.a, args.b):
            if not store.db.execute("select 1 from questions where id = ?", [q]).fetchone():
                raise LookupError(f"no question #{q} in {args.db} (quoradesk pairs or suggest shows the ids)")
        old = store.label(args.a, args.b)
        store.set_label(args.a, args.b, label)
        print(f"#{min(args.a, args.b)} / #{max(args.a, args.b)}: {old or 'unlabelled'} -> {label or 'unlabelled'}")
    return EXIT_OK


def cmd_improve(args) -> int:
    from tqdm import tqdm

    from ..core.adapt import ImproveConfig, ImproveJob
    from ..core.store import Store
    from .project import _pick_run

    with Store(args.db, create=False) as store:
        run = _pick_run(store, args.run)
        job = ImproveJob(store, run=run, config=ImproveConfig(epochs=args.epochs), device=args.device)
        print(f"Improving the CrossEncoder of run {run.id} on {len(job.labels)} labelled pairs "
              f"({int(job.labels.sum())} accepted); from {job.base}")
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, lambda *_: (job.cancel(), signal.signal(signal.SIGINT, previous)))
        bar = None
        try:
            for ev in job.run():
                if ev.stage in ("done", "cancelled"):
                    break
                if bar is None or bar.desc.strip() != ev.stage:
                    if bar is not None:
                        bar.close()
                    bar = tqdm(total=ev.total, desc=ev.stage.ljust(7), disable=args.quiet, file=sys.stderr,
                               dynamic_ncols=True, mininterval=0.1 if sys.stderr.isatty() else 10)
                bar.total = ev.total
                bar.update(ev.done - bar.n)
                if ev.message:
                    bar.set_postfix_str(ev.message, refresh=False)
        finally:
            if bar is not None:
                bar.close()
            signal.signal(signal.SIGINT, previous)
        result = job.result
        print(result.message)
        if result.accepted:
            print(f"New run {result.run_id}; model in {result.model_dir}")
        return EXIT_INTERRUPTED if job.cancelled and not result.accepted else EXIT_OK


def add_parsers(sub) -> None:
    sp = sub.add_parser("suggest", help="the pairs worth labelling next (near the boundary, spread over topics)")
    sp.add_argument("--db", required=True)
    sp.add_argument("--run", type=int, help="a run id (default: the latest finished run)")
    sp.add_argument("--n", type=positive_int, default=20, help="how many pairs")
    sp.add_argument("--seed", type=int, default=0, help="another seed draws another set")
    sp.add_argument("--json", action="store_true", help="JSON Lines: a, b, text_a, text_b, probability, score, why")
    sp.set_defaults(func=cmd_suggest)

    sp = sub.add_parser("label", help="label a pair of questions (by id), as the app's A/R/U keys do")
    sp.add_argument("--db", required=True)
    sp.add_argument("a", type=int, help="a question id")
    sp.add_argument("b", type=int, help="the other question id")
    sp.add_argument("label", choices=["accepted", "rejected", "unsure", "clear"])
    sp.set_defaults(func=cmd_label)

    sp = sub.add_parser("improve", help="fine-tune the CrossEncoder on your labels, check it, re-rank the latest run")
    sp.add_argument("--db", required=True)
    sp.add_argument("--run", type=int, help="the run to improve (default: the latest finished run)")
    sp.add_argument("--epochs", type=float, default=2.0)
    sp.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_improve)
