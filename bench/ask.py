"""Benchmark: "has this been asked before?" (core.ask.AskService): latency and quality.

    python bench/ask.py                         # all three parts
    python bench/ask.py --skip-100k             # without building the 100,000-question project
    python bench/ask.py --project-100k P.sqlite # reuse a project bench/scale.py mined
    python bench/ask.py --model fast            # projects mined with the fast SPLADE instead

Each project is mined with ``--model`` (default: the app's default SPLADE, the distilled one), and
Ask uses the model of the project's run, as the app does.

1. Latency on the 19,062 Quora dev questions, mined without reranking (the stored encodings
   the app would have): the first-ask cost (models loaded, index built) and the warm latency
   of one ask (encode, search, rerank the best 10 with the int8 CrossEncoder, explain), median
   and 95th percentile over ``--queries`` asks with dev questions' pair partners.
2. The same on the 100,000 questions of bench/scale.py's corpus (real questions and
   word-level variants of them), mined by the real CLI in a child process.
   Then three new processes open the project (as ``quoradesk ask`` does): the time from their
   models being loaded to the first answer, with the index the project keeps.
3. Quality on the held-out 15% of dev.tsv (training.split_held_out, seed 12: neither shipped
   model saw it): the project holds every held-out question but the second side of each
   duplicate pair; each such second side is asked, and we count how often its duplicate comes
   first and within the top 10. Beside it, all-MiniLM-L6-v2 with util.semantic_search on the
   same questions (MiniLM was trained on Quora duplicates: a flattering reference).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from quoradesk.core import models, training  # noqa: E402
from quoradesk.core.ask import AskService  # noqa: E402
from quoradesk.core.mining import MiningJob, MiningParams  # noqa: E402
from quoradesk.core.questions import load_questions  # noqa: E402
from quoradesk.core.store import Store  # noqa: E402

DEV = Path(os.environ.get("QUORADESK_DEV_TSV", REPO.parent / "shared" / "data" / "quora" / "dev.tsv"))


def mined_project(texts: list[str], folder: Path, sparse_model: Path) -> Path:
    src, db = folder / "questions.txt", folder / "project.sqlite"
    src.write_text("\n".join(texts) + "\n", encoding="utf-8")
    with Store(db) as store:
        store.add_import(load_questions(src))
        list(MiningJob(store, sparse_model=sparse_model, params=MiningParams(), device="cpu").run())
    return db


def latency(db: Path, queries: list[str], label: str) -> None:
    with Store(db, create=False) as store:
        started = time.perf_counter()
        service = AskService(store)
        opened = time.perf_counter() - started
        t = time.perf_counter()
        service.ask(queries[0])
        first = time.perf_counter() - t
        totals, parts = [], {"encode": [], "search": [], "rerank": []}
        for q in queries[1:]:
            t = time.perf_counter()
            result = service.ask(q)
            totals.append((time.perf_counter() - t) * 1000)
            for k in parts:
                parts[k].append(result.seconds[k] * 1000)
    p95 = float(np.percentile(totals, 95))
    print(f"{label}: {len(service.ids):,} questions; first ask: open {opened:.2f}s (models "
          f"{service.open_seconds['models']:.2f}s, index {service.open_seconds['index']:.2f}s) + first ask "
          f"{first * 1000:.0f} ms")
    print(f"  warm, {len(totals)} asks: median {statistics.median(totals):.1f} ms, p95 {p95:.1f} ms "
          f"(median encode {statistics.median(parts['encode']):.1f}, search {statistics.median(parts['search']):.1f}, "
          f"rerank {statistics.median(parts['rerank']):.1f}; the rest: labels and explanations)")
    fresh(db, queries[0])


FRESH = """
import sys, time, json
from quoradesk.core.ask import AskService
from quoradesk.core.store import Store
with Store(sys.argv[1], create=False) as store:
    service = AskService(store)
    t = time.perf_counter()
    service.ask(sys.argv[2])
    print(json.dumps({**service.open_seconds, "first": time.perf_counter() - t, "kept": service.index_kept}))
"""


def fresh(db: Path, question: str, rounds: int = 3) -> None:
    """A new process opening the project, as ``quoradesk ask`` or ``serve`` does: the index the
    project keeps (core.ask.index_cache, written by the open above) against the models' loading."""
    import json
    import subprocess

    for i in range(rounds):
        out = subprocess.run([sys.executable, "-c", FRESH, str(db), question], capture_output=True, text=True,
                             check=True, cwd=REPO)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  fresh process {i + 1}: models {r['models']:.2f}s, then index {r['index']:.2f}s "
              f"({'kept' if r['kept'] else 'built'}) + first ask {r['first'] * 1000:.0f} ms: ready "
              f"{r['index'] + r['first']:.2f}s after the models")


def quality(folder: Path, sparse_model: Path) -> None:
    pairs = training.read_pair_file(DEV)
    _, held = training.split_held_out(pairs, 0.15, seed=12)
    asked = {b for b, y in zip(held.q2, held.labels, strict=True) if y}
    corpus = sorted((set(held.q1) | set(held.q2)) - asked)
    queries = [(b, a) for a, b, y in zip(held.q1, held.q2, held.labels, strict=True) if y and a in corpus]
    print(f"held-out: {len(corpus):,} questions in the project, {len(queries)} duplicates asked")
    db = mined_project(corpus, folder, sparse_model)
    with Store(db, create=False) as store:
        for name, reranker, weight in (
            ("QuoraDesk, SPLADE + int8 CrossEncoder, cosine in context (default)", True, None),
            ("QuoraDesk, SPLADE + int8 CrossEncoder, cosine (before)", True, 0.0),
            ("QuoraDesk, SPLADE alone, cosine in context", None, None),
            ("QuoraDesk, SPLADE alone, cosine (before)", None, 0.0),
        ):
            service = AskService(store, reranker=reranker, margin_weight=weight)
            first = top10 = 0
            t = time.perf_counter()
            for q, want in queries:
                texts = [m.text for m in service.ask(q, top=10).matches]
                first += bool(texts) and texts[0] == want
                top10 += want in texts
            ms = (time.perf_counter() - t) / len(queries) * 1000
            print(f"  {name}: first {first / len(queries):.3f}, top 10 {top10 / len(queries):.3f} "
                  f"({ms:.1f} ms an ask)")
    from sentence_transformers import SentenceTransformer, util

    minilm = SentenceTransformer(str(models.minilm_path()), device="cpu")
    t = time.perf_counter()
    emb = minilm.encode(corpus, batch_size=64, convert_to_tensor=True, normalize_embeddings=True)
    q_emb = minilm.encode([q for q, _ in queries], batch_size=64, convert_to_tensor=True,
                          normalize_embeddings=True)
    hits = util.semantic_search(q_emb, emb, top_k=10)
    ms = (time.perf_counter() - t) / len(queries) * 1000
    first = sum(bool(h) and corpus[h[0]["corpus_id"]] == want for h, (_, want) in zip(hits, queries, strict=True))
    top10 = sum(want in {corpus[x["corpus_id"]] for x in h} for h, (_, want) in zip(hits, queries, strict=True))
    print(f"  all-MiniLM-L6-v2 semantic_search (trained on Quora: flattered): first "
          f"{first / len(queries):.3f}, top 10 {top10 / len(queries):.3f} ({ms:.1f} ms a question, batched, "
          "corpus encoding included)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--model", default=None,
                    help="the SPLADE the projects are mined with: a shipped name (distilled, the app's default; "
                         "accurate; fast) or a folder")
    ap.add_argument("--skip-100k", action="store_true")
    ap.add_argument("--project-100k", type=Path)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-latency", action="store_true", help="only the held-out quality")
    args = ap.parse_args()
    sparse_model = models.sparse_model_path(args.model)
    print(f"SPLADE: {models.describe(sparse_model)}")
    if not DEV.is_file():
        raise SystemExit(f"needs the Quora dev pairs at {DEV} (set QUORADESK_DEV_TSV)")
    folder = Path(tempfile.mkdtemp(prefix="qd-ask-"))
    result = load_questions(DEV)
    texts = [q.text for q in result.questions]
    # asked: the partners of labelled pairs, reworded a little so none is a stored text
    rng = np.random.default_rng(0)
    picks = rng.choice(len(result.labelled_pairs), args.queries + 1, replace=False)
    queries = [result.questions[result.labelled_pairs[i].b].text.rstrip("?") + " ?" for i in picks]
    if args.skip_latency:
        args.skip_100k = True
    else:
        (folder / "19k").mkdir()
        latency(mined_project(texts, folder / "19k", sparse_model), queries, "19k dev questions")
    if not args.skip_100k:
        if args.project_100k is None:
            from scale import mine_in_child, variants

            (folder / "100k").mkdir()
            project, _ = mine_in_child(variants(texts, 100_000), folder / "100k")
        else:
            project = args.project_100k
        latency(project, queries, "100k scale corpus")
    if not args.skip_quality:
        (folder / "held").mkdir()
        quality(folder / "held", sparse_model)


if __name__ == "__main__":
    main()
