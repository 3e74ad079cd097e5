"""Duplicate groups: connected components of accepted or above-threshold pairs.

Usage::

    from quoradesk.core.review.groups import duplicate_groups

    groups = duplicate_groups(a, b, scores, threshold=0.5, labels=store.labels())
    # [[3, 17, 42], [5, 9], ...]: question ids, biggest group first

A pair the user accepted always joins its questions; one they rejected never does, whatever
its score. A group is every question reachable through such pairs.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components


def duplicate_groups(
    a: np.ndarray,
    b: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    labels: dict[tuple[int, int], str] | None = None,
) -> list[list[int]]:
    labels = labels or {}
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    keep = np.asarray(scores) >= threshold
    if labels:
        label_of = [labels.get((int(x), int(y))) for x, y in zip(a.tolist(), b.tolist(), strict=True)]
        keep &= np.array([lab != "rejected" for lab in label_of], dtype=bool)
        accepted = [k for k, v in labels.items() if v == "accepted"]
        if accepted:
            acc = np.array(accepted, dtype=np.int64)
            a = np.concatenate([a[keep], acc[:, 0]])
            b = np.concatenate([b[keep], acc[:, 1]])
            keep = np.ones(len(a), dtype=bool)
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return []
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    n = len(nodes)
    graph = sparse.coo_matrix(
        (np.ones(len(a)), (inverse[: len(a)], inverse[len(a) :])), shape=(n, n)
    )
    count, component = connected_components(graph, directed=False)
    groups: list[list[int]] = [[] for _ in range(count)]
    for node, comp in zip(nodes.tolist(), component.tolist(), strict=True):
        groups[comp].append(node)
    groups = [sorted(g) for g in groups if len(g) > 1]
    groups.sort(key=lambda g: (-len(g), g[0]))
    return groups
