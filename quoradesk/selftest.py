"""``quoradesk --self-test``: prove an installation works, headless and offline.

Checks the shipped models, imports the bundled sample into a throw-away project, mines it with
the default models and scores what it found against the sample's known paraphrase groups.
Prints each step and returns 0 only when every step passed, so a bundle can be checked by
running it once::

    $ quoradesk --self-test
    models: splade-quora ok, cross-quora ok
    sample: 233 questions imported, 0 rows rejected
    spreadsheets: .xlsx and .parquet read
    mined: 1597 pairs in 7.3 s (encode 5.2 s, rerank 0.6 s, search 0.0 s) on cpu
    known paraphrase pairs found: 84 of 90 (recall 0.93), average precision 0.73
    self-test passed
"""

from __future__ import annotations

import csv
import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Floors well under what the shipped models reach on the sample (recall 0.93, AP 0.73 when
# measured): a model that loads but is broken falls far below them.
MIN_RECALL = 0.8
MIN_AP = 0.6


def sample_gold_pairs(path: Path) -> set[tuple[str, str]]:
    """Pairs of sample questions that share a paraphrase group (texts, sorted)."""
    groups: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("paraphrase_group"):
                groups.setdefault(row["paraphrase_group"], []).append(row["question"])
    return {tuple(sorted(p)) for qs in groups.values() for p in itertools.combinations(qs, 2)}


def check_spreadsheets(texts: list[str], folder: Path) -> str | None:
    """Write ``texts`` as an .xlsx workbook and a Parquet file and read them back: the readers
    (openpyxl, pyarrow.parquet) are imported lazily, so only a run shows a bundle has them."""
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .core.questions import load_questions

    book = openpyxl.Workbook()
    book.active.append(["question"])
    for text in texts:
        book.active.append([text])
    book.save(folder / "sample.xlsx")
    pq.write_table(pa.table({"question": texts}), folder / "sample.parquet")
    for name in ("sample.xlsx", "sample.parquet"):
        got = [q.text for q in load_questions(folder / name).questions]
        if got != texts:
            return f"{name}: read {len(got)} questions back of {len(texts)} written"
    return None


def self_test(out: Callable[[str], None] = print, device: str = "auto") -> int:
    from .core import models
    from .core.mining import MiningJob
    from .core.questions import load_questions
    from .core.resources import SAMPLE_QUESTIONS
    from .core.store import Store
    from .core.training import mining_metrics

    try:
        shipped = (models.SHIPPED_SPARSE_MINILM, models.SHIPPED_SPARSE_DISTILLED, models.SHIPPED_SPARSE, models.SHIPPED_CROSS,
                   models.SHIPPED_CROSS_DISTILLED)
        for path in shipped:
            models.check_model_dir(path, "shipped model")
    except models.ModelError as exc:
        out(f"FAILED: {exc}")
        return 1
    out("models: " + ", ".join(f"{p.name} ok" for p in shipped))
    result = load_questions(SAMPLE_QUESTIONS)
    with tempfile.TemporaryDirectory(prefix="quoradesk-selftest-") as tmp, Store(Path(tmp) / "t.sqlite") as store:
        store.add_import(result)
        out(f"sample: {len(result.questions)} questions imported, {len(result.rejected)} rows rejected")
        problem = check_spreadsheets([q.text for q in result.questions[:50]], Path(tmp))
        if problem:
            out(f"FAILED: {problem}")
            return 1
        out("spreadsheets: .xlsx and .parquet read")
        started = time.perf_counter()
        job = MiningJob(store, sparse_model=models.default_sparse_model_path(), reranker=models.default_reranker_path(),
                        device=device)
        for _ in job.run():
            pass
        seconds = time.perf_counter() - started
        run = store.get_run(job.run_record.id)
        if run.status != "done":
            out(f"FAILED: the mining run ended as {run.status} ({run.note})")
            return 1
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in run.timings.items())
        out(f"mined: {store.count_pairs(run.id)} pairs in {seconds:.1f} s ({stages}) on {job.device}")
        from .core.models import Int8CrossEncoder

        engine = "int8 in ONNX Runtime" if isinstance(job.reranker(), Int8CrossEncoder) else "float32"
        out(f"reranker: {engine}" + (f" ({job.reranker_note})" if job.reranker_note else ""))
        ids = store._ids_for_texts(q.text for q in result.questions)
        gold = [(ids[a], ids[b]) for a, b in sample_gold_pairs(SAMPLE_QUESTIONS) if a in ids and b in ids]
        ranked = [(p.a, p.b) for p in store.iter_pairs(run.id)]
        m = mining_metrics(ranked, gold)
        out(f"known paraphrase pairs found: {m.found} of {m.gold} (recall {m.recall:.2f}), "
            f"average precision {m.average_precision:.2f}")
        for p in store.top_pairs(run.id, limit=3):
            score = p.score if p.score is not None else p.first_score
            out(f"  {score:.3f}  {p.text_a}  <->  {p.text_b}")
    if m.recall < MIN_RECALL or m.average_precision < MIN_AP:
        out(f"FAILED: expected recall >= {MIN_RECALL} and AP >= {MIN_AP} on the sample")
        return 1
    out("self-test passed")
    return 0
