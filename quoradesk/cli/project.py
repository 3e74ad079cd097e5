"""The commands on a project file: import, mine, pairs, export, runs, and demo (the sample).

    quoradesk mine questions.csv --db project.sqlite     # import + encode + search (+ rerank)
    quoradesk pairs --db project.sqlite --limit 20        # best pairs, with the matching tokens
    quoradesk export --db project.sqlite --out pairs.csv  # pairs | groups | unique
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from ..core.questions import FORMATS
from ..core.resources import SAMPLE_QUESTIONS as SAMPLE
from ..core.resources import user_data_dir
from .common import EXIT_INTERRUPTED, EXIT_OK, positive_int


def _import(store, args) -> None:
    from ..core.questions import load_questions

    column = args.column
    if column is not None and column.isdigit():
        column = int(column) - 1  # 1-based on the command line
    result = load_questions(
        args.file, column=column, encoding=args.encoding, delimiter=args.delimiter, fmt=args.format,
        sheet=args.sheet,
    )
    info = store.add_import(result)
    det = result.detected
    print(
        f"Imported {args.file}: format {det.format}, encoding {det.encoding}, "
        f"{f'sheet {det.sheet!r} (of {len(det.sheets)}), ' if det.sheet else ''}"
        f"column {det.column!r}{', header' if det.has_header else ''}"
    )
    if info.already_imported:
        print("  (this file was imported before: nothing new added)")
    else:
        print(f"  {result.summary()}; {info.new_questions} new questions in the project")
    if result.rejected:
        shown = result.rejected[: args.show_rejected]
        for r in shown:
            print(f"  rejected line {r.line}: {r.reason}")
        more = len(result.rejected) - len(shown)
        if more > 0:
            print(f"  ... and {more} more (quoradesk import --show-rejected N lists them)")
    return info


def cmd_import(args) -> int:
    from ..core.store import Store

    with Store(args.db) as store:
        _import(store, args)
        print(f"Project {args.db}: {store.question_count()} questions")
    return EXIT_OK


def cmd_mine(args) -> int:
    from tqdm import tqdm

    from ..core import models
    from ..core.adapt import project_reranker
    from ..core.ask import keep_index_after_mining
    from ..core.cluster import preflight
    from ..core.mining import MiningJob, MiningParams
    from ..core.store import Store

    preflight(args.ray, args.milvus)  # before the project is opened: a refusal writes nothing
    params = MiningParams(
        top_k=args.top_k, keep_above=args.keep_above,
        max_neighbours=args.max_neighbours or MiningParams.max_neighbours,
        min_score=args.min_score, rerank_top=args.rerank_top,
        rerank_floor=args.rerank_floor, margin_weight=args.margin_weight,
        rerank_int8=MiningParams.rerank_int8 if args.rerank_int8 is None else args.rerank_int8,
        encode_bf16=MiningParams.encode_bf16 if args.bf16 is None else args.bf16,
        encode_int8=MiningParams.encode_int8 if args.int8_head is None else args.int8_head,
        encode_int8_body=MiningParams.encode_int8_body if args.int8_body is None else args.int8_body,
        batch_size=args.batch_size, chunk_size=args.chunk_size or MiningParams.chunk_size,
        similarity=args.similarity,
        search=args.search,
    )
    with Store(args.db) as store:
        if args.file:
            _import(store, args)
        # The CrossEncoder this project improved on its labels (quoradesk improve), else the shipped one.
        reranker = None if args.no_rerank else (args.reranker or project_reranker(store)
                                                or models.default_reranker_path())
        job = MiningJob(
            store, sparse_model=args.model, reranker=reranker, params=params,
            device=args.device, resume=not args.new_run, ray=args.ray, milvus=args.milvus,
        )
        where = f"  on Ray {args.ray}" if args.ray else ""
        where += f"  search in Milvus {args.milvus}" if args.milvus else ""
        precision = "".join(f"  {what}" for what, on in (("encoding in bfloat16", job.params.encode_bf16),
                                                         ("head in int8", job.params.encode_int8),
                                                         ("body in int8", job.params.encode_int8_body)) if on)
        print(f"SPLADE model: {models.describe(job.sparse_model_path)}  device: {job.device}{precision}{where}")
        if reranker is None:
            why = "--no-rerank" if args.no_rerank else "no CrossEncoder available"
            print(f"Reranker: none ({why}): pairs keep their sparse scores")
        else:
            engine = "int8, ONNX Runtime" if job.params.rerank_int8 else "float32"
            print(f"Reranker: {models.describe(reranker)} ({engine})")
        # First Ctrl-C asks the job to stop at the next batch; a second one aborts at once
        # (the last committed batch is kept either way).
        previous = signal.getsignal(signal.SIGINT)

        def on_sigint(signum, frame):
            job.cancel()
            signal.signal(signal.SIGINT, previous)

        signal.signal(signal.SIGINT, on_sigint)
        bars: dict = {}
        try:
            for ev in job.run():
                if job.resumed and not bars:
                    print(f"Resuming run {ev.run_id}")
                if ev.stage in ("done", "cancelled"):
                    break
                bar = bars.get(ev.stage)
                if bar is None:
                    for other in bars.values():
                        other.close()
                    bar = bars[ev.stage] = tqdm(
                        total=ev.total, initial=ev.done, desc=ev.stage.ljust(7),
                        unit="q" if ev.stage != "rerank" else "pair",
                        disable=args.quiet, file=sys.stderr, dynamic_ncols=True,
                        # Into a log file, a line every 10 s, not one per batch (6 MB at 100k).
                        mininterval=0.1 if sys.stderr.isatty() else 10,
                    )
                bar.update(ev.done - bar.n)
        except KeyboardInterrupt:
            job.cancel()
        finally:
            for bar in bars.values():
                bar.close()
            signal.signal(signal.SIGINT, previous)
        run = store.get_run(job.run_record.id)
        if run.status != "done":
            print(
                f"Run {run.id} stopped during {run.stage}; its finished work is saved. "
                f"Run the same command again to resume."
            )
            return EXIT_INTERRUPTED
        n = store.count_pairs(run.id)
        times = _format_timings(run.timings)
        print(f"Run {run.id} done: {run.question_count} questions, {n} candidate pairs ({times})")
        if run.note:
            print(f"Note: {run.note}")
        print(keep_index_after_mining(store, job))  # `quoradesk ask` and `serve` then open at once
        if args.show > 0:  # --show 0: no pairs asked for, so no "No pairs" line either
            _print_pairs(store, run.id, args.show, None, explain=False, encoder=None)
    return EXIT_OK


def _format_timings(timings: dict) -> str:
    stages = [s for s in ("encode", "search", "rerank") if s in timings]
    return ", ".join(f"{s} {timings[s]:.1f}s" for s in stages)


def _pick_run(store, run_id):
    run = store.get_run(run_id) if run_id else store.latest_run("done")
    if run is None:
        raise LookupError("No finished run in this project yet: run 'quoradesk mine' first")
    return run


def _print_pairs(store, run_id, limit, min_score, *, explain, encoder, key=None) -> None:
    from ..core.calibration import for_project
    from ..core.review import explain_match, percent

    pairs = store.top_pairs(run_id, limit=limit, min_score=min_score)
    cal = for_project(store, store.get_run(run_id))
    if not pairs:
        print("No pairs above the threshold.")
        return
    vectors = None
    if explain:
        ids = sorted({p.a for p in pairs} | {p.b for p in pairs})
        matrix = store.load_encodings(key, ids, dim=encoder.get_embedding_dimension())
        vectors = {q: matrix[i] for i, q in enumerate(ids)}
    for i, p in enumerate(pairs, start=1):
        scores = f"sparse {p.sparse_score:.2f} ({p.first_score:.2f} in context)"
        if p.rerank_score is not None:
            scores = f"score {p.score:.3f}  rerank {p.rerank_score:.3f}  " + scores
        label = f"  [{p.label}]" if p.label else ""
        if cal is not None:
            scores = f"{percent(cal.probability(p.score, p.first_score))} duplicate  " + scores
        print(f"{i:>3}. {scores}{label}\n     A: {p.text_a}\n     B: {p.text_b}")
        if vectors is not None:
            why = explain_match(encoder, vectors[p.a], vectors[p.b], top_k=6, also_k=3)
            print("     matched on: " + why.text())


def cmd_pairs(args) -> int:
    from ..core import models
    from ..core.store import Store

    with Store(args.db, create=False) as store:
        run = _pick_run(store, args.run)
        encoder = key = None
        if not args.no_explain:
            path = _model_path_for_run(run, args.model)
            encoder = models.shared_sparse_encoder(path, "cpu")
            key = run.sparse_model_key
        print(f"Run {run.id}: {run.sparse_model}, reranker {run.reranker or 'none'}")
        _print_pairs(store, run.id, args.limit, args.min_score, explain=not args.no_explain,
                     encoder=encoder, key=key)
    return EXIT_OK


def _model_path_for_run(run, override):
    from ..core import models

    if override:
        return models.sparse_model_path(override)
    path = models.run_sparse_model(run)
    if path is not None:
        return path
    raise LookupError(
        f"The run's SPLADE model ({run.sparse_model}) is not found here; pass --model DIR to explain"
    )


def cmd_export(args) -> int:
    from ..core.review import export_groups, export_pairs, export_unique
    from ..core.store import Store

    with Store(args.db, create=False) as store:
        run = _pick_run(store, args.run)
        threshold = args.min_score
        if args.what == "pairs":
            n = export_pairs(store, run.id, args.out, min_score=threshold)
        else:
            if threshold is None:
                raise ValueError("--min-score is needed for groups and unique exports")
            fn = export_groups if args.what == "groups" else export_unique
            n = fn(store, run.id, args.out, threshold)
    print(f"Wrote {n} rows to {args.out}")
    return EXIT_OK


def cmd_runs(args) -> int:
    from ..core.store import Store

    with Store(args.db, create=False) as store:
        for run in store.runs():
            times = _format_timings(run.timings)
            print(
                f"run {run.id}: {run.status:<9} stage {run.stage:<7} {run.question_count} questions, "
                f"{store.count_pairs(run.id)} pairs, model {run.sparse_model}, "
                f"reranker {run.reranker or 'none'}, {run.params}  [{times}]"
            )
    return EXIT_OK


def cmd_demo(args) -> int:
    db = Path(args.db) if args.db else user_data_dir() / "sample.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    print(f"Mining the bundled sample ({SAMPLE.name}) into {db}")
    ns = _parser().parse_args(["mine", str(SAMPLE), "--db", str(db), "--show", str(args.show)])
    return cmd_mine(ns)


def _parser() -> argparse.ArgumentParser:
    """These commands alone (``demo`` runs ``mine`` through it)."""
    p = argparse.ArgumentParser(prog="quoradesk")
    add_parsers(p.add_subparsers(dest="command", required=True))
    return p


def add_parsers(sub) -> None:
    def import_opts(sp, required):
        if required:
            sp.add_argument("file", help="CSV, TSV, TXT, JSONL, .xlsx, Parquet or Quora/Kaggle pair file")
        else:
            sp.add_argument("file", nargs="?", help="question file to import first (optional)")
        sp.add_argument("--db", required=True, help="the project file (.sqlite), created if new")
        sp.add_argument("--column", help="question column: header name or 1-based number")
        sp.add_argument("--encoding", help="file encoding (detected when left out)")
        sp.add_argument("--delimiter", help="field delimiter (detected when left out)")
        sp.add_argument("--sheet", help="the workbook's sheet (.xlsx; the active sheet when left out)")
        sp.add_argument("--format", choices=list(FORMATS))
        sp.add_argument("--show-rejected", type=int, default=10, metavar="N")

    sp = sub.add_parser("import", help="import a question file into a project")
    import_opts(sp, True)
    sp.set_defaults(func=cmd_import)

    sp = sub.add_parser("mine", help="find duplicate pairs (imports FILE first if given)")
    import_opts(sp, False)
    sp.add_argument("--model", help="SPLADE model: 'distilled' (the default: 4 of the accurate model's 6 layers, "
                    "twice its questions a second), 'accurate' (MiniLM body), 'fast' (BERT-tiny, about 4x the "
                    "accurate one's speed) or a model folder")
    sp.add_argument("--reranker", help="CrossEncoder folder (default: the shipped one, if any)")
    sp.add_argument("--no-rerank", action="store_true", help="keep sparse scores only")
    sp.add_argument("--top-k", type=positive_int, default=10, help="neighbours per question")
    sp.add_argument("--keep-above", type=float,
                    help="also keep each further neighbour scoring at least this, up to "
                         "--max-neighbours a question (default 0.75 for cosine, off for dot)")
    sp.add_argument("--max-neighbours", type=positive_int,
                    help="most neighbours kept per question with --keep-above (default 30; "
                         "equal to --top-k: exactly the top k)")
    sp.add_argument("--min-score", type=float, default=0.0, help="sparse score floor")
    sp.add_argument("--similarity", choices=["cosine", "dot"], default="cosine",
                    help="how SPLADE vectors are compared (cosine: normalised)")
    sp.add_argument("--search", choices=["auto", "exact", "pruned"], default="auto",
                    help="candidate search: exact, pruned (linear cost, for large files) or "
                         "auto (exact while cheap: small files, sparse vectors)")
    sp.add_argument("--rerank-top", type=positive_int, default=1, help="rerank each question's top N")
    sp.add_argument("--rerank-floor", type=float,
                    help="rerank only pairs whose first-stage score (cosine in context) is at least this "
                         "(default 0.6 for cosine, 0 for dot)")
    sp.add_argument("--margin-weight", type=float,
                    help="rank the pairs by cosine plus this times its margin over the two questions' "
                         "usual closeness (the mean of each one's two best cosines): default 1 for cosine "
                         "(held-out AP 0.696 -> 0.748), 0 for dot; 0: cosine alone")
    sp.add_argument("--rerank-int8", action=argparse.BooleanOptionalAction,
                    help="on a CPU, rerank with the int8 model in ONNX Runtime (the default): "
                         "1.3-2.2x the pairs per second, held-out pair AP 0.884 against 0.882 in "
                         "float32 (the full CrossEncoder 0.885, 0.889); the shipped models carry their int8 files, another model's is made on first use "
                         "and cached. --no-rerank-int8: float32")
    sp.add_argument("--bf16", action=argparse.BooleanOptionalAction,
                    help="on a CPU with native bfloat16 (AVX512-BF16 or AMX), encode in bf16 (the default "
                         "there): 1.4x the questions per second (measured), vectors within 0.001 cosine of float32; "
                         "ignored elsewhere. --no-bf16: float32")
    sp.add_argument("--int8-head", action=argparse.BooleanOptionalAction,
                    help="on a CPU with int8 dot products (VNNI or AMX), compute the SPLADE's vocabulary head in "
                         "int8 (the default there): 1.2-1.4x the accurate model's questions per second with bf16 "
                         "(measured), the same held-out pair AP to 0.001; ignored elsewhere. --no-int8-head: off")
    sp.add_argument("--int8-body", action=argparse.BooleanOptionalAction,
                    help="with the int8 head, the SPLADE's transformer body in int8 too and its head on the "
                         "model's active vocabulary plus what the project's questions make fire (fitted once per "
                         "project; the default where the CPU has int8 dot products): 1.4x the accurate model's "
                         "questions per second (measured), held-out pair AP 0.851 against 0.852. --no-int8-body: "
                         "the body in bf16 or float32 and the whole head")
    sp.add_argument("--batch-size", type=positive_int, default=32)
    sp.add_argument("--chunk-size", type=positive_int,
                    help="questions encoded, and pairs reranked, per saved chunk (work lost to a "
                         "crash at most; default: the app's, 2048)")
    sp.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    sp.add_argument("--ray", metavar="ADDRESS",
                    help="encode and rerank on Ray: 'local' (a Ray instance on this machine's cores), "
                         "'auto' or HOST:PORT (a running cluster), ray://HOST:10001 (Ray Client)")
    sp.add_argument("--milvus", metavar="URI",
                    help="candidate search in Milvus: FILE.db (Milvus Lite, embedded) or http://HOST:19530")
    sp.add_argument("--new-run", action="store_true", help="start afresh instead of resuming")
    sp.add_argument("--show", type=int, default=10, help="pairs to print at the end")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_mine)

    sp = sub.add_parser("pairs", help="print the best pairs of a run")
    sp.add_argument("--db", required=True)
    sp.add_argument("--run", type=int, help="run id (default: the latest finished)")
    sp.add_argument("--limit", type=int, default=20)
    sp.add_argument("--min-score", type=float)
    sp.add_argument("--no-explain", action="store_true", help="skip the matching tokens")
    sp.add_argument("--model", help="SPLADE folder or shipped name for explanations (default: the run's)")
    sp.set_defaults(func=cmd_pairs)

    sp = sub.add_parser("export", help="write pairs, groups or de-duplicated questions to CSV")
    sp.add_argument("--db", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--what", choices=["pairs", "groups", "unique"], default="pairs")
    sp.add_argument("--run", type=int)
    sp.add_argument("--min-score", type=float, help="threshold on the pair score")
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("runs", help="list the project's runs")
    sp.add_argument("--db", required=True)
    sp.set_defaults(func=cmd_runs)

    sp = sub.add_parser("demo", help="mine the bundled sample file")
    sp.add_argument("--db", help="project file (default: in the user data folder)")
    sp.add_argument("--show", type=int, default=10)
    sp.set_defaults(func=cmd_demo)
