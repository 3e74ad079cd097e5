"""How good is a mining result: recall and average precision of known duplicate pairs.

Usage::

    from quoradesk.core.training.evaluate import mining_metrics

    m = mining_metrics(ranked_pairs, gold_pairs)   # ranked best first; pairs as (a, b)
    m.recall, m.average_precision, m.found, m.gold

Average precision follows sentence-transformers' ParaphraseMiningEvaluator: walk the ranked
pairs, add precision@i at every gold pair found, divide by the number of gold pairs. Pairs
not in the gold set count as wrong, even when they are true duplicates nobody labelled, so
both figures are lower bounds, and comparable between methods on the same gold set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class MiningMetrics:
    recall: float
    average_precision: float
    found: int
    gold: int
    mined: int


def mining_metrics(ranked: Iterable[tuple[int, int]], gold: Iterable[tuple[int, int]]) -> MiningMetrics:
    gold_set = {(min(a, b), max(a, b)) for a, b in gold}
    if not gold_set:
        raise ValueError("No gold duplicate pairs to evaluate against")
    hits, precision_sum, mined = 0, 0.0, 0
    seen = set()
    for a, b in ranked:
        key = (min(a, b), max(a, b))
        if key in seen:
            continue
        seen.add(key)
        mined += 1
        if key in gold_set:
            hits += 1
            precision_sum += hits / mined
    return MiningMetrics(hits / len(gold_set), precision_sum / len(gold_set), hits, len(gold_set), mined)


def evaluate_sparse(model, pairs, batch_size: int = 64) -> dict:
    """Pair classification with sentence-transformers' own evaluator (dot and cosine):
    accuracy, F1, precision, recall, AP and MCC with their thresholds, and active dims."""
    from sentence_transformers.sparse_encoder.evaluation import SparseBinaryClassificationEvaluator

    ev = SparseBinaryClassificationEvaluator(
        pairs.q1, pairs.q2, pairs.labels, name="eval", batch_size=batch_size, write_csv=False,
        similarity_fn_names=["dot", "cosine"],
    )
    return _strip(ev(model), "eval_")


def evaluate_dense(model, pairs, batch_size: int = 64) -> dict:
    """The same metrics for a dense SentenceTransformer (cosine), for reference models."""
    from sentence_transformers.evaluation import BinaryClassificationEvaluator

    ev = BinaryClassificationEvaluator(
        pairs.q1, pairs.q2, pairs.labels, name="eval", batch_size=batch_size, write_csv=False,
        similarity_fn_names=["cosine"],
    )
    return _strip(ev(model), "eval_")


def evaluate_cross(model, pairs, batch_size: int = 64) -> dict:
    """CrossEncoder pair classification: accuracy, F1, precision, recall, AP."""
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderClassificationEvaluator

    ev = CrossEncoderClassificationEvaluator(
        list(zip(pairs.q1, pairs.q2, strict=True)), pairs.labels, name="eval",
        batch_size=batch_size, write_csv=False,
    )
    return _strip(ev(model), "eval_")


def _strip(metrics: dict, prefix: str) -> dict:
    return {k[len(prefix):] if k.startswith(prefix) else k: float(v) for k, v in metrics.items()}


def mining_eval(
    encoder, pairs, top_k: int = 10, batch_size: int = 64, similarity: str = "cosine"
) -> MiningMetrics:
    """Mine every distinct question of a labelled pair set with the SparseIndex and score
    the labelled duplicates among the mined pairs (what the app does, at small scale)."""
    from ..models.encode import encode_csr
    from ..search.index import SparseIndex, prepare

    texts = sorted(set(pairs.q1) | set(pairs.q2))
    pos = {t: i for i, t in enumerate(texts)}
    matrix = prepare(encode_csr(encoder, texts, batch_size), similarity)
    a, b, s, _ = SparseIndex(matrix).all_pairs(top_k)
    order = (-s).argsort(kind="stable")
    ranked = list(zip(a[order].tolist(), b[order].tolist(), strict=True))
    gold = [(pos[x], pos[y]) for x, y, lab in zip(pairs.q1, pairs.q2, pairs.labels, strict=True) if lab == 1]
    return mining_metrics(ranked, gold)
