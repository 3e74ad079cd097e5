"""Scoring candidate pairs with a CrossEncoder, in batches cut for little padding and bounded
memory: what mining, Ask and the distillation teacher all run.

Usage::

    from quoradesk.core.models.rerank import rerank_scores

    scores = rerank_scores(cross_encoder, [("How do I learn Python?", "Best way to learn Python?")], 64)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

# Most token-position pairs (attention cells) one reranker batch may hold: 64 pairs of 128
# tokens. Long pairs go in smaller batches, so memory stays bounded whatever the texts: ONNX
# Runtime's int8 session took 4.1 GB more for 64 pairs of 512 tokens, 0.6 GB for 8.
RERANK_CELLS = 64 * 128 * 128


def rerank_batches(counts: np.ndarray, batch_size: int, max_cells: int = RERANK_CELLS) -> Iterator[list[int]]:
    """Positions of pairs with ``counts`` tokens, sorted by count and cut into batches of at
    most ``batch_size`` pairs and ``max_cells`` (pairs x longest pair's tokens squared)."""
    batch: list[int] = []
    for i in np.argsort(counts, kind="stable").tolist():
        # Sorted ascending: the pair being added is the longest of its batch.
        if batch and (len(batch) == batch_size or (len(batch) + 1) * int(counts[i]) ** 2 > max_cells):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def iter_rerank_scores(reranker, pairs: list[tuple[str, str]], batch_size: int
                       ) -> Iterator[tuple[list[int], list[float]]]:
    """Yield ``(positions in pairs, their CrossEncoder scores)`` a batch at a time. Batches
    are cut from the pairs sorted by token count, so little padding is computed
    (bench/rerank.py: 160 pairs/s against 126 sorted by characters, whose batches of 64 carry
    40% padding on Quora pairs against 5%), and long pairs go in smaller batches
    (rerank_batches); a caller that stops between batches keeps what was scored."""
    from .encode import token_counts  # imports torch: only once a run reranks

    counts = token_counts(getattr(reranker, "tokenizer", None), getattr(reranker, "max_seq_length", None),
                          [a for a, _ in pairs], [b for _, b in pairs])
    for part in rerank_batches(np.asarray(counts), batch_size):
        predicted = reranker.predict([pairs[i] for i in part], batch_size=len(part), show_progress_bar=False)
        yield part, [float(v) for v in predicted.tolist()]


def rerank_scores(reranker, pairs: list[tuple[str, str]], batch_size: int,
                  cancelled: Callable[[], bool] = lambda: False) -> list[float] | None:
    """CrossEncoder scores of ``pairs``, in their order (see iter_rerank_scores). None when
    ``cancelled()`` turns true between batches."""
    scores = [0.0] * len(pairs)
    for part, predicted in iter_rerank_scores(reranker, pairs, batch_size):
        for i, value in zip(part, predicted, strict=True):
            scores[i] = value
        if cancelled():
            return None
    return scores
