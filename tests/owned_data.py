"""Labelled question pairs the project owns, for every test that does not need Quora labels.

The bundled sample (``resources/sample_questions.csv``, written by ``scripts/make_sample.py``)
holds paraphrase groups and near-miss distractors. From it:

- ``sample_pairs()``: every pair inside a group (label 1) and, for each distractor, the
  question of a group that shares the rarest words with it (label 0: a hard negative such as
  "How do I learn Java quickly?" / "How do I learn Python quickly?"). 158 pairs, 90 duplicates.
- ``pair_lines(n)``: ``n`` pairs in the Quora 4-column split format
  (``label<TAB>q1<TAB>q2<TAB>pair_id``, the format of dev.tsv): the sample pairs first, then
  rounds of word-level variants of them (drop, swap or insert a word, seeded), so any count a
  test asks for exists and any prefix looks like the whole. A variant keeps its pair's label;
  the variants serve tests of mechanics (resume, cancel, kills, paging, a full disk), and
  tests that score labels use ``sample_pairs()`` alone.

Usage::

    from owned_data import sample_pairs, write_pairs
    write_pairs(tmp_path / "pairs.tsv", 300)
"""

from __future__ import annotations

import csv
import itertools
import math
import random
import re
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

from quoradesk.core.resources import SAMPLE_QUESTIONS


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


@cache
def sample_pairs() -> tuple[tuple[int, str, str], ...]:
    """(label, q1, q2) from the sample's paraphrase groups and distractors, deterministic."""
    groups: dict[str, list[str]] = defaultdict(list)
    singles: list[str] = []
    with open(SAMPLE_QUESTIONS, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            (groups[row["paraphrase_group"]] if row["paraphrase_group"] else singles).append(row["question"])
    pairs = [(1, a, b) for g in groups.values() for a, b in itertools.combinations(g, 2)]
    members = [q for g in groups.values() for q in g]
    # A word's weight is its rarity in the sample, so "how do I" does not make a negative hard.
    df = Counter(w for q in members + singles for w in _words(q))
    idf = {w: math.log((len(members) + len(singles)) / c) for w, c in df.items()}
    for s in singles:
        # the group question sharing the rarest words (ties: the first in file order)
        best = max(members, key=lambda q: sum(idf[w] for w in _words(q) & _words(s)))
        pairs.append((0, s, best))
    random.Random(3).shuffle(pairs)  # labels mixed through any prefix
    return tuple(pairs)


def _vary(text: str, rng: random.Random, vocab: list[str]) -> str:
    w = text.split()
    for _ in range(rng.randint(1, 2)):
        op, i = rng.random(), rng.randrange(len(w))
        if op < 0.3 and len(w) > 3:
            del w[i]
        elif op < 0.6 and len(w) > 1:
            j = min(i + 1, len(w) - 1)
            w[i], w[j] = w[j], w[i]
        else:
            w.insert(i, rng.choice(vocab))
    return " ".join(w)


@cache
def _grown(n: int) -> tuple[tuple[int, str, str], ...]:
    base = sample_pairs()
    out = list(base[:n])
    rng = random.Random(0)
    vocab = [w for w, _ in Counter(w for _, a, b in base for w in _words(a + " " + b)).most_common(400)]
    while len(out) < n:
        for label, a, b in base:
            if len(out) >= n:
                break
            out.append((label, _vary(a, rng, vocab), _vary(b, rng, vocab)))
    return tuple(out)


def pair_lines(n: int, start: int = 0) -> list[str]:
    """Pairs ``start`` to ``start + n`` as lines of the Quora 4-column split format."""
    rows = _grown(start + n)[start:]
    return [f"{label}\t{a}\t{b}\t{start + i + 1}" for i, (label, a, b) in enumerate(rows)]


def write_pairs(path: Path, n: int, start: int = 0) -> Path:
    """Write ``pair_lines(n, start)`` to ``path`` (a file the importer reads as a pair split)."""
    path.write_text("\n".join(pair_lines(n, start)) + "\n", encoding="utf-8")
    return path
