"""``quoradesk ask`` and ``quoradesk serve``: "has this been asked before?" for new questions.

    quoradesk ask "How do I learn Python fast?" --db project.sqlite [--top 10] [--add] [--json]
    some-script | quoradesk ask --db project.sqlite --json     # one question a line, JSON Lines
    quoradesk serve --db project.sqlite [--port 8765]          # POST /ask, GET /health (server.py)
"""

from __future__ import annotations

import json
import os
import sys

from .common import EXIT_INPUT, EXIT_OK, err, positive_int


def _service_options(args) -> dict:
    reranker = None if args.no_rerank else (args.reranker or True)
    return {"sparse_model": args.model, "reranker": reranker, "device": args.device,
            "int8": not args.no_rerank_int8}


def _print_result(result) -> None:
    from ..core.review import percent

    print(f"Q: {result.question}")
    if not result.matches:
        print("   nothing in the project shares a token with it")
    for i, m in enumerate(result.matches, start=1):
        context = f"cosine {m.sparse_score:.3f}, {m.first_score:.3f} in context"
        scores = f"{m.score:.3f}" + (f"  (rerank {m.rerank_score:.3f}, {context})" if m.rerank_score is not None
                                     else f"  ({context})")
        chance = "" if m.probability is None else f"  {percent(m.probability)} duplicate"
        print(f"{i:>3}. {scores}{chance}  {m.text}  [{m.label_summary()}]")
        print(f"       matched on: {m.why.text()}")
    if result.added_id is not None:
        print(f"   added to the project as question #{result.added_id}")


def cmd_ask(args) -> int:
    from ..core.ask import AskError, AskService
    from ..core.store import Store

    with Store(args.db, create=False) as store:
        service = AskService(store, **_service_options(args))
        opened = service.open_seconds
        print(f"{len(service.ids):,} questions ready in {sum(opened.values()):.1f}s (models "
              f"{opened['models']:.1f}s, index {opened['index']:.2f}s{' as kept' if service.index_kept else ''}"
              + (f", {service.encoded_in_memory} encoded now" if service.encoded_in_memory else "")
              + ")", file=sys.stderr)
        single = args.question is not None
        questions = [args.question] if single else (line.rstrip("\n") for line in sys.stdin)
        failed = 0
        for text in questions:
            if not single and not text.strip():
                continue  # blank lines between questions
            try:
                result = service.ask(text, top=args.top)
                if args.add:
                    result.added_id = service.add(text)
            except AskError as exc:
                if single:
                    raise
                failed += 1
                if args.json:
                    print(json.dumps({"question": text[:200], "error": str(exc)}), flush=True)
                else:
                    err(f"{exc}: {text[:80]!r}")
                continue
            if args.json:
                print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
            else:
                _print_result(result)
    return EXIT_INPUT if failed else EXIT_OK


def cmd_serve(args) -> int:
    from ..server import serve

    serve(args.db, args.host, args.port, token=args.token or os.environ.get("QUORADESK_TOKEN"),
          service_options=_service_options(args))
    return EXIT_OK


def add_parsers(sub) -> None:
    def model_opts(sp) -> None:
        sp.add_argument("--db", required=True, help="the project file (.sqlite)")
        sp.add_argument("--model", help="SPLADE folder or shipped name (distilled, accurate, fast); default: the latest "
                        "run's, else the default one")
        sp.add_argument("--reranker", help="CrossEncoder folder (default: the shipped one)")
        sp.add_argument("--no-rerank", action="store_true", help="rank by the SPLADE cosine in context alone")
        sp.add_argument("--no-rerank-int8", action="store_true",
                        help="rerank with the float32 model on a CPU instead of the int8 one")
        sp.add_argument("--device", default="cpu", help="cpu (default: one question at a time), cuda, auto")

    sp = sub.add_parser("ask", help="find the project's questions that mean the same as a new one")
    sp.add_argument("question", nargs="?", help="the new question (default: one a line from stdin)")
    model_opts(sp)
    sp.add_argument("--top", type=positive_int, default=10, help="matches to show (at most 100)")
    sp.add_argument("--add", action="store_true", help="also add the question to the project")
    sp.add_argument("--json", action="store_true", help="JSON (one object a line for stdin)")
    sp.set_defaults(func=cmd_ask)

    sp = sub.add_parser("serve", help="a local HTTP JSON API: POST /ask, GET /health")
    model_opts(sp)
    sp.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (127.0.0.1; any other needs --token)")
    sp.add_argument("--port", type=int, default=8765)
    sp.add_argument("--token", help="required of clients as 'Authorization: Bearer TOKEN' "
                                    "(or QUORADESK_TOKEN)")
    sp.set_defaults(func=cmd_serve)
