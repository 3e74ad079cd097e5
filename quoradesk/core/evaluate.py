"""How good is a mining result: recall and average precision of known duplicate pairs.

Usage::

    from quoradesk.core.evaluate import mining_metrics

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
