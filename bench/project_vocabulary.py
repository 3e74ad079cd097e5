"""Benchmark: the int8 encoder's head on a project's vocabulary (``models.project_vocabulary``)
against the model's active vocabulary alone.

    python bench/project_vocabulary.py                 # the default (distilled) model
    python bench/project_vocabulary.py --model accurate --rounds 5
    python bench/project_vocabulary.py --no-timing     # fidelity only

Fidelity, on the project's sample questions (233, off Quora's topics) and on the held-out
questions of dev.tsv (the 15%, seed 12, that no shipped model saw), each encoded as a project of
its own: the vocabulary is fitted on it as a run fits it. Printed for each: the entries added,
each vector's cosine to the float32 whole head's (min, 1st percentile, median), the same
nearest question as float32's over all questions and over the decided ones (float32's nearest
leads its runner-up by 0.01 or more), and the pair AP of the sample's 90 paraphrase pairs.
Timing: the 19,062 dev questions encoded with each, interleaved for ``--rounds`` rounds, the
fit included in the project vocabulary's time (medians).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
from encode import DEV, nearest  # noqa: E402

from quoradesk.core import models, training  # noqa: E402
from quoradesk.core.models.encode import encode_csr  # noqa: E402
from quoradesk.core.models.project_vocabulary import fit_project_vocabulary, sample_positions  # noqa: E402
from quoradesk.core.questions import load_questions  # noqa: E402
from quoradesk.core.resources import SAMPLE_QUESTIONS  # noqa: E402
from quoradesk.core.search.index import prepare  # noqa: E402
from quoradesk.selftest import sample_gold_pairs  # noqa: E402

INT8 = {"int8": True, "int8_body": True}


def project_vocabulary(model, texts: list[str]):
    return fit_project_vocabulary(model, [texts[i] for i in sample_positions(len(texts))])


def fidelity(model, label: str, texts: list[str], gold: set | None) -> None:
    from sklearn.metrics import average_precision_score

    ref = prepare(encode_csr(model, texts, 32), "cosine")
    want = nearest(ref)
    sims = (ref @ ref.T).toarray()
    np.fill_diagonal(sims, -np.inf)
    best_two = -np.sort(-sims, axis=1)[:, :2]
    decided = best_two[:, 0] - best_two[:, 1] >= 0.01
    upper = np.triu_indices(len(texts), 1)
    labels = None if gold is None else np.array([tuple(sorted((texts[a], texts[b]))) in gold for a, b in zip(*upper)])
    active = fit_project_vocabulary(model, [])  # (no texts: the active vocabulary itself)
    active = 0 if active is None else len(active)
    print(f"\n{label}: {len(texts)} questions, {decided.sum()} decided")
    for name, vocabulary in (("float32, whole head", "float"), ("active vocabulary", None),
                             ("project vocabulary", project_vocabulary(model, texts))):
        if isinstance(vocabulary, str):
            m = ref
        else:
            m = prepare(encode_csr(model, texts, 32, vocabulary=vocabulary, **INT8), "cosine")
        picked = nearest(m)
        cos = np.asarray(ref.multiply(m).sum(axis=1)).ravel()
        added = len(vocabulary) - active if isinstance(vocabulary, np.ndarray) else 0
        line = (f"  {name:20s} +{added:5d} entries; "
                f"cosine min {cos.min():.3f}, 1st pct {np.percentile(cos, 1):.4f}, median {np.median(cos):.4f}; "
                f"same nearest {np.mean(picked == want):.4f}, decided {np.mean(picked[decided] == want[decided]):.4f}")
        if labels is not None:
            line += f"; pair AP {average_precision_score(labels, (m @ m.T).toarray()[upper]):.4f}"
        print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="distilled", help="a shipped name or a SPLADE folder")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-timing", action="store_true")
    args = ap.parse_args()
    model = models.load_sparse_encoder(models.sparse_model_path(args.model), "cpu")
    sample = [q.text for q in load_questions(SAMPLE_QUESTIONS).questions]
    fidelity(model, "the project's sample", sample, sample_gold_pairs(SAMPLE_QUESTIONS))
    train, held = training.split_held_out(training.read_pair_file(DEV), 0.15, seed=12)
    seen = set(train.q1) | set(train.q2)
    fidelity(model, "held-out dev questions", sorted(set(held.q1) | set(held.q2) - seen), None)
    if args.no_timing:
        return
    texts = [q.text for q in load_questions(DEV).questions]
    encode_csr(model, texts[:200], 32, **INT8)  # warm-up: the int8 copies made
    seconds: dict[str, list[float]] = {"active vocabulary": [], "project vocabulary, fit included": []}
    for _ in range(args.rounds):
        for name, times in seconds.items():
            started = time.perf_counter()
            vocabulary = project_vocabulary(model, texts) if name.startswith("project") else None
            encode_csr(model, texts, 32, vocabulary=vocabulary, **INT8)
            times.append(time.perf_counter() - started)
    print(f"\n{len(texts)} dev questions, medians of {args.rounds} interleaved rounds:")
    for name, times in seconds.items():
        took = statistics.median(times)
        print(f"  {name}: {took:.2f} s ({len(texts) / took:.0f} q/s; rounds {', '.join(f'{t:.1f}' for t in times)})")


if __name__ == "__main__":
    main()
