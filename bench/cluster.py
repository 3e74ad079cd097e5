"""Benchmark: mining on Ray (``--ray``) and the candidate search in Milvus Lite (``--milvus``).

    python bench/cluster.py                     # 20,000 questions: all three parts
    python bench/cluster.py --size 5000 --skip-milvus

What is printed:
  1. ``--ray local`` against the in-process run at ``--size`` questions (dev questions, then
     bench/scale.py's word-level variants of them), each the CLI in a child process with the
     app's defaults (shipped SPLADE and int8 CrossEncoder): wall seconds, stage seconds, and
     the agreement of the two runs (same best pair per question, largest score difference);
  2. Milvus Lite's search of those questions' vectors (write, then every question's top 10
     and strong neighbours, as mining asks) beside the in-process exact and pruned indexes,
     with the share of the exact pairs each finds;
  3. two Ray nodes on this machine (``ray start --head``, then ``ray start --address``, one
     CPU each): ``--ray HOST:PORT`` mines ``--two-node-size`` questions, and the run's note
     gives each node's count of encoded questions and reranked pairs.

Compare figures within one run on one box; say which box.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from scale import DEV, variants  # noqa: E402

from quoradesk.core.mining import MiningParams  # noqa: E402
from quoradesk.core.questions import load_questions  # noqa: E402
from quoradesk.core.search.index import PrunedIndex, SparseIndex, prepare  # noqa: E402
from quoradesk.core.store import Store  # noqa: E402

RAY = str(Path(sys.executable).parent / "ray")


def write_questions(texts: list[str], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["question"])
        writer.writerows([t] for t in texts)
    return path


def mine(src: Path, db: Path, *extra: str) -> tuple[float, dict, str]:
    """The CLI in a child process: (wall seconds, stage seconds, run note)."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "quoradesk", "mine", str(src), "--db", str(db), "--quiet",
                    "--show", "0", *extra], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    with Store(db) as store:
        run = store.latest_run("done")
        return wall, run.timings, run.note


def pairs(db: Path) -> dict:
    con = sqlite3.connect(db)
    run = con.execute("select max(id) from runs where status = 'done'").fetchone()[0]
    rows = con.execute("select a, b, sparse_score, score from pairs where run_id = ?", [run]).fetchall()
    return {(a, b): (s, score) for a, b, s, score in rows}


def agreement(x: dict, y: dict) -> tuple[float, float]:
    def best(p):
        out = {}
        for (a, b), (s, score) in p.items():
            key = (-1.0 if score is None else score, s)
            for q, o in ((a, b), (b, a)):
                if q not in out or key > out[q][0]:
                    out[q] = (key, o)
        return {q: o for q, (_, o) in out.items()}

    bx, by = best(x), best(y)
    common = x.keys() & y.keys()
    return (sum(by.get(q) == o for q, o in bx.items()) / len(bx),
            max((abs(x[k][0] - y[k][0]) for k in common), default=0.0))


def ray_overhead(texts: list[str], tmp: Path) -> Path:
    src = write_questions(texts, tmp / "questions.csv")
    print(f"\n1. {len(texts):,} questions, app defaults (rerank int8), CLI in a child process")
    results, encode = {}, {}
    for name, extra in (("in-process", ()), ("--ray local", ("--ray", "local"))):
        db = tmp / f"{name.strip('-').replace(' ', '_')}.sqlite"
        wall, stages, note = mine(src, db, *extra)
        results[name], encode[name] = db, stages.get("encode", 0.0)
        staged = ", ".join(f"{k} {v:.1f}s" for k, v in stages.items())
        print(f"   {name:12} {wall:6.1f} s wall ({staged})")
        if note and "Ray" in note:
            print(f"   {'':12} {note}")
            # The worker's own rate (its encoding calls, without its start and model loading)
            # against the in-process stage's (which includes loading its model: a bound in
            # Ray's disfavour).
            worker = re.search(r"encode [\d,]+ questions \(node \w+ [\d,]+ at ([\d,]+) a second", note)
            if worker and encode["in-process"]:
                here = len(texts) / encode["in-process"]
                rate = int(worker.group(1).replace(",", ""))
                print(f"   encoding rate: Ray worker {rate:,} a second, in-process stage {here:,.0f} a second "
                      f"({rate / here:.2f}x); the Ray stage {encode[name] / encode['in-process']:.2f}x the "
                      "in-process one's time")
    same, diff = agreement(pairs(results["in-process"]), pairs(results["--ray local"]))
    print(f"   same best pair for {same:.2%} of questions; largest sparse score difference {diff:.1e}")
    return results["in-process"]


def milvus_search(project: Path, tmp: Path) -> None:
    from quoradesk.core.cluster.milvus_index import MilvusIndex, connect_milvus

    with Store(project) as store:
        run = store.latest_run("done")
        ids = store.question_ids(run.max_question_id)
        matrix = prepare(store.load_encodings(run.sparse_model_key, ids), "cosine")
    p = MiningParams()
    strong = dict(keep_above=p.keep_above, max_neighbours=p.max_neighbours)
    print(f"\n2. candidate search over {matrix.shape[0]:,} questions (top {p.top_k} + strong neighbours)")
    found = {}
    for name, make in (("exact (in-process)", lambda: SparseIndex(matrix)),
                       ("pruned (in-process)", lambda: PrunedIndex(matrix))):
        t = time.perf_counter()
        found[name] = make().all_pairs(p.top_k, **strong)
        print(f"   {name:22} {time.perf_counter() - t:7.1f} s")
    client = connect_milvus(str(tmp / "vectors.db"))
    try:
        t = time.perf_counter()
        index = MilvusIndex(client, "bench", matrix, ids)
        write = time.perf_counter() - t
        parts = [part for _, part in index.iter_neighbours(index.chunks(), p.top_k, **strong)]
        search = time.perf_counter() - t - write
        import numpy as np

        from quoradesk.core.search.index import canonical_pairs

        found["Milvus Lite"] = canonical_pairs(*(np.concatenate(x) for x in zip(*parts, strict=True)), index.n)
        print(f"   {'Milvus Lite':22} {write + search:7.1f} s (write {write:.1f} s, search {search:.1f} s, "
              f"{1000 * search / index.n:.1f} ms a question)")
    finally:
        client.close()
    exact = found["exact (in-process)"]
    want = set(zip(exact[0].tolist(), exact[1].tolist()))
    for name in ("pruned (in-process)", "Milvus Lite"):
        got = set(zip(found[name][0].tolist(), found[name][1].tolist()))
        print(f"   {name}: {len(got):,} pairs, {len(got & want) / len(want):.2%} of the exact index's {len(want):,}")


def two_nodes(texts: list[str], tmp: Path, port: int) -> None:
    src = write_questions(texts, tmp / "two_nodes.csv")
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    # `ray start --head` turns token authentication on; the second node and the driver must
    # then use it too (the token is in ~/.ray/auth_token).
    os.environ["RAY_AUTH_MODE"] = "token"
    print(f"\n3. two Ray nodes on this machine (one CPU each), {len(texts):,} questions, --ray {address}")
    try:
        subprocess.run([RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false", *common],
                       check=True, capture_output=True)
        subprocess.run([RAY, "start", "--address", address, *common], check=True, capture_output=True)
        # Chunks of 512 questions, so that both nodes get several.
        wall, stages, note = mine(src, tmp / "two_nodes.sqlite", "--ray", address, "--chunk-size", "512")
        staged = ", ".join(f"{k} {v:.1f}s" for k, v in stages.items())
        print(f"   {wall:.1f} s wall ({staged})")
        for part in re.split(r"; (?=encode|rerank)", note.split("on Ray ", 1)[-1]):
            print(f"   {part}")
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=20_000)
    ap.add_argument("--two-node-size", type=int, default=5_000)
    ap.add_argument("--port", type=int, default=6390)
    ap.add_argument("--skip-milvus", action="store_true")
    ap.add_argument("--skip-two-nodes", action="store_true")
    args = ap.parse_args()
    if not DEV.is_file():
        sys.exit(f"needs the Quora dev questions at {DEV} (or QUORADESK_DEV_TSV)")
    real = [q.text for q in load_questions(DEV).questions]
    texts = variants(real, args.size)
    print(f"box: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}")
    tmp = Path(tempfile.mkdtemp(prefix="quoradesk-bench-cluster-"))
    try:
        project = ray_overhead(texts, tmp)
        if not args.skip_milvus:
            milvus_search(project, tmp)
        if not args.skip_two_nodes:
            two_nodes(texts[: args.two_node_size], tmp, args.port)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"size": args.size}))


if __name__ == "__main__":
    main()
