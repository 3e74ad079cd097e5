"""What Ask needs to answer at once, kept beside the project: the inverted index over the stored
encodings and each question's usual closeness, as numpy files a new process maps instead of
rebuilding (reading 100,000 encodings out of SQLite and turning them token-major took seconds).

Usage::

    from quoradesk.core.ask.index_cache import AskIndex

    key = AskIndex.key_for(store, model_key, ids, context_run_id)
    index = AskIndex.load(store, key)          # None: none, or made for other questions or models
    index = AskIndex(key, ids, inverted, usual); index.save(store)

The files live in ``<project file>.ask/`` (a cache: deleting it costs one rebuild). ``key``
names what the index was made from: the project (its creation stamp), the model's content key,
the question ids, the stored encodings (their count and newest row: a re-encoding moves it) and
the run whose pairs gave the usual closeness; any change and ``load`` answers None. Arrays
are memory-mapped read-only: a search touches only its tokens' posting lists, so the first
answer waits for those pages, not for the whole index.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

VERSION = 1
ARRAYS = ("ids", "usual", "data", "indices", "indptr")


def cache_folder(store) -> Path:
    return store.path.with_name(store.path.name + ".ask")


@dataclass
class AskIndex:
    key: dict
    ids: np.ndarray  # question ids, ascending: the index's columns
    inverted: sparse.csr_matrix  # token-major, unit rows' weights (prepare(..., "cosine").T)
    usual: np.ndarray  # each question's usual closeness (NaN: none)

    @staticmethod
    def key_for(store, model_key: str, ids: np.ndarray, context_run: int | None) -> dict:
        count, newest = store.db.execute(
            "select count(*), max(rowid) from encodings where model_key = ?", [model_key]).fetchone()
        return {"version": VERSION, "project": store.meta("created"), "model_key": model_key,
                "questions": int(len(ids)), "max_id": int(ids[-1]) if len(ids) else 0,
                "id_sum": int(ids.sum()), "encodings": [int(count), int(newest or 0)], "context_run": context_run}

    @classmethod
    def load(cls, store, key: dict) -> AskIndex | None:
        folder = cache_folder(store) / "index"
        try:
            if json.loads((folder / "key.json").read_text()) != key:
                return None
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
            shape = tuple(json.loads((folder / "shape.json").read_text()))
        except (OSError, ValueError):
            return None
        if len(arrays["ids"]) != key["questions"] or len(arrays["indptr"]) != shape[0] + 1:
            return None
        inverted = sparse.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape, copy=False)
        inverted.has_sorted_indices = True  # saved sorted; a read-only map must not be sorted again
        return cls(key, np.asarray(arrays["ids"]), inverted, np.asarray(arrays["usual"]))

    def save(self, store) -> None:
        """Written into a new folder, then swapped in whole: a reader sees the old index or the
        new one, never half of each. A failure to write (a read-only folder, a full disk) is
        not an error: Ask rebuilds next time."""
        root = cache_folder(store)
        tmp = root / f".tmp-{uuid.uuid4().hex[:8]}"
        try:
            tmp.mkdir(parents=True)
            arrays = {"ids": self.ids, "usual": self.usual, "data": self.inverted.data,
                      "indices": self.inverted.indices, "indptr": self.inverted.indptr}
            for name, array in arrays.items():
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(array))
            (tmp / "shape.json").write_text(json.dumps(list(self.inverted.shape)))
            (tmp / "key.json").write_text(json.dumps(self.key))  # last: a folder without it is no index
            old = root / f".old-{uuid.uuid4().hex[:8]}"
            target = root / "index"
            if target.exists():
                target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
