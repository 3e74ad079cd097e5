"""CSV exports of pairs, groups and a de-duplicated question list, safe for spreadsheets.

Usage::

    from quoradesk.core.review.export import export_pairs, export_groups, export_unique

    n = export_pairs(store, run_id, "pairs.csv", min_score=0.5)

A cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return would run as a
formula in Excel or LibreOffice; such cells get a leading apostrophe (OWASP's advice).
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..calibration import for_project
from ..store import Store
from .groups import duplicate_groups

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _write(path: str | Path, header: list[str], rows) -> int:
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    count = 0
    try:
        with open(tmp, "w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for row in rows:
                writer.writerow([v if isinstance(v, (int, float)) else safe_cell(v) for v in row])
                count += 1
        tmp.replace(path)  # never leave a half-written export under the real name
    finally:
        tmp.unlink(missing_ok=True)
    return count


def export_pairs(store: Store, run_id: int, path: str | Path, min_score: float | None = None) -> int:
    """Every pair (at or above ``min_score``) with its scores and, where the run's models carry
    a calibration, the probability that it is a duplicate (empty otherwise)."""
    cal = for_project(store, store.get_run(run_id))

    def probability(p) -> float | None:
        q = cal.probability(p.score, p.first_score) if cal is not None else None
        return None if q is None else round(q, 4)

    rows = (
        (p.a, p.b, p.text_a, p.text_b, None if p.score is None else round(p.score, 6), probability(p),
         round(p.sparse_score, 6), round(p.first_score, 6),
         None if p.rerank_score is None else round(p.rerank_score, 6), p.rank, p.label or "")
        for p in store.iter_pairs(run_id, min_score=min_score)
    )
    return _write(
        path,
        ["id_a", "id_b", "question_a", "question_b", "score", "probability", "sparse_score", "first_score",
         "rerank_score", "rank", "label"],
        rows,
    )


def run_groups(store: Store, run_id: int, threshold: float) -> list[list[int]]:
    # Only pairs at or above the threshold can join a group (candidates never reranked have
    # no score and never pass); accepted pairs join whatever their score, through the labels.
    a, b, scores = store.pairs_at_or_above(run_id, threshold)
    return duplicate_groups(a, b, scores, threshold, store.labels())


def export_groups(store: Store, run_id: int, path: str | Path, threshold: float) -> int:
    groups = run_groups(store, run_id, threshold)

    def rows():
        for g, members in enumerate(groups, start=1):
            for qid, text in zip(members, store.texts(members), strict=True):
                yield g, len(members), qid, text

    return _write(path, ["group", "group_size", "question_id", "question"], rows())


def export_unique(store: Store, run_id: int, path: str | Path, threshold: float) -> int:
    """Every question once, duplicates folded into their group's first question."""
    groups = run_groups(store, run_id, threshold)
    folded = {qid: g[0] for g in groups for qid in g[1:]}
    run = store.get_run(run_id)
    ids = [int(i) for i in store.question_ids(run.max_question_id) if int(i) not in folded]
    sizes = {g[0]: len(g) for g in groups}

    def rows():
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            for qid, text in zip(chunk, store.texts(chunk), strict=True):
                yield qid, text, sizes.get(qid, 1)

    return _write(path, ["question_id", "question", "copies"], rows())
