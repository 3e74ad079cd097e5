"""Why two questions matched: the tokens that contribute most to their sparse score.

Usage::

    from quoradesk.core.review.explain import explain_match, explain_pair

    tokens = explain_pair(encoder, vec_a, vec_b, top_k=8)
    # [("python", 4.99), ("learn", 3.85), ...]: token, its share of the dot product
    why = explain_match(encoder, vec_a, vec_b)
    why.content  # [("python", 4.99), ("learn", 3.85), ...]: the words that explain the match
    why.also     # [("?", 2.1), ("how", 1.2)]: punctuation, function words, word pieces
    why.text()   # "python 4.99, learn 3.85 (also ? 2.10, how 1.20)"

SPLADE scores are dot products of vocabulary-sized vectors, so the score is exactly the sum
of per-token products: ``SparseEncoder.intersection`` gives them, ``decode`` names them.
Punctuation and function words ("?", "why", "everything") weigh much in most pairs and
explain none: ``explain_match`` puts the content tokens first and those after, weights exact.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from scipy import sparse

from ..models.encode import to_torch_sparse


def explain_pair(
    encoder, vec_a: sparse.spmatrix, vec_b: sparse.spmatrix, top_k: int | None = 10
) -> list[tuple[str, float]]:
    """Every shared token (``top_k=None``) or the ``top_k`` heaviest, heaviest first."""
    dim = encoder.get_embedding_dimension()
    # The per-token products in scipy (what SparseEncoder.intersection computes): converting
    # both whole vectors to torch first cost 0.5 ms a pair, a fifth of an Ask.
    shared = _resize(vec_a, dim).multiply(_resize(vec_b, dim)).tocsr()
    shared.eliminate_zeros()
    if not shared.nnz:
        return []
    return [(tok, float(w)) for tok, w in encoder.decode(to_torch_sparse(shared), top_k=top_k) if w > 0]


@functools.lru_cache(maxsize=65536)  # a vocabulary's worth: asked for every shared token of every pair
def is_content_token(token: str) -> bool:
    """False for punctuation, English function words (scikit-learn's list: "why", "the",
    "everything") and short word pieces ("##s"): tokens that weigh in nearly every pair."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    word = token.removeprefix("##")
    if not any(c.isalnum() for c in word):
        return False
    if token.startswith("##") and len(word) < 3:
        return False
    return token.lower() not in ENGLISH_STOP_WORDS


@dataclass
class Explanation:
    """The shared tokens of a pair, split into what explains the match and what does not.
    Each list is heaviest first; every weight is the token's exact share of the dot product."""

    content: list[tuple[str, float]] = field(default_factory=list)
    also: list[tuple[str, float]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.content or self.also)

    def text(self) -> str:
        """One line for a terminal or a CSV cell."""
        main = ", ".join(f"{t} {w:.2f}" for t, w in self.content)
        also = ", ".join(f"{t} {w:.2f}" for t, w in self.also)
        if main and also:
            return f"{main} (also {also})"
        return main or (f"also {also}" if also else "no shared tokens")


def explain_match(encoder, vec_a: sparse.spmatrix, vec_b: sparse.spmatrix, top_k: int = 8,
                  also_k: int = 4) -> Explanation:
    """The pair's ``top_k`` heaviest content tokens and ``also_k`` heaviest other tokens."""
    why = Explanation()
    for token, weight in explain_pair(encoder, vec_a, vec_b, top_k=None):
        (why.content if is_content_token(token) else why.also).append((token, weight))
    why.content, why.also = why.content[:top_k], why.also[:also_k]
    return why


def top_tokens(encoder, vec: sparse.spmatrix, top_k: int = 10) -> list[tuple[str, float]]:
    """A single question's heaviest tokens (what the model thinks it is about)."""
    dim = encoder.get_embedding_dimension()
    return [(tok, float(w)) for tok, w in encoder.decode(to_torch_sparse(_resize(vec, dim)), top_k=top_k)]


def _resize(vec: sparse.spmatrix, dim: int) -> sparse.csr_matrix:
    vec = sparse.csr_matrix(vec)
    if vec.shape[1] != dim:
        vec = sparse.csr_matrix((vec.data, vec.indices, vec.indptr), shape=(vec.shape[0], dim))
    return vec
