"""Damaged copies of a project and the labels they should give back (tests and bench/damage.py).

    from damaged_projects import damaged_copy, labelled_project, labels_by_text
"""

from __future__ import annotations

import random
import shutil

from quoradesk.core import models
from quoradesk.core.mining import MiningJob, MiningParams
from quoradesk.core.questions import load_questions
from quoradesk.core.resources import SAMPLE_QUESTIONS
from quoradesk.core.store import Store, journal_path

LABELLED = 30


def labelled_project(folder):
    """The sample mined with the fast SPLADE (no reranker) into ``folder``, 30 pairs labelled,
    one undone: (the project, its labels by question texts)."""
    db = folder / "p.sqlite"
    with Store(db) as store:
        store.add_import(load_questions(SAMPLE_QUESTIONS))
        list(MiningJob(store, sparse_model=models.sparse_model_path("fast"), reranker=None,
                       params=MiningParams(), device="cpu").run())
        run = store.latest_run("done")
        for i, pair in enumerate(store.top_pairs(run.id, limit=LABELLED)):
            store.set_label(pair.a, pair.b, ("accepted", "rejected", "unsure")[i % 3])
        store.undo_label()
        labels = {tuple(sorted(store.texts([a, b]))): label for (a, b), label in store.labels().items()}
    return db, labels


def damaged_copy(src, dst, kind: str, seed: int):
    shutil.copy(src, dst)
    shutil.copy(journal_path(src), journal_path(dst))
    data = bytearray(dst.read_bytes())
    rng = random.Random(seed)
    if kind == "noise":  # 16 KB of random bytes in the middle
        at = rng.randrange(4096, len(data) - 16384)
        data[at:at + 16384] = rng.randbytes(16384)
    elif kind == "truncated":
        data = data[: rng.randrange(4096, len(data))]
    elif kind == "zeroed page":
        page = rng.randrange(1, len(data) // 4096)
        data[page * 4096:(page + 1) * 4096] = bytes(4096)
    dst.write_bytes(bytes(data))
    return dst


def labels_by_text(path) -> dict:
    with Store(path, create=False) as store:
        return {tuple(sorted(store.texts([a, b]))): label for (a, b), label in store.labels().items()}
