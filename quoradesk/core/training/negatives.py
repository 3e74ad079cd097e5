"""Negatives that sharpen the CrossEncoder: pairs the pipeline itself ranks high that are not
duplicates, and questions with the two sides of a comparison or a direction swapped.

Usage::

    from quoradesk.core.training.negatives import hard_negatives, swapped_comparisons, swap_sides

    swap_sides("Is Python better than Java?")        # "Is Java better than Python?"
    restate_sides("Is Python better than Java?")     # "Is Java worse than Python?"
    swap_sides("How do I convert PDF to Word?")       # "How do I convert Word to PDF?"
    swaps = swapped_comparisons(train)                # LabelledPairs, every label 0
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

from .data import LabelledPairs, connected, neighbour_pairs, teacher_scores

# Words that end a side ("... than Java for web development?"): a preposition, a conjunction
# or the end of the question. A side never contains one.
_ENDS = r"(?:much|far|for|in|at|as|when|if|on|with|by|and|or|but|to|than|into|now|nowadays|today|these|anymore|overall|really|ever|especially)"
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


def _match(question: str):
    """The rule that matches ``question`` and its match, or None; None as well when swapping
    would give the same question (pronoun or generic sides, "A to B and B to A")."""
    text = question.strip()
    for index, rule in enumerate(_RULES):
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
        return index, m
    return None


def swap_sides(question: str) -> str | None:
    """``question`` with the two sides of its comparison or direction swapped, or None when
    no rule matches (most questions; a symmetric one such as "A vs B" is left alone)."""
    found = _match(question)
    return None if found is None else _swapped(found[1])


def _swapped(m: re.Match) -> str:
    return f"{m['head']}{m['b']} {m['mid']} {m['a']}{m['tail']}"


# Comparatives and their opposites: "A is better than B" says "B is worse than A".
_OPPOSITES = {
    "better": "worse", "bigger": "smaller", "larger": "smaller", "faster": "slower", "harder": "easier",
    "cheaper": "costlier", "safer": "riskier", "stronger": "weaker", "higher": "lower", "richer": "poorer",
    "older": "younger", "longer": "shorter", "superior": "inferior", "more": "less",
}
_OPPOSITES |= {v: k for k, v in _OPPOSITES.items() if v not in {"smaller"}} | {"smaller": "bigger"}


def restate_sides(question: str) -> str | None:
    """The same question with its two sides in the other order and the meaning kept, or None:
    "Is A better than B?" -> "Is B worse than A?", "convert A to B" -> "convert to B from A",
    "fly from A to B" -> "fly to B from A". Beside swap_sides it shows a CrossEncoder that the
    order of the sides matters only together with the words around them."""
    found = _match(question)
    return None if found is None else _restated(*found)


def _restated(rule: int, m: re.Match) -> str | None:
    head, a, b, mid, tail = m["head"], m["a"], m["b"], m["mid"], m["tail"]
    if rule == 0:  # a comparison: swap the sides and turn the comparative into its opposite
        words = mid.split()
        for i, word in enumerate(words):
            opposite = _OPPOSITES.get(word.lower())
            if opposite:
                words[i] = opposite.capitalize() if word[0].isupper() else opposite
                return f"{head}{b} {' '.join(words)} {a}{tail}"
        return None  # "healthier than": no opposite known
    if head.lower().endswith("from "):  # "switch from A to B" -> "switch to B from A"
        head = head[: -len("from ")]
    return f"{head}{mid} {b} from {a}{tail}"


_SYMMETRIC = re.compile(r"\b(?:or|vs\.?|versus|difference|differences|compare|compared|comparison|between)\b",
                        re.IGNORECASE)


def _same_order(paraphrase: str, a: str, b: str) -> bool:
    """Whether ``paraphrase`` names side ``a`` before side ``b`` and asks no symmetric question
    ("Which is better, A or B?" means the swap as much as the original)."""
    text = paraphrase.lower()
    i, j = text.find(a.lower()), text.find(b.lower())
    return 0 <= i < j and not _SYMMETRIC.search(paraphrase)


def swapped_comparisons(train: LabelledPairs, *, restated: bool = False) -> LabelledPairs:
    """Pairs that teach the order of a comparison's or a direction's sides. For each training
    question q that swap_sides can swap (s = its swap): (q, s) is no duplicate, and nor is
    (p, s) for each labelled duplicate p of q that names the sides in q's order (a symmetric
    one, "Which is better, A or B?", means the swap too), so the model sees the swap beside a
    paraphrase and not only beside its own wording.

    ``restated``: also restate_sides' pairs: (q, r) and (p, r) are duplicates (r = q restated),
    so is (s, restate(s)), while (q, restate(s)) is not ("Is A better than B?" / "Is A worse
    than B?"). Measured (README): with them a model ranked 5 of 6 project-written swaps below
    their paraphrases (1 of 6 without), but validation AP fell 0.898 -> 0.863, so they are off
    by default."""
    out = LabelledPairs(source=f"swapped comparisons of {train.source or 'the training pairs'}")
    seen: set[frozenset[str]] = set()

    def add(a: str | None, b: str | None, label: int) -> None:
        if a and b and a != b and frozenset((a, b)) not in seen:
            seen.add(frozenset((a, b)))
            out.q1.append(a)
            out.q2.append(b)
            out.labels.append(label)

    paraphrases: dict[str, list[str]] = {}
    for q1, q2, y in zip(train.q1, train.q2, train.labels, strict=True):
        if y == 1:
            paraphrases.setdefault(q1, []).append(q2)
            paraphrases.setdefault(q2, []).append(q1)
    for q in dict.fromkeys(train.q1 + train.q2):
        found = _match(q)
        if found is None:
            continue
        rule, m = found
        s = _swapped(m)
        r, rs = (_restated(rule, m), restate_sides(s)) if restated else (None, None)
        a, b = m["a"], m["b"]
        for same in [q, *paraphrases.get(q, [])]:
            add(same, r, 1)
            if same == q or _same_order(same, a, b):  # q means it, so it does not mean the swap
                add(same, s, 0)
                add(same, rs, 0)
        add(s, rs, 1)
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
