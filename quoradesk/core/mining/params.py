"""What a mining run is asked to do (:class:`MiningParams`), what it reports as it goes
(:class:`Progress`), and how it cuts questions into resumable chunks.

Usage::

    from quoradesk.core.mining import MiningParams

    params = MiningParams(top_k=10).on_device("cpu")   # as the run on this device records it
    params.key()                                       # what defines a run's result
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from .. import models


def encode_chunks(ids: np.ndarray, texts: list[str], size: int) -> list[np.ndarray]:
    """``ids`` cut into chunks of ``size`` for encoding, longest text first (ties by id): the same
    chunks for the same questions, so a resumed run finds the boundaries it left. Each chunk's
    batches are sorted by tokens within it, and chunks of like length pad little: on the 19,062
    dev questions, batches of 32 carry 3.4% padding, against 6.5% in chunks cut in id order."""
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    ordered = np.asarray(ids)[np.lexsort((ids, -lengths))]
    return [ordered[lo : lo + size] for lo in range(0, len(ordered), size)]


@dataclass(frozen=True)
class MiningParams:
    top_k: int = 10  # neighbours kept per question
    # Also keep each further neighbour scoring at least `keep_above`, up to `max_neighbours` a
    # question: a question asked many ways has more than top_k close variants (see
    # index.strong_neighbours). None: 0.75 for cosine, off for dot (no fixed scale).
    keep_above: float | None = None
    max_neighbours: int = 30
    min_score: float = 0.0  # sparse dot-product floor for a candidate
    # Rerank a pair when it is one question's best `rerank_top` by cosine and its first-stage
    # score (cosine in context, margin_weight) is at least `rerank_floor` (None: 0.6 for
    # cosine, 0 for dot). Measured on the held-out Quora questions (bench/rank_fusion.py):
    # top-1 reranks 3.5x fewer pairs than top-3 and ranks better. On the 19k dev questions a
    # floor on the score in context picks better pairs than one on cosine: from 0.65, 6,068
    # pairs at AP 0.581; cosine from 0.6, 6,557 at 0.579; cosine from 0.5, 8,369 at 0.590 (the
    # same recall at 5x the labelled pairs, 0.928); held-out AP 0.747, 0.745, 0.747. 0.6, not
    # 0.65, since the distilled reranker (the default): held-out AP 0.7411 from 0.6 (1,052
    # pairs), 0.7399 from 0.65 (980); the full CrossEncoder 0.7448 and 0.7429.
    rerank_top: int = 1
    rerank_floor: float | None = None
    batch_size: int = 32  # encoder batch
    rerank_batch: int = 64  # reranker batch (pairs, sorted by length)
    # On a CPU, rerank with the int8 model run by ONNX Runtime (models.load_cross_encoder):
    # 1.3-2.2x the pairs per second, held-out pair AP 0.884 against 0.882 in float32 for the
    # distilled default (the full CrossEncoder 0.885 against 0.889).
    # Off on other devices, which rerank in float32 (on_device).
    rerank_int8: bool = True
    # On a CPU that computes in bfloat16 natively (models.native_bf16: AVX512-BF16 or AMX),
    # encode with bf16 matrix products: 1.4x the accurate SPLADE's questions per second, each
    # vector's cosine to float32 at least 0.999 (bench/encode.py). Off elsewhere (on_device).
    encode_bf16: bool = True
    # On a CPU with int8 dot products (models.native_int8: VNNI or AMX), compute the SPLADE's
    # MLM head (half the accurate model's arithmetic) in int8: with bf16, 1.2-1.4x the accurate
    # SPLADE's questions per second, 1.6x the fast one's, held-out pair AP 0.8522 against 0.8521,
    # each vector's cosine to float32 at least 0.998 (bench/encode.py --int8). Off elsewhere.
    encode_int8: bool = True
    # With encode_int8: the SPLADE's transformer body in int8 too (each token's input on its own
    # scale, models.int8_body) and its head restricted to the model's active vocabulary plus each
    # question's own tokens (models.active_vocabulary): 1.47x the accurate SPLADE's questions per
    # second of bf16 with the int8 head (617 against 419), held-out pair AP 0.8508 against 0.8522,
    # each vector's cosine to float32 a median 0.993; the fast SPLADE 1.65x (bench/encode.py
    # --int8-body). Off elsewhere.
    encode_int8_body: bool = True
    # Questions per committed encoding chunk, and pairs per rerank chunk. Batches are sorted
    # by length within a chunk: at 256 a batch of 64 questions is 66% padding, at 2048 15%.
    chunk_size: int = 2048
    similarity: str = "cosine"  # "cosine" (L2-normalised SPLADE vectors) or "dot"
    # Candidate search: "exact" (inverted index, every pair sharing a token is scored),
    # "pruned" (truncated posting lists, cost linear in N) or "auto" (exact while its
    # estimated work is small, pruned past it). See index.make_index.
    search: str = "auto"
    # Ranking score of a reranked pair: w * reranker + (1 - w) * first-stage score. None: 0.5
    # for cosine (measured best on held-out Quora), 1.0 (reranker only) for dot.
    rerank_weight: float | None = None
    # The first stage ranks by cosine plus `margin_weight` x its margin over the two questions'
    # usual closeness (core.search.margins): the rest of the list, and the sparse half of a reranked
    # pair's score. None: 1.0 for cosine (held-out AP 0.696 -> 0.748, 19k 0.489 -> 0.581),
    # 0 (the score itself) for dot.
    margin_weight: float | None = None

    def __post_init__(self):
        if self.rerank_weight is None:
            object.__setattr__(self, "rerank_weight", 0.5 if self.similarity == "cosine" else 1.0)
        if self.rerank_floor is None:
            object.__setattr__(self, "rerank_floor", 0.6 if self.similarity == "cosine" else 0.0)
        if self.margin_weight is None:
            object.__setattr__(self, "margin_weight", 1.0 if self.similarity == "cosine" else 0.0)
        if self.keep_above is None and self.similarity == "cosine":
            object.__setattr__(self, "keep_above", 0.75)

    def on_device(self, device: str) -> MiningParams:
        """These parameters as a run on ``device`` uses and records them: int8 reranking is a
        CPU engine, so elsewhere the float32 model reranks; bf16 encoding and the int8 head need
        a CPU that has them natively."""
        params = self
        if params.rerank_int8 and device != "cpu":
            params = replace(params, rerank_int8=False)
        paths = models.encoding_paths(device, bf16=params.encode_bf16, int8=params.encode_int8,
                                      int8_body=params.encode_int8_body)
        return replace(params, encode_bf16=paths["bf16"], encode_int8=paths["int8"],
                       encode_int8_body=paths["int8_body"])

    def fallbacks(self, device: str) -> list[str]:
        """What these parameters ask for that this CPU cannot do fast, in words (a run says so
        once, in its note): the paths ``on_device`` turns off for want of instructions."""
        if device != "cpu":
            return []
        lost = []
        if self.encode_bf16 and not models.native_bf16():
            lost.append("bfloat16 encoding off: this CPU has no native bfloat16 (AVX512-BF16 or AMX)")
        if (self.encode_int8 or self.encode_int8_body) and not models.native_int8():
            lost.append("int8 encoding off: this CPU has no int8 dot products (VNNI or AMX)")
        return lost

    def key(self) -> dict:
        """What defines a run's result (batch size does not)."""
        d = asdict(self)
        d.pop("batch_size")
        d.pop("rerank_batch")
        return d


@dataclass
class Progress:
    stage: str  # encode | search | rerank | done | cancelled
    done: int
    total: int
    elapsed: float  # seconds in this stage, this session
    rate: float  # items per second in this stage, this session
    eta: float | None  # seconds left in this stage
    run_id: int
    message: str = ""
