"""Does the app learn a user's data from their labels? A simulated user labels the pairs
``quoradesk suggest`` asks for (or as many chosen at random), then runs ``improve``.

    python bench/adapt.py                       # 5 seeds, 100/200/400 labels, suggested and random
    python bench/adapt.py --seeds 1 --steps 100 200

The user's file: every question of dev.tsv's held-out 15% (split_held_out, seed 12: no shipped
model trained on them; about 2,900 questions). It is mined once with the app's defaults. The
user answers a pair "accepted" when Quora's labels put its two questions in one group of
duplicates (connected labelled duplicates), else "rejected": the gold of the mining AP too.
For each seed and way of choosing, labels accumulate (100, then 100 more, then 200 more), each
step followed by ``improve`` on a copy of the project; AP is the latest run's mining AP over
the pairs the user did not label (labelled pairs leave the ranking and the gold alike), against
the first run's AP over the same pairs. The shipped models know Quora: this measures a domain
they have seen, with questions they have not; a truly new domain has more to learn.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from quoradesk.core.adapt import ImproveConfig, ImproveJob, ImproveResult, suggest_pairs  # noqa: E402
from quoradesk.core.adapt.suggest import SPREAD_SHARE  # noqa: E402
from quoradesk.core.mining import MiningJob  # noqa: E402
from quoradesk.core.questions import load_questions  # noqa: E402
from quoradesk.core.store import Store  # noqa: E402
from quoradesk.core.training import TrainingError, read_pair_file, split_held_out  # noqa: E402
from quoradesk.core.training.data import connected  # noqa: E402

DEV = Path(os.environ.get("QUORADESK_DEV_TSV", REPO.parent / "shared" / "data" / "quora" / "dev.tsv"))


def held_out():
    _, held = split_held_out(read_pair_file(DEV), 0.15, seed=12)
    return held


def duplicate_groups(held=None) -> dict[str, str]:
    """Each held-out question text's group of duplicates (connected labelled duplicates)."""
    held = held or held_out()
    texts = sorted(set(held.q1) | set(held.q2))
    return connected(texts, [(a, b) for a, b, y in zip(held.q1, held.q2, held.labels, strict=True) if y == 1])


# --topics: questions of whole topics, which the bench's CrossEncoder never trained on.
TOPICS = re.compile(r"\b(trump|hillary|clinton|election|president|obama|politic\w*|rupees?|demoneti[sz]\w*|"
                    r"black money|modi|rbi|python|java|javascript|programming|c\+\+|coding|software|developer|"
                    r"algorithms?|computers?)\b", re.I)


def in_topics(a: str, b: str) -> bool:
    return bool(TOPICS.search(a) or TOPICS.search(b))


def topic_pairs():
    """(every labelled pair of the topics, the other pairs' training and held-out splits)."""
    pairs = read_pair_file(DEV)
    keep = [i for i in range(len(pairs)) if in_topics(pairs.q1[i], pairs.q2[i])]
    rest = pairs.subset([i for i in range(len(pairs)) if i not in set(keep)])
    topic = pairs.subset(keep)
    # The rest's pairs sharing a question with a topic pair go too: no topic question is trained on.
    seen = set(topic.q1) | set(topic.q2)
    rest = rest.subset([i for i in range(len(rest)) if rest.q1[i] not in seen and rest.q2[i] not in seen])
    train, held = split_held_out(rest, 0.15, seed=12)
    return topic, train, held


def topic_reranker(folder: Path) -> Path:
    """A CrossEncoder trained as the shipped one is (MiniLM base, BinaryCrossEntropyLoss, one
    epoch; without its extra negatives) on the Quora pairs outside the topics, calibrated on
    their held-out split; made once into ``folder``."""
    from quoradesk.core import models
    from quoradesk.core.training import CrossConfig, train_cross

    out = folder / "cross-without-topics"
    if (out / "quoradesk_training.json").is_file():
        return out
    _, train, held = topic_pairs()
    print(f"training the topic-blind CrossEncoder on {len(train):,} pairs ({len(held):,} held out)", flush=True)
    t0 = time.perf_counter()
    result = train_cross(models.minilm_path(), train, held, out, CrossConfig(epochs=1, learning_rate=5e-5),
                         device="cpu", overwrite=True)
    print(f"  {time.perf_counter() - t0:.0f} s; held-out AP {result.metrics.get('held_out_average_precision')}",
          flush=True)
    return out


def make_project(folder: Path, topics: bool = False) -> tuple[Path, dict[str, str]]:
    """The held-out questions (or the topics') mined with the defaults; each question text's
    duplicate group."""
    from quoradesk.core import models

    held = topic_pairs()[0] if topics else held_out()
    reranker = topic_reranker(folder) if topics else models.default_reranker_path()
    texts = sorted(set(held.q1) | set(held.q2))
    group = duplicate_groups(held)
    src = folder / "questions.txt"
    src.write_text("\n".join(t.replace("\n", " ") for t in texts) + "\n", encoding="utf-8")
    db = folder / "base.sqlite"
    with Store(db) as store:
        store.add_import(load_questions(src))
        job = MiningJob(store, reranker=reranker)
        t0 = time.perf_counter()
        for _ in job.run():
            pass
        print(f"mined {store.question_count():,} questions in {time.perf_counter() - t0:.0f} s: "
              f"{store.count_pairs(job.run_record.id):,} pairs", flush=True)
    return db, group


def mining_ap(store, run_id: int, group: dict[str, str], excluded: set[tuple[int, int]]) -> float:
    """AP of the run's ranking against the duplicate groups, labelled pairs left out of both."""
    ids = store.question_ids()
    text = dict(zip(ids.tolist(), store.texts(ids), strict=True))
    by_group: dict[str, list[int]] = {}
    for q, t in text.items():
        by_group.setdefault(group.get(t, t), []).append(q)
    gold = {(a, b) for qs in by_group.values() for i, a in enumerate(sorted(qs)) for b in sorted(qs)[i + 1:]}
    gold -= excluded
    hits = mined = 0
    total = 0.0
    for p in store.iter_pairs(run_id):
        key = (p.a, p.b)
        if key in excluded:
            continue
        mined += 1
        if key in gold:
            hits += 1
            total += hits / mined
    return total / max(len(gold), 1)


def answer(store, a: int, b: int, group: dict[str, str]) -> str:
    ta, tb = store.texts([a, b])
    return "accepted" if group.get(ta, ta) == group.get(tb, tb) else "rejected"


def random_pairs(store, run_id: int, n: int, rng) -> list[tuple[int, int]]:
    """``n`` unlabelled pairs drawn uniformly from those ``suggest`` draws from: the ranked list
    (in a reranked run, the pairs the CrossEncoder scored)."""
    rows = store.db.execute(
        "select p.a, p.b from pairs p left join labels l on l.a = p.a and l.b = p.b "
        "where p.run_id = ? and l.label is null and p.score is not null order by p.a, p.b", [run_id]).fetchall()
    return [tuple(rows[i]) for i in rng.choice(len(rows), size=min(n, len(rows)), replace=False)]


def play(base: Path, group, way: str, seed: int, steps: list[int], folder: Path, config: dict,
         spread: float = SPREAD_SHARE) -> list[dict]:
    db = folder / f"{way}-{seed}.sqlite"
    for old in folder.glob(f"{db.name}*"):  # an earlier run's file, WAL, journal and models
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    shutil.copy(base, db)
    rng = np.random.default_rng(seed)
    out = []
    with Store(db) as store:
        first = store.latest_run("done").id
        for target in steps:
            run = store.latest_run("done")
            have = len([v for v in store.labels().values() if v in ("accepted", "rejected")])
            want = target - have
            keys = ([(s.a, s.b) for s in suggest_pairs(store, want, seed=seed + target, spread=spread)]
                    if way == "suggest"
                    else random_pairs(store, run.id, want, rng))
            for a, b in keys:
                store.set_label(a, b, answer(store, a, b, group))
            t0 = time.perf_counter()
            try:
                job = ImproveJob(store, config=ImproveConfig(**{"seed": seed, **config}))
                for _ in job.run():
                    pass
                result = job.result
            except TrainingError as exc:  # too few or one-sided labels: the app says so, changes nothing
                result = ImproveResult(False, str(exc))
            seconds = time.perf_counter() - t0
            labelled = set(store.labels())
            latest = store.latest_run("done")
            row = {"way": way, "seed": seed, "labels": target,
                   "positives": sum(v == "accepted" for v in store.labels().values()),
                   "ap_first": round(mining_ap(store, first, group, labelled), 4),
                   "ap_now": round(mining_ap(store, latest.id, group, labelled), 4),
                   "kept": result.accepted, "check": [result.ap_before, result.ap_after],
                   "improve_s": round(seconds, 1), "stages_s": {k: round(v, 1) for k, v in result.seconds.items()}}
            if result.ap_before is None:
                row["why"] = result.message[:80]
            row["gain"] = round(row["ap_now"] - row["ap_first"], 4)
            print(json.dumps(row), flush=True)
            out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 200, 400])
    ap.add_argument("--ways", nargs="+", default=["suggest", "random"])
    ap.add_argument("--keep", type=Path, help="keep the projects in this folder")
    ap.add_argument("--base", type=Path, help="a project made by an earlier run (in --keep): not mined again")
    ap.add_argument("--topics", action="store_true",
                    help="the user's file: Quora questions of whole topics (politics, Indian money, programming), "
                         "reranked by a CrossEncoder trained without them (made first, about 15 minutes)")
    ap.add_argument("--spread", type=float, default=SPREAD_SHARE,
                    help="suggest's share of weight spread evenly over the probability range (the rest: doubt)")
    ap.add_argument("--config", default="{}", help='ImproveConfig fields as JSON, e.g. {"epochs": 1}')
    args = ap.parse_args()
    if not DEV.is_file():
        sys.exit(f"needs the Quora dev split at {DEV} (set QUORADESK_DEV_TSV)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if args.base:
            base, group = args.base, duplicate_groups(topic_pairs()[0] if args.topics else None)
        else:
            base, group = make_project(folder, args.topics)
        config = json.loads(args.config)
        rows = [r for seed in range(args.seeds) for way in args.ways
                for r in play(base, group, way, seed, args.steps, folder, config, args.spread)]
    print("\nlabels  way      AP gain (median, min..max over seeds)  kept  improve s (median)")
    for target in args.steps:
        for way in args.ways:
            sel = [r for r in rows if r["labels"] == target and r["way"] == way]
            g = [r["gain"] for r in sel]
            print(f"{target:6d}  {way:7s}  {np.median(g):+.4f} ({min(g):+.4f}..{max(g):+.4f})"
                  f"  {sum(r['kept'] for r in sel)}/{len(sel)}  {np.median([r['improve_s'] for r in sel]):.0f}")


if __name__ == "__main__":
    main()
