"""Labelled question pairs for training and evaluation: reading them from a Quora-format
file or a project's reviews, checking them, splitting off a held-out part that shares no
question, and the teacher-scored neighbour pairs that distillation learns from.

Usage::

    from quoradesk.core.training.data import read_pair_file, split_held_out

    pairs = read_pair_file("dev.tsv")                      # or pairs_from_store(store)
    train, held_out = split_held_out(pairs, 0.15, seed=12)  # no shared question text
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..questions import ImportError_, load_questions


class TrainingError(Exception):
    """Training cannot start (bad data, base model or output folder); says why."""


@dataclass
class LabelledPairs:
    """Question pairs with a 0/1 duplicate label: the training and evaluation unit."""

    q1: list[str] = field(default_factory=list)
    q2: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def positives(self) -> int:
        return sum(self.labels)

    def subset(self, idx: list[int]) -> LabelledPairs:
        return LabelledPairs(
            [self.q1[i] for i in idx], [self.q2[i] for i in idx], [self.labels[i] for i in idx],
            self.source,
        )

    def plus(self, other: LabelledPairs) -> LabelledPairs:
        """These pairs followed by ``other``'s (the source stays this one's)."""
        return LabelledPairs(self.q1 + other.q1, self.q2 + other.q2, self.labels + other.labels, self.source)

    def duplicates_both_ways(self) -> tuple[list[str], list[str]]:
        """(anchors, positives) of the duplicate pairs in both directions (duplication is
        symmetric): what the MultipleNegativesRankingLoss recipes train on."""
        anchors, positives = [], []
        for a, b, y in zip(self.q1, self.q2, self.labels, strict=True):
            if y == 1:
                anchors += [a, b]
                positives += [b, a]
        return anchors, positives


@dataclass
class ScoredPairs:
    """Question pairs with a teacher's score in [0, 1]: distillation data."""

    q1: list[str] = field(default_factory=list)
    q2: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.scores)

    def restricted_to(self, questions: set[str]) -> ScoredPairs:
        """The pairs whose two questions are both in ``questions``."""
        keep = [i for i, (a, b) in enumerate(zip(self.q1, self.q2, strict=True)) if a in questions and b in questions]
        return ScoredPairs([self.q1[i] for i in keep], [self.q2[i] for i in keep], [self.scores[i] for i in keep])


def read_pair_file(path: str | Path) -> LabelledPairs:
    """Labelled pairs from a Quora-format file; any malformed row is an error, not a skip."""
    try:
        result = load_questions(path)
    except ImportError_ as exc:
        raise TrainingError(str(exc)) from exc
    if result.detected.format not in ("quora-pairs", "quora-split"):
        raise TrainingError(
            f"{Path(path).name} is not a labelled pair file (format {result.detected.format}): "
            "training needs question1, question2 and a 0/1 duplicate label on each row"
        )
    if result.rejected:
        shown = "; ".join(f"line {r.line}: {r.reason}" for r in result.rejected[:5])
        more = f" (and {len(result.rejected) - 5} more)" if len(result.rejected) > 5 else ""
        raise TrainingError(f"{len(result.rejected)} rows of {Path(path).name} are unusable: {shown}{more}")
    pairs = LabelledPairs(source=str(path))
    for p in result.labelled_pairs:
        pairs.q1.append(result.questions[p.a].text)
        pairs.q2.append(result.questions[p.b].text)
        pairs.labels.append(p.label)
    check_pairs(pairs)
    return pairs


def pairs_from_store(store) -> LabelledPairs:
    """A project's reviewed pairs: accepted = duplicate (1), rejected = hard negative (0)."""
    labels = {k: v for k, v in store.labels().items() if v in ("accepted", "rejected")}
    ids = sorted({q for pair in labels for q in pair})
    text = dict(zip(ids, store.texts(ids), strict=True))
    pairs = LabelledPairs(source=f"reviewed pairs of {store.path}")
    for (a, b), label in sorted(labels.items()):
        pairs.q1.append(text[a])
        pairs.q2.append(text[b])
        pairs.labels.append(1 if label == "accepted" else 0)
    check_pairs(pairs)
    return pairs


def check_pairs(pairs: LabelledPairs, min_positives: int = 2) -> None:
    if len(pairs) == 0:
        raise TrainingError(f"No labelled pairs in {pairs.source or 'the data'}")
    if pairs.positives < min_positives:
        raise TrainingError(
            f"{pairs.source or 'The data'} has {pairs.positives} duplicate pairs; "
            f"training needs at least {min_positives} (label 1)"
        )


def connected(questions, edges) -> dict[str, str]:
    """Each of ``questions`` mapped to a representative of its connected component under
    ``edges`` (question pairs): union-find with path halving."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    return {q: find(q) for q in questions}


def split_held_out(pairs: LabelledPairs, fraction: float = 0.15, seed: int = 12) -> tuple[LabelledPairs, LabelledPairs]:
    """Split so that no question text appears on both sides (connected components of pairs)."""
    root = connected(pairs.q1, zip(pairs.q1, pairs.q2, strict=True))
    components: dict[str, list[int]] = {}
    for i, a in enumerate(pairs.q1):
        components.setdefault(root[a], []).append(i)
    groups = sorted(components.values(), key=lambda g: g[0])
    random.Random(seed).shuffle(groups)
    target = int(round(fraction * len(pairs)))
    held, train = [], []
    for g in groups:
        (held if len(held) < target else train).extend(g)
    return pairs.subset(sorted(train)), pairs.subset(sorted(held))


def teacher_pairs(
    train: LabelledPairs, encoder, teacher, top_k: int = 3, *, batch_size: int = 64,
    extra: LabelledPairs | None = None, what: str = "pairs",
    stop: threading.Event | None = None, on_progress: Callable[[int, int], None] | None = None,
) -> ScoredPairs:
    """Distillation pairs: each training question's ``top_k`` nearest neighbours among the
    training questions (by the SPLADE ``encoder``, cosine), scored by the ``teacher``
    CrossEncoder, plus the labelled pairs themselves (and ``extra``'s, whose questions get no
    neighbours of their own: the CrossEncoder's swapped comparisons), also scored by the
    teacher; unique, in sorted order. ``what`` names them in a stop's message.

    These are the pairs mining has to order (near neighbours, most of them not duplicates).
    Measured on a validation split (scripts/train_default_models.py): MNRL plus this loss
    took pair AP from 0.726 (untuned) to 0.773 and mining AP from 0.488 to 0.514, where the
    best of 12 MNRL-only settings reached 0.725 and 0.508. Only training questions are used,
    so a held-out split stays unseen.
    """
    pairs = set(neighbour_pairs(encoder, sorted(set(train.q1) | set(train.q2)), top_k))
    for labelled in (train, extra) if extra is not None else (train,):
        pairs |= {(x, y) if x < y else (y, x) for x, y in zip(labelled.q1, labelled.q2, strict=True)}
    pairs = sorted(pairs)
    scores = teacher_scores(teacher, pairs, batch_size, what=what, stop=stop, on_progress=on_progress)
    return ScoredPairs([p[0] for p in pairs], [p[1] for p in pairs], scores)


def neighbour_pairs(encoder, texts: list[str], top_k: int) -> list[tuple[str, str]]:
    """Each of the (sorted, distinct) ``texts``' ``top_k`` nearest others by the SPLADE
    ``encoder`` (cosine, as mining ranks them), as unique pairs (a < b)."""
    from ..models.encode import encode_csr
    from ..search.index import SparseIndex, prepare

    a, b, _, _ = SparseIndex(prepare(encode_csr(encoder, texts, 32))).all_pairs(top_k)
    return [(texts[i], texts[j]) for i, j in zip(a.tolist(), b.tolist(), strict=True)]


def teacher_scores(teacher, pairs: list[tuple[str, str]], batch_size: int = 64, *, what: str = "pairs",
                   stop: threading.Event | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> list[float]:
    """The ``teacher`` CrossEncoder's scores of ``pairs``, 1,024 at a time so that ``stop``
    (InterruptedError) and ``on_progress(done, total)`` are heard between them."""
    from ..models.rerank import rerank_scores

    scores: list[float] = []
    for lo in range(0, len(pairs), 1024):
        if stop is not None and stop.is_set():
            raise InterruptedError(f"stopped while the teacher scored {what}")
        scores += rerank_scores(teacher, pairs[lo : lo + 1024], batch_size)
        if on_progress:
            on_progress(len(scores), len(pairs))
    return scores
