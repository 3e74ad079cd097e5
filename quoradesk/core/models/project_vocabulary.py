"""A project's vocabulary for the int8 encoder: the model's active vocabulary plus the entries
its own questions make fire far more often than the model's training questions did.

Usage::

    from quoradesk.core.models.project_vocabulary import fit_project_vocabulary, sample_positions

    picked = sample_positions(len(texts))                      # up to SAMPLE, evenly spread
    columns = fit_project_vocabulary(model, [texts[i] for i in picked])  # None: the whole head
    rows = encode_csr(model, texts, int8=True, int8_body=True, vocabulary=columns)

Why: a model's active vocabulary (``active_vocabulary``) is fitted on Quora's training
questions (for the default model the entries that fire on at least 50 of them), so a project on
other topics loses the expansions its own words make ("How can I repair a dripping tap?" loses
"taps", "Why should I meditate every day?" loses "meditation"). On the project's sample
questions the default int8 encoder's vectors sat at a median cosine of 0.990 to the whole
float32 head's, picked another nearest question for 4 of its 233 questions and read pair AP
0.793 (float32 0.804). With the entries that fire on at least 2 of the project's questions (up
to 500 of them, encoded once with the whole head) at 3 times their rate on the training
questions or more: 369 entries, a median cosine of 0.996, 2 other nearest questions (both near
ties: the reference's two best within 0.01), pair AP 0.806. On Quora's own questions it adds
few (306 to the default model's 7,712 on the 19,062 dev questions; without the rate rule 937,
for 10% of the encoding speed). A project keeps its vocabulary (``Store.encoding_vocabulary``),
so a resumed run, a later run and Ask encode as its first run did.
"""

from __future__ import annotations

import numpy as np

from . import active_vocabulary
from .encode import SpladeHeadEncoder, encode_csr

SAMPLE = 500  # questions a project's vocabulary is fitted on, at most
MIN_QUESTIONS = 2  # an entry joins when it fires on at least this many of them ...
OVER_TRAINING = 3  # ... at this many times its rate on the model's training questions or more


def sample_positions(count: int, sample: int = SAMPLE) -> np.ndarray:
    """Up to ``sample`` positions of ``count`` questions, evenly spread (the same every time)."""
    if count <= sample:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, sample).round().astype(np.int64))


def fit_project_vocabulary(model, texts: list[str], min_questions: int = MIN_QUESTIONS,
                           over_training: float = OVER_TRAINING) -> np.ndarray | None:
    """The model's active vocabulary plus every entry firing on at least ``min_questions`` of
    ``texts`` (a project's questions, ``sample_positions`` of them) and, where the model's folder
    says how often its entries fired in training (``active_vocabulary.load_counts``), at
    ``over_training`` times that rate (add-one smoothed) or more; sorted int64 ids. None when
    the model has no active vocabulary (its int8 encoder computes the whole head)."""
    fast = SpladeHeadEncoder.for_model(model)
    active = None if fast is None else fast.active_columns
    if active is None:
        return None
    if not texts:
        return active
    whole = np.arange(fast.weight.shape[0], dtype=np.int64)
    vectors = encode_csr(model, texts, 32, int8=True, int8_body=True, vocabulary=whole)
    counts = np.bincount(vectors.indices, minlength=len(whole))
    joins = counts >= min_questions
    trained = active_vocabulary.load_counts(model._quoradesk_loaded[0])  # (active_columns checked it)
    if trained is not None and len(trained[0]) == len(whole):
        fired, questions = trained
        joins &= counts / len(texts) >= over_training * (fired + 1) / questions
    return np.union1d(active, np.flatnonzero(joins)).astype(np.int64)
