"""Negatives that sharpen the CrossEncoder: pairs the pipeline itself ranks high that are not
duplicates, and questions with the two sides of a comparison or a direction swapped.

Usage::

    from quoradesk.core.training_negatives import hard_negatives, swapped_negatives, swap_sides

    swap_sides("Is Python better than Java?")        # "Is Java better than Python?"
    swap_sides("How do I convert PDF to Word?")       # "How do I convert Word to PDF?"
    swaps = swapped_negatives(train)                  # LabelledPairs, every label 0
    mined = hard_negatives(train, splade, teacher)    # LabelledPairs, every label 0
    train_cross(base, train.plus(swaps).plus(mined), ...)

Why: the CrossEncoder reranks the pipeline's candidates, near neighbours that share most of
their words, while Quora's labelled non-duplicates are only a sample of such pairs. And a
question with its comparison swapped shares every token with the original, so the SPLADE
scores it about 1.0 and a CrossEncoder that never saw one scores it about 0.95.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from .training_data import LabelledPairs, connected, neighbour_pairs, teacher_scores

# Words that end a side ("... than Java for web development?"): a preposition, a conjunction
# or the end of the question. A side never contains one.
_ENDS = r"(?:for|in|at|as|when|if|on|with|by|and|or|but|to|than|into|now|nowadays|today|these|anymore|overall|really|ever|especially)"
# A phrase on either side of a swap: one to three words (names, numbers, "C++", "the USA").
_WORD = rf"(?!{_ENDS}\b)[\w+#'&-]+(?:\.\w+)*"  # "6.0" is a word; "Turkey." ends one
_SIDE = rf"{_WORD}(?: {_WORD}){{0,2}}"
_TAIL = rf"(?P<tail>(?: {_ENDS}\b.*)?[?.!]*)$"
_COMPARATIVE = (
    r"(?:(?:much |a lot |far |really |way )?(?:better|worse|bigger|smaller|larger|faster|slower|harder|easier|"
    r"cheaper|costlier|safer|stronger|weaker|greater|higher|lower|richer|poorer|smarter|older|younger|"
    r"longer|shorter|lighter|\w{3,}ier|(?:more|less) \w+))"  # \w{3,}ier: riskier, healthier, ...
)
_RULES = [
    # "Is A better than B?", "Are stocks less risky than bonds in the long run?"
    re.compile(
        rf"^(?P<head>(?:why |how |in what ways? )?(?:is|are|was|were) (?:it true that )?)(?P<a>{_SIDE}) "
        rf"(?P<mid>{_COMPARATIVE} than|(?:superior|inferior|preferable) to) (?P<b>{_SIDE}){_TAIL}",
        re.IGNORECASE,
    ),
    # "How do I convert PDF to Word?", "translate English into Hindi"
    re.compile(
        rf"^(?P<head>.*\b(?:convert|converting|translate|translating|switch|switching|migrate|migrating|"
        rf"transfer|transferring|move|moving|port|porting) (?:from )?)(?P<a>{_SIDE}) (?P<mid>to|into) "
        rf"(?P<b>{_SIDE}){_TAIL}",
        re.IGNORECASE,
    ),
    # "a flight from Chennai to Delhi", "from 315 to 330 in 28 days"
    re.compile(rf"^(?P<head>.*\bfrom )(?P<a>{_SIDE}) (?P<mid>to) (?P<b>{_SIDE}){_TAIL}", re.IGNORECASE),
]
# A side that is a pronoun, or a generic "one ... to another ...", swaps into the same question.
_PRONOUNS = {"it", "this", "that", "them", "me", "you", "us", "him", "her", "something", "someone", "there"}
_GENERIC = {"one", "another", "each", "other", "others", "some", "any", "all", "there", "a", "an", "the"}


def swap_sides(question: str) -> str | None:
    """``question`` with the two sides of its comparison or direction swapped, or None when
    no rule matches (most questions; a symmetric one such as "A vs B" is left alone)."""
    text = question.strip()
    for rule in _RULES:
        m = rule.match(text)
        if not m:
            continue
        a, b = m["a"], m["b"]
        sides = (a.lower().split(), b.lower().split())
        if a.lower() == b.lower() or any(
            s[0] in _PRONOUNS or (s[0] in _GENERIC and (len(s) == 1 or s[0] not in {"a", "an", "the"}))
            for s in sides
        ):
            return None
        if f"{b} {m['mid']} {a}".lower() in text.lower():  # "A to B and B to A": symmetric already
            return None
        return f"{m['head']}{b} {m['mid']} {a}{m['tail']}"
    return None


def swapped_negatives(train: LabelledPairs) -> LabelledPairs:
    """Every training question that swap_sides can swap, paired with its swap as a
    non-duplicate (label 0); with the swap of a question's labelled duplicate too, so the
    model sees the swap beside a paraphrase and not only beside its own wording."""
    out = LabelledPairs(source=f"swapped comparisons of {train.source or 'the training pairs'}")
    seen: set[tuple[str, str]] = set()

    def add(a: str, b: str) -> None:
        if (a, b) not in seen and a != b:
            seen.add((a, b))
            out.q1.append(a)
            out.q2.append(b)
            out.labels.append(0)

    for q1, q2, y in zip(train.q1, train.q2, train.labels, strict=True):
        s1, s2 = swap_sides(q1), swap_sides(q2)
        if s1:
            add(q1, s1)
        if s2:
            add(q2, s2)
        if y == 1:  # q1 means q2, so q1 does not mean the swap of q2
            if s2:
                add(q1, s2)
            if s1:
                add(q2, s1)
    return out


def duplicate_groups(train: LabelledPairs) -> dict[str, str]:
    """Each question's duplicate group (a representative), closing the labelled duplicates
    under transitivity: A = B and B = C make A, C no candidate negative."""
    duplicates = (p for p, y in zip(zip(train.q1, train.q2, strict=True), train.labels, strict=True) if y == 1)
    return connected(set(train.q1) | set(train.q2), duplicates)


def hard_negatives(
    train: LabelledPairs, encoder, teacher=None, *, top_k: int = 3, max_teacher_score: float = 0.5,
    batch_size: int = 64, stop: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> LabelledPairs:
    """Pipeline-mined negatives: each training question's ``top_k`` nearest training questions
    by the SPLADE ``encoder`` (cosine, as mining ranks them), minus the labelled pairs and any
    pair inside one duplicate group. Quora labels only some pairs, so many close neighbours are
    unlabelled duplicates; with a ``teacher`` CrossEncoder, a pair it scores at or above
    ``max_teacher_score`` is dropped as a likely one (sentence-transformers'
    ``mine_hard_negatives`` filters with ``max_score`` the same way)."""
    groups = duplicate_groups(train)
    labelled = {frozenset(p) for p in zip(train.q1, train.q2, strict=True)}
    candidates = [
        (a, b) for a, b in neighbour_pairs(encoder, sorted(groups), top_k)
        if groups[a] != groups[b] and frozenset((a, b)) not in labelled
    ]
    if teacher is not None:
        scores = teacher_scores(teacher, candidates, batch_size, what="candidate negatives", stop=stop,
                                on_progress=on_progress)
        candidates = [c for c, s in zip(candidates, scores, strict=True) if s < max_teacher_score]
    return LabelledPairs([c[0] for c in candidates], [c[1] for c in candidates], [0] * len(candidates),
                         f"pipeline-mined negatives of {train.source or 'the training pairs'}")
