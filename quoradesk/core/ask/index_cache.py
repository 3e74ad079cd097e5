"""What Ask needs to answer at once, kept beside the project: the inverted index over the stored
encodings and each question's usual closeness, as numpy files a new process maps instead of
rebuilding (reading 100,000 encodings out of SQLite and turning them token-major took seconds).

Usage::

    from quoradesk.core.ask.index_cache import AskIndex

    key = AskIndex.key_for(store, model_key, ids, context_run_id)
    index = AskIndex.load(store, key)          # None: none, or made for other questions or models
    index = AskIndex.build(store, key, ids, dim)   # from the stored encodings, written, then mapped
    index = keep_index(store, model_key, dim)  # what a finished mining run leaves for Ask

The files live in ``<project file>.ask/`` (a cache: deleting it costs one rebuild). ``key``
names what the index was made from: the project (its creation stamp), the model's content key,
the question ids, the stored encodings (their count and newest row: a re-encoding moves it) and
the run whose pairs gave the usual closeness; any change and ``load`` answers None. Arrays
are memory-mapped read-only: a search touches only its tokens' posting lists, so the first
answer waits for those pages, not for the whole index. ``build`` writes the posting lists into
their files piece by piece (search.rows.CompactRows.token_major_parts): a million questions'
index (2.8 GB) never sits whole in memory beside the vectors' one compact copy (2.1 GB).
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from ..search.index import prepare_rows
from ..search.margins import NEIGHBOURS, usual_closeness
from ..search.rows import CompactRows, index_dtype

VERSION = 1
# Entries per transposed row block and per piece of posting lists while building: ~0.1 GB of
# temporaries each (16M, search's block, took 0.45 GB more at the peak; a million questions
# hold 350M entries, so the peak is the vectors' compact copy).
PIECE_ENTRIES = 4_000_000
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

    @classmethod
    def build(cls, store, key: dict, ids: np.ndarray, dim: int) -> AskIndex | None:
        """The index of ``ids``' stored encodings (every one must have one), kept: written
        straight into its files, then mapped as ``load`` maps it. None where it cannot be
        written (a read-only folder, a full disk, no entries): the caller builds one in memory."""
        rows = CompactRows.from_arrays(*store.encoding_arrays(key["model_key"], ids, index_dtype(dim)), dim=dim)
        if not rows.nnz:
            return None
        prepare_rows(rows, "cosine")
        usual = usual_closeness_of(store, ids, key["model_key"], key["context_run"])

        def write(folder: Path) -> None:
            for name, array in (("ids", ids), ("usual", usual), ("indptr", rows.posting_indptr())):
                np.save(folder / f"{name}.npy", np.ascontiguousarray(array))
            # The posting lists piece by piece, straight to their files (as np.save writes them).
            with open(folder / "data.npy", "wb") as data, open(folder / "indices.npy", "wb") as indices:
                for fh, dtype in ((data, np.float32), (indices, rows.position_dtype)):
                    np.lib.format.write_array_header_2_0(fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                              "fortran_order": False, "shape": (rows.nnz,)})
                spill = folder / "spill"  # the transposed row blocks, until joined into the lists
                spill.mkdir()
                for weights, positions in rows.token_major_parts(PIECE_ENTRIES, spill=spill):
                    weights.tofile(data)
                    positions.tofile(indices)
                shutil.rmtree(spill)
            (folder / "shape.json").write_text(json.dumps([dim, len(ids)]))

        return cls.load(store, key) if _write_folder(store, key, write) else None


def _write_folder(store, key: dict, write) -> bool:
    """``write(folder)`` into a new folder, then swapped in whole: a reader sees the old index or
    the new one, never half of each. False (and nothing left behind) when it cannot be written."""
    root = cache_folder(store)
    tmp = root / f".tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir(parents=True)
        write(tmp)
        (tmp / "key.json").write_text(json.dumps(key))  # last: a folder without it is no index
        old = root / f".old-{uuid.uuid4().hex[:8]}"
        target = root / "index"
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        return True
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    except BaseException:  # out of memory, interrupted: no half-written folder (or spill) left
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def usual_closeness_of(store, ids: np.ndarray, model_key: str, run_id: int | None) -> np.ndarray:
    """Per question of ``ids`` (ascending): its usual closeness in run ``run_id``
    (margins.usual_closeness over the run's cosines), NaN for a question the run did not see
    (imported since), all NaN when the run used another model or dot products, or is None."""
    usual = np.full(len(ids), np.nan)
    run = store.get_run(run_id) if run_id is not None else None
    if run is None or run.sparse_model_key != model_key or run.params.get("similarity") != "cosine":
        return usual
    # A question's best cosines are its best-ranked neighbours' (4x fewer rows to read)
    a, b, s = store.pair_cosines(run.id, max_rank=NEIGHBOURS)
    if not len(a):
        return usual
    seen = np.union1d(a, b)  # the run's questions in at least one pair
    closeness = usual_closeness(np.searchsorted(seen, a), np.searchsorted(seen, b), s, len(seen))
    where = np.minimum(np.searchsorted(ids, seen), len(ids) - 1)
    here = ids[where] == seen
    usual[where[here]] = closeness[here]
    return usual


def keep_index(store, model_key: str, dim: int) -> AskIndex | None:
    """Ask's index over every question of the project with this model, kept beside it: the one
    kept already when it is current, else built now. What the app and the CLI do once a mining
    run finishes, so that the first Ask answers at once. None when a question has no stored
    encoding with this model (Ask encodes those in memory) or nothing can be written."""
    ids = store.question_ids()
    if not len(ids) or len(store.missing_encodings(model_key, ids)):
        return None
    latest = store.latest_run("done")
    key = AskIndex.key_for(store, model_key, ids, latest.id if latest is not None else None)
    return AskIndex.load(store, key) or AskIndex.build(store, key, ids, dim)
