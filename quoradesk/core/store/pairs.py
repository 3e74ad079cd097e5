"""A run's candidate pairs in the project store: writing them, the reranker's scores, and
the ranked, filtered, paged reads the Review tab and the exports make (``Store``'s)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .writes import _writes


@dataclass
class Pair:
    a: int
    b: int
    text_a: str
    text_b: str
    sparse_score: float
    rerank_score: float | None
    rank: int
    label: str | None
    score: float | None  # the run's ranking score (see Store.rerank_weight); None: not reranked
    first_score: float | None = None  # the first stage's ranking score (core.search.margins); orders the rest


# A Pair's columns, in Pair's order, with both texts and the label.
PAIR_ROWS = """
    select p.a, p.b, qa.text, qb.text, p.sparse_score, p.rerank_score, p.rank, l.label, p.score, p.first_score
    from pairs p
    join questions qa on qa.id = p.a
    join questions qb on qb.id = p.b
    left join labels l on l.a = p.a and l.b = p.b
"""


class PairsMixin:
    """Store methods over the ``pairs`` table (``self.db``: the project's Database)."""

    @_writes
    def replace_pairs(
        self, run_id: int, a: np.ndarray, b: np.ndarray, scores: np.ndarray, ranks: np.ndarray,
        *, first_scores: np.ndarray | None = None, **run_fields,
    ) -> None:
        """Store a run's candidate pairs (a < b) and move the run on, in one transaction.
        ``scores``: the sparse similarities; ``first_scores``: the first stage's ranking scores
        (core.search.margins; None: the similarities themselves)."""
        reranked = self.rerank_weight(run_id) is not None
        first_scores = scores if first_scores is None else first_scores
        self.db.execute("delete from pairs where run_id = ?", [run_id])
        # In slices: Python lists of a whole large run (5M pairs at 500,000 questions) would
        # take about 1 GB; one slice of numbers at a time keeps the peak flat.
        step = 100_000
        for lo in range(0, len(a), step):
            part = slice(lo, lo + step)
            sparse_scores = scores[part].astype(float).tolist()
            firsts = first_scores[part].astype(float).tolist()
            self.db.conn.executemany(
                "insert into pairs (run_id, a, b, sparse_score, rerank_score, rank, score, first_score) "
                "values (?, ?, ?, ?, NULL, ?, ?, ?)",
                zip(
                    [run_id] * len(sparse_scores), a[part].tolist(), b[part].tolist(), sparse_scores,
                    ranks[part].tolist(), [None] * len(sparse_scores) if reranked else firsts, firsts,
                    strict=True,
                ),
            )
        if run_fields:
            self.update_run(run_id, **run_fields)

    @_writes
    def copy_run_to_rerank(self, run, *, reranker: str, reranker_key: str, params: dict, device: str,
                           note: str = ""):
        """A new run over ``run``'s questions and candidate pairs (no encoding, no search), waiting
        at its rerank stage for ``reranker``: how a project's improved CrossEncoder re-ranks its
        latest run. One transaction: the new run exists with all its pairs, or not at all."""
        new = self.create_run(sparse_model=run.sparse_model, sparse_model_key=run.sparse_model_key,
                              reranker=reranker, reranker_key=reranker_key, params=params, device=device,
                              note=note)
        self.db.execute(
            "insert into pairs (run_id, a, b, sparse_score, rerank_score, rank, score, first_score) "
            "select ?, a, b, sparse_score, NULL, rank, NULL, first_score from pairs where run_id = ?",
            [new.id, run.id])
        self.update_run(new.id, stage="rerank", max_question_id=run.max_question_id,
                        question_count=run.question_count)
        return self.get_run(new.id)

    @_writes
    def delete_run(self, run_id: int) -> None:
        """A run and its pairs (labels belong to question pairs, not runs: they stay)."""
        self.db.execute("delete from pairs where run_id = ?", [run_id])
        self.db.execute("delete from runs where id = ?", [run_id])

    def pairs_to_rerank(
        self, run_id: int, max_rank: int, limit: int, *, min_first: float = 0.0
    ) -> list[tuple[int, int]]:
        """Pairs still to rerank: among a question's best ``max_rank`` by cosine, first-stage
        score at least ``min_first``."""
        return [
            (r[0], r[1])
            for r in self.db.execute(
                "select a, b from pairs where run_id = ? and rerank_score is null and rank <= ? "
                "and first_score >= ? order by a, b limit ?",
                [run_id, max_rank, min_first, limit],
            )
        ]

    def count_pairs(
        self, run_id: int, *, max_rank: int | None = None, reranked: bool | None = None,
        min_first: float | None = None,
    ) -> int:
        sql, args = "select count(*) from pairs where run_id = ?", [run_id]
        if max_rank is not None:
            sql, args = sql + " and rank <= ?", [*args, max_rank]
        if min_first is not None:
            sql, args = sql + " and first_score >= ?", [*args, min_first]
        if reranked is not None:
            sql += " and rerank_score is not null" if reranked else " and rerank_score is null"
        return self.db.execute(sql, args).fetchone()[0]

    def rerank_weight(self, run_id: int) -> float | None:
        """A run's ranking score is ``w * rerank + (1 - w) * first`` (None: no reranker, the
        first-stage score alone; ``first_score``, core.search.margins). Cosine runs mix the two: on
        held-out Quora questions mining AP was 0.58 cosine alone, 0.46 reranker alone, 0.63 mixed
        half and half (the first SPLADE and reranker; today's figures in README). A candidate never
        reranked has no score (NULL): it ranks after every reranked pair and passes no
        threshold."""
        row = self.db.execute("select reranker, params from runs where id = ?", [run_id]).fetchone()
        if not row or not row[0]:
            return None
        return float(json.loads(row[1] or "{}").get("rerank_weight", 1.0))

    def pair_scores(self, run_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, ranking score with NaN where there is none) for a whole run."""
        rows = self.db.execute(
            "select a, b, coalesce(score, 'nan') from pairs where run_id = ? order by a, b",
            [run_id],
        ).fetchall()
        return _pair_arrays(rows)

    def pair_cosines(self, run_id: int, max_rank: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, first-stage similarity) of a run's pairs, in no order; ``max_rank``: only
        pairs among either question's best ``max_rank`` neighbours."""
        sql, args = "select a, b, sparse_score from pairs where run_id = ?", [run_id]
        if max_rank is not None:
            # Read in table order, not through the run's index: a run's pairs lie together, and
            # the index's lookup of every row to test its rank took 23 s for a million
            # questions' 10M pairs, against 0.9 s (warm) for the scan.
            sql, args = sql.replace("from pairs", "from pairs not indexed") + " and rank <= ?", args + [max_rank]
        return _pair_arrays(self.db.execute(sql, args).fetchall())

    def ranking_scores(self, run_id: int) -> np.ndarray:
        """Every ranking score a run has (pairs never reranked have none), in no order. Read
        from the ranking index alone: 6 ms for a 19k-question run, against 200 ms for
        ``pair_scores``, and the Review tab asks for it on the UI thread."""
        rows = self.db.execute(
            "select score from pairs where run_id = ? and score is not null", [run_id]
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.float64, count=len(rows))

    def pairs_at_or_above(self, run_id: int, min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, score) of the pairs scoring at least ``min_score``, from the ranking index."""
        rows = self.db.execute(
            "select a, b, score from pairs where run_id = ? and score >= ?", [run_id, min_score]
        ).fetchall()
        return _pair_arrays(rows)

    @_writes
    def set_rerank_scores(self, run_id: int, rows: list[tuple[int, int, float]]) -> None:
        w = self.rerank_weight(run_id)
        w = 1.0 if w is None else w
        self.db.conn.executemany(
            "update pairs set rerank_score = ?1, score = ?2 * ?1 + ?3 * first_score "
            "where run_id = ?4 and a = ?5 and b = ?6",
            [(float(s), w, 1.0 - w, run_id, a, b) for a, b, s in rows],
        )

    PAIR_ORDERS = {
        "score": "",  # the run's ranking score: handled in top_pairs (index order)
        "question_a": "qa.text collate nocase",
        "question_b": "qb.text collate nocase",
        "label": "coalesce(l.label, '')",
    }

    def top_pairs(
        self, run_id: int, *, limit: int = 100, offset: int = 0, min_score: float | None = None,
        order: str = "score", descending: bool = True, search: str = "",
        after: Pair | None = None,
    ) -> list[Pair]:
        """Pairs of a run, best first by default (by the stored ranking score, see
        rerank_weight; candidates without one last). ``order`` sorts by another column; ``search`` keeps pairs where
        either question contains the text (case-insensitive). ``after`` (the last row of the
        previous page, best-first order only) pages through the index instead of OFFSET, so
        the 400th page costs what the first does."""
        where, args = self._pair_filter(run_id, min_score, search)
        if after is not None and order == "score" and descending and after.score is not None:
            # Rows without a score (never reranked) sort after every scored row.
            where += " and ((p.score, p.first_score, p.a, p.b) < (?, ?, ?, ?) or p.score is null)"
            args += [after.score, after.first_score, after.a, after.b]
            offset = 0
        if order not in self.PAIR_ORDERS:
            raise ValueError(f"order must be one of {sorted(self.PAIR_ORDERS)}")
        direction = "desc" if descending else "asc"
        if order == "score":  # NULL scores sort last in descending order: the index's order
            primary = f"p.score {direction}, p.first_score {direction}, p.a {direction}, p.b {direction}"
        else:
            primary = f"{self.PAIR_ORDERS[order]} {direction}, p.a, p.b"
        sql = f"{PAIR_ROWS} where {where} order by {primary} limit ? offset ?"
        return [Pair(*r) for r in self.db.execute(sql, [*args, limit, offset])]

    def pairs_by_keys(self, run_id: int, keys: list[tuple[int, int]]) -> list[Pair]:
        """The run's pairs named by (a, b), in the order given (a key the run lacks is left out)."""
        sql = f"{PAIR_ROWS} where p.run_id = ? and p.a = ? and p.b = ?"
        found = (self.db.execute(sql, [run_id, a, b]).fetchone() for a, b in keys)
        return [Pair(*r) for r in found if r is not None]

    def _pair_filter(self, run_id: int, min_score: float | None, search: str) -> tuple[str, list]:
        where, args = "p.run_id = ?", [run_id]
        if min_score is not None:
            where += " and p.score >= ?"
            args.append(min_score)
        if search:  # find the questions first (19k rows), then their pairs through indexes
            like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            match = "select id from questions where text like ? escape '\\'"
            where += f" and (p.a in ({match}) or p.b in ({match}))"
            args += [like, like]
        return where, args

    def count_pairs_matching(self, run_id: int, min_score: float | None, search: str = "") -> int:
        """Pairs at or above ``min_score`` (None: all) whose questions contain ``search``."""
        where, args = self._pair_filter(run_id, min_score, search)
        return self.db.execute(f"select count(*) from pairs p where {where}", args).fetchone()[0]

    def iter_pairs(self, run_id: int, *, min_score: float | None = None, chunk: int = 5000) -> Iterator[Pair]:
        """Every pair, best first, a page at a time through the ranking index (see top_pairs'
        ``after``), so exporting 500,000 pairs costs no deep OFFSET scans."""
        offset, last = 0, None
        while True:
            page = self.top_pairs(run_id, limit=chunk, offset=offset, min_score=min_score, after=last)
            if not page:
                return
            yield from page
            offset += len(page)
            last = page[-1]


def _pair_arrays(rows: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, score) arrays from ``(a, b, score)`` rows."""
    arr = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2]
