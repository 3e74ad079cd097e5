"""Why two questions matched: the tokens that contribute most to their sparse score.

Usage::

    from quoradesk.core.explain import explain_pair

    tokens = explain_pair(encoder, vec_a, vec_b, top_k=8)
    # [("python", 4.99), ("learn", 3.85), ...]: token, its share of the dot product

SPLADE scores are dot products of vocabulary-sized vectors, so the score is exactly the sum
of per-token products: ``SparseEncoder.intersection`` gives them, ``decode`` names them.
"""

from __future__ import annotations

import warnings

from scipy import sparse

from .encode import to_torch_sparse


def explain_pair(
    encoder, vec_a: sparse.spmatrix, vec_b: sparse.spmatrix, top_k: int = 10
) -> list[tuple[str, float]]:
    dim = encoder.get_embedding_dimension()
    ta = to_torch_sparse(_resize(vec_a, dim))
    tb = to_torch_sparse(_resize(vec_b, dim))
    with warnings.catch_warnings():  # sentence-transformers builds a COO tensor without opting in
        warnings.filterwarnings("ignore", message="Sparse invariant checks")
        shared = encoder.intersection(ta, tb)
    return [(tok, float(w)) for tok, w in encoder.decode(shared, top_k=top_k) if w > 0]


def top_tokens(encoder, vec: sparse.spmatrix, top_k: int = 10) -> list[tuple[str, float]]:
    """A single question's heaviest tokens (what the model thinks it is about)."""
    dim = encoder.get_embedding_dimension()
    return [(tok, float(w)) for tok, w in encoder.decode(to_torch_sparse(_resize(vec, dim)), top_k=top_k)]


def _resize(vec: sparse.spmatrix, dim: int) -> sparse.csr_matrix:
    vec = sparse.csr_matrix(vec)
    if vec.shape[1] != dim:
        vec = sparse.csr_matrix((vec.data, vec.indices, vec.indptr), shape=(vec.shape[0], dim))
    return vec
