"""The vocabulary entries a SPLADE's head ever uses on questions: the int8 encoder computes the
head for those alone (``encode.encode_batches(int8_body=True)``).

Usage::

    from quoradesk.core.models import active_vocabulary

    vectors = encode_csr(model, training_questions)            # the whole head's vectors
    active_vocabulary.fit(folder, vectors)                    # once, into the model's folder
    columns = active_vocabulary.load(folder)                  # sorted ids, or None
    counts, questions = active_vocabulary.load_counts(folder) # how often each entry fired

Why: the MLM head scores all 30,522 entries at every position, and is half the accurate
SPLADE's arithmetic; on Quora questions about 20,000 entries ever fire, and the 16,700 that fire
on at least 5 of the accurate model's 16,190 training questions carry 99.8% of the vectors'
weight on questions it never saw (each question's own tokens are scored besides, whatever
their count: a rare word is never lost). The file is keyed to the weights it was fitted on:
a retrained model in the same folder has none until fitted again (the whole head then).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FILE_NAME = "quoradesk_active_vocabulary.npz"  # not a .json: models.model_key leaves it out
# An entry is active when it fires (a positive weight) on at least this many training questions:
# on half the dev questions, fitted on the other half, 5 kept 99.8% of the weight for half the
# columns (1: 99.98% for two thirds, 10: 99.6%, 20: 99.0%).
MIN_QUESTIONS = 5


def _saved(folder: str | Path, *names: str) -> tuple | None:
    """Those arrays of the folder's file, if it was fitted on the present weights; else None
    (no file, another model's, damaged, or from before an array was kept)."""
    from .paths import model_key

    file = Path(folder) / FILE_NAME
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as saved:
            if str(saved["model_key"]) != model_key(folder):
                return None
            return tuple(saved[name] for name in names)
    except (OSError, ValueError, KeyError):
        return None  # a damaged file: the whole head, as without one


def load(folder: str | Path) -> np.ndarray | None:
    """The folder's active vocabulary (sorted int64 ids) for its present weights, else None."""
    saved = _saved(folder, "columns")
    columns = None if saved is None else saved[0].astype(np.int64)
    return columns if columns is not None and columns.ndim == 1 and len(columns) else None


def load_counts(folder: str | Path) -> tuple[np.ndarray, int] | None:
    """(on how many training questions each vocabulary entry fired, how many there were) from
    the folder's file, for its present weights; None without one (or from before the counts
    were kept). ``project_vocabulary`` compares a project's questions with them."""
    saved = _saved(folder, "counts", "questions")
    return None if saved is None else (saved[0].astype(np.int64), int(saved[1]))


def fit(folder: str | Path, vectors, min_questions: int = MIN_QUESTIONS) -> np.ndarray:
    """Write into ``folder`` the entries that fire on at least ``min_questions`` of ``vectors``
    (scipy CSR rows: the folder's model's vectors of its training questions, encoded with the
    whole head, ``encode.encode_csr``), and how often each entry fired; return the entries."""
    from .paths import model_key

    counts = np.bincount(vectors.indices, minlength=vectors.shape[1])
    columns = np.flatnonzero(counts >= min_questions).astype(np.int32)
    np.savez(Path(folder) / FILE_NAME, columns=columns, model_key=np.array(model_key(folder)),
             min_questions=np.array(min_questions), questions=np.array(vectors.shape[0]),
             counts=counts.astype(np.int32))
    return columns
