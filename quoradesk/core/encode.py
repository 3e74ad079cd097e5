"""Encode texts with a SparseEncoder straight into a scipy CSR matrix.

Usage::

    from quoradesk.core.encode import encode_csr

    matrix = encode_csr(model, ["How do I learn Python?", "Best way to learn Python?"])
    matrix.shape  # (2, 30522); row i is text i's SPLADE vector
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse


def encode_csr(model, texts: list[str], batch_size: int = 32) -> sparse.csr_matrix:
    """SPLADE vectors of ``texts`` as float32 CSR rows, in the order given."""
    if not texts:
        return sparse.csr_matrix((0, model.get_embedding_dimension()), dtype=np.float32)
    with torch.inference_mode():
        emb = model.encode(
            texts, batch_size=batch_size, convert_to_tensor=True,
            convert_to_sparse_tensor=True, show_progress_bar=False,
        )
        emb = emb.coalesce().cpu()
        idx = emb.indices().numpy().copy()
        vals = emb.values().numpy().astype(np.float32)
    return sparse.csr_matrix((vals, (idx[0], idx[1])), shape=tuple(emb.shape), dtype=np.float32)


def to_torch_sparse(row: sparse.spmatrix) -> torch.Tensor:
    """One CSR row as the 1-D sparse COO tensor that SparseEncoder's helpers expect."""
    coo = sparse.coo_matrix(row)
    return torch.sparse_coo_tensor(
        torch.from_numpy(coo.col.astype(np.int64)).unsqueeze(0),
        torch.from_numpy(coo.data.astype(np.float32)),
        size=(coo.shape[1],),
        check_invariants=True,  # one row: cheap, and it catches a corrupt stored vector
    ).coalesce()
