"""Encode texts with a SparseEncoder straight into a scipy CSR matrix.

Usage::

    from quoradesk.core.models.encode import encode_csr

    matrix = encode_csr(model, ["How do I learn Python?", "Best way to learn Python?"])
    matrix.shape  # (2, 30522); row i is text i's SPLADE vector

For the usual SPLADE layout (a BERT masked-LM with max pooling of ``log1p(relu(logits))``)
``encode_csr`` runs :class:`SpladeHeadEncoder`, which gives the same vectors as
``SparseEncoder.encode`` (to float rounding) several times faster on a CPU. Why it is faster:
the 30,522-wide MLM head is nearly all of the arithmetic, and computed in one piece its output
(tokens x 30,522 floats, hundreds of MB a batch) spills out of the caches, so the matrix product
runs at a third of the CPU's speed and the pooling reads it all back. Here the head runs over
vocabulary slices small enough to stay in cache, each slice max-pooled as soon as it is made.
And since the head costs the same for a padding position as for a word, ``encode_batches``
sorts texts by token count (characters are a poor proxy: 52% padding against 5% for batches of
64 Quora questions) and tokenises them in one pass. Any other layout falls back to
``SparseEncoder.encode``.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import weakref
from collections.abc import Iterator

import numpy as np
import torch
from scipy import sparse

from .int8_body import quantise_rows, quantise_weight

# Vocabulary columns per slice of the MLM head: measured on a 2-core EPYC (1 MiB L2) with
# 1,440 tokens a batch, 512 ran the product at 122 GFLOP/s, 4096 at 90, unsliced at 39.
VOCAB_SLICE = 512
# Token positions per pass of the head: batches of long questions are cut into groups of rows
# of about this many positions, so a slice's logits stay cache-sized whatever the batch size.
TOKEN_BLOCK = 1024


def _precision(bf16: bool):
    """The autocast context of a bf16 encode (matrix products in bfloat16, accumulation and
    layer norms in float32), or nothing."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


class SpladeHeadEncoder:
    """Exact, cache-friendly SPLADE encoding for BERT-style masked-LM SparseEncoders.

    Usage::

        fast = SpladeHeadEncoder.for_model(model)   # None when the layout is not supported
        rows = fast.encode_batch(texts)             # float32 CSR, row i = texts[i]
    """

    def __init__(self, model, body, transform, weight, bias):
        # Weakly: the model keeps this encoder (for_model), and a strong reference back made a
        # cycle that only the cyclic garbage collector freed, so a shared model no one used any
        # more stayed in memory until it ran (models.loading releases models by refcount).
        self._model = weakref.ref(model)
        self.body = body
        self.transform = transform
        self.weight = weight
        self.bias = bias
        self._pads_like_preprocess: bool | None = None  # see tokenize (checked on first use)
        self._bf16_copy: tuple | None = None  # see bf16_modules
        self._int8_copy: tuple | None = None  # see int8_head
        self._int8_restricted: list = []  # see int8_head(columns): [(columns, their rows)]
        self._int8_body: tuple | None = None  # see int8_body
        self._params: list | None = None  # see _weights_stamp
        self._active_columns: tuple | None = None  # see active_columns: (folder, its columns)
        self._int8_works = True  # false once torch's int8 product failed here (see encode_batch)
        # A shared model encodes on several threads (a run, Ask, the explainer): each copy is
        # made once, by the first thread that needs it.
        self._copies_lock = threading.Lock()

    @property
    def model(self):
        return self._model()

    @classmethod
    def for_model(cls, model) -> SpladeHeadEncoder | None:
        """The fast encoder for ``model``, or None if its modules are not [fill-mask BERT,
        max-pooled relu SpladePooling] (any other layout keeps SparseEncoder.encode)."""
        cached = getattr(model, "_quoradesk_head_encoder", False)
        if cached is not False:
            return cached
        fast = None
        try:
            modules = list(model)
            transformer, pooling = modules if len(modules) == 2 else (None, None)
            hf = getattr(transformer, "auto_model", None)
            head = getattr(getattr(hf, "cls", None), "predictions", None)
            if (
                type(pooling).__name__ == "SpladePooling"
                and pooling.pooling_strategy == "max"
                and pooling.activation_function == "relu"
                and head is not None
                and hasattr(hf, "bert")
                and isinstance(head.decoder, torch.nn.Linear)
            ):
                bias = head.decoder.bias if head.decoder.bias is not None else head.bias
                fast = cls(model, hf.bert, head.transform, head.decoder.weight, bias)
        except (TypeError, ValueError, AttributeError):
            fast = None
        model._quoradesk_head_encoder = fast
        return fast

    def tokenize(self, texts: list[str]) -> dict | None:
        """All of ``texts`` tokenised at once, unpadded, for ``features`` to pad batch by batch
        (one tokenizer pass instead of a counting pass plus one per batch); None when this
        model's preprocess is not its tokenizer's plain call (checked once, on these texts)."""
        tokenizer = getattr(self.model, "tokenizer", None)
        try:
            encoded = tokenizer(texts, add_special_tokens=True, truncation=True, max_length=self.model.max_seq_length)
            if self._pads_like_preprocess is None:
                sample = list(range(min(len(texts), 8)))
                want = self.model.preprocess([texts[i] for i in sample])
                got = self.features(encoded, sample)
                self._pads_like_preprocess = all(
                    torch.equal(v, want.get(k)) for k, v in got.items()
                ) and all(k in got for k, v in want.items() if isinstance(v, torch.Tensor))
            return encoded if self._pads_like_preprocess else None
        except (TypeError, AttributeError, KeyError, ValueError, RuntimeError):
            self._pads_like_preprocess = False
            return None

    def features(self, encoded, positions) -> dict:
        """The padded model inputs of ``positions`` from ``tokenize``'s output."""
        return dict(self.model.tokenizer.pad(
            {k: [encoded[k][i] for i in positions] for k in encoded.keys()}, return_tensors="pt",
        ))

    def _weights_stamp(self) -> tuple:
        # The parameter list is kept: walking the modules for it took 1.5 ms, several times a batch.
        if self._params is None:
            self._params = list(self.model.parameters())
        return weights_stamp(self.model, self._params)

    def int8_head(self, columns: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(weight, scales, bias): the MLM head's 30,522 x hidden matrix in int8 with one float32
        scale per vocabulary row (symmetric, per output channel), and its float32 bias, made once
        and again when the weights change. See ``encode_batch``'s ``int8``. ``columns``: only
        those rows (the int8 body's restricted head), kept for the last few sets asked for."""
        stamp = self._weights_stamp()
        with self._copies_lock:
            if self._int8_copy is None or self._int8_copy[0] != stamp:
                with torch.no_grad():
                    weight8, scales = quantise_weight(self.weight)
                    bias = self.bias.detach().float()
                self._int8_copy = (stamp, (weight8, scales, bias))
                self._int8_restricted = []
            if columns is None:
                return self._int8_copy[1]
            for kept, rows in self._int8_restricted:
                if kept is columns or np.array_equal(kept, columns):
                    return rows
            rows = tuple(t[torch.from_numpy(columns)].contiguous() for t in self._int8_copy[1])
            # A model's own active vocabulary and a project's or two (a run beside Ask).
            self._int8_restricted = [(columns, rows), *self._int8_restricted[:3]]
            return rows

    @property
    def active_columns(self) -> np.ndarray | None:
        """The vocabulary ids the int8 body's head is restricted to (active_vocabulary.load),
        None for the whole head: a model built or changed in memory has none."""
        folder, stamp = getattr(self.model, "_quoradesk_loaded", (None, None))
        if folder is None or stamp != self._weights_stamp():
            return None
        if self._active_columns is None or self._active_columns[0] != folder:
            from .active_vocabulary import load

            self._active_columns = (folder, load(folder))
        return self._active_columns[1]

    def int8_body(self) -> torch.nn.Module:
        """The body with int8 linear layers (int8_body.int8_copy), made once and again when the
        weights change. See ``encode_batch``'s ``int8_body``."""
        stamp = self._weights_stamp()
        with self._copies_lock:
            if self._int8_body is None or self._int8_body[0] != stamp:
                from .int8_body import int8_copy

                # Attention as the model has it: in float32 torch's CPU flash attention ("sdpa")
                # took 0.27 s of 2,000 questions where plain attention took 0.44.
                self._int8_body = (stamp, int8_copy(self.body))
            return self._int8_body[1]

    def bf16_modules(self) -> tuple:
        """(body, transform, weight, bias) with every matrix-product weight already in bfloat16,
        for encoding under bf16 autocast. Autocast casts a float32 weight to bfloat16 at every
        call (the head's 30,522 x 384 matrix and each layer's, once a batch); cast once here, the
        products get the very same operands, so the vectors are bit for bit those of autocast
        over the float32 model. Measured on 3,000 dev questions at batch 32 (2-core EPYC): the
        accurate SPLADE 314 -> 329 questions/s, the fast one 1,075 -> 1,325. The embeddings and
        layer norms stay float32 (shared, not copied), as autocast keeps them. Made again when
        the model's weights change (training)."""
        stamp = self._weights_stamp()
        with self._copies_lock:
            if self._bf16_copy is None or self._bf16_copy[0] != stamp:
                with torch.no_grad():
                    shared = {id(self.body.embeddings): self.body.embeddings} if hasattr(self.body, "embeddings") else {}
                    body = copy.deepcopy(self.body, memo=shared)
                    transform = copy.deepcopy(self.transform)
                    for module in (*body.modules(), *transform.modules()):
                        if isinstance(module, torch.nn.Linear):
                            module.to(torch.bfloat16)
                    # torch's CPU flash attention (transformers' "sdpa") ran this bf16 body 10% slower
                    # than plain attention on Quora-length questions (1,024 dev questions, 4 rounds
                    # each: 2.28 s against 2.00): the copy, not the model, attends plainly.
                    if getattr(getattr(body, "config", None), "_attn_implementation", None) == "sdpa":
                        body.config._attn_implementation = "eager"
                    weight = self.weight.detach().to(torch.bfloat16)
                    bias = self.bias.detach().to(torch.bfloat16)
                self._bf16_copy = (stamp, (body, transform, weight, bias))
            return self._bf16_copy[1]

    def encode_batch(self, texts: list[str], features: dict | None = None, *, bf16: bool = False,
                     int8: bool = False, int8_body: bool = False,
                     vocabulary: np.ndarray | None = None) -> sparse.csr_matrix:
        """One batch's SPLADE vectors, as float32 CSR rows in the order given (``features``:
        its inputs already tokenised, see ``tokenize``; ``bf16``, ``int8``, ``int8_body``: see
        ``encode_batches``).

        ``int8`` (on a CPU): the MLM head's product in int8, each position's hidden vector
        quantised with its own scale (so a vector does not depend on the batch it is encoded
        in) against ``int8_head``'s weights, accumulated in int32 by ``torch._int_mm``. Where
        that product fails (a torch without it) the batch is encoded with the float head.

        ``int8_body`` (on a CPU, with ``int8``): the body's linear layers in int8 too
        (``int8_body()``), and the head restricted to ``vocabulary`` (sorted vocabulary ids: a
        project's, ``project_vocabulary``; all of them for the whole head), by default to
        ``active_columns``, plus each question's own tokens."""
        if features is None:
            features = self.model.preprocess(texts)  # the model's own tokenisation and truncation
        device = self.weight.device
        inputs = {k: v.to(device) for k, v in features.items() if isinstance(v, torch.Tensor)}
        cpu_bf16 = bf16 and device.type == "cpu"
        cpu_int8 = int8 and device.type == "cpu" and self._int8_works
        if cpu_int8 and int8_body:
            try:
                with torch.inference_mode():
                    return self._encode_int8_body(inputs, vocabulary)
            except RuntimeError:  # no int8 product in this torch build or on this CPU
                self._int8_works = cpu_int8 = False
        body, transform, weight, bias = self.bf16_modules() if cpu_bf16 else (
            self.body, self.transform, self.weight, self.bias)
        with torch.inference_mode(), _precision(cpu_bf16):
            hidden = body(**inputs).last_hidden_state
            mask = inputs["attention_mask"].bool()
            # Padding positions get a copy of the row's first token: their logits then repeat
            # a real token's and cannot change the max, and no masking pass is needed.
            hidden = torch.where(mask.unsqueeze(-1), hidden, hidden[:, :1])
            if cpu_int8:
                try:
                    pooled = self._pool_int8(hidden, transform)
                except RuntimeError:  # no int8 product in this torch build or on this CPU
                    self._int8_works = False
                    cpu_int8 = False
            if not cpu_int8:
                pooled = self._pool_float(hidden, transform, weight, bias)
            return _relu_log1p_csr(pooled)

    def _encode_int8_body(self, inputs: dict, vocabulary: np.ndarray | None = None) -> sparse.csr_matrix:
        """``encode_batch`` with the int8 body: the head over ``vocabulary`` or the active one
        (all of it when the model has none) and, for each question, its own tokens outside it
        (not its neighbours' in the batch: a question's vector does not depend on its batch)."""
        hidden = self.int8_body()(**inputs).last_hidden_state
        mask = inputs["attention_mask"].bool()
        hidden = torch.where(mask.unsqueeze(-1), hidden, hidden[:, :1])  # as in encode_batch
        columns = self.active_columns if vocabulary is None else vocabulary
        if columns is None or len(columns) == self.weight.shape[0]:
            return _relu_log1p_csr(self._pool_int8(hidden, self.transform))
        # The transform once, for the restricted head and the batch's other tokens alike.
        hidden = self.transform(hidden)
        pooled = self._pool_int8(hidden, _unchanged, self.int8_head(columns))
        tokens = np.unique(inputs["input_ids"][mask].numpy())
        extra = np.setdiff1d(tokens, columns, assume_unique=True)
        if len(extra):
            rows = torch.from_numpy(extra)
            others = self._pool_int8(hidden, _unchanged, tuple(t[rows] for t in self.int8_head()))
            own = ((inputs["input_ids"].unsqueeze(-1) == rows) & mask.unsqueeze(-1)).any(dim=1)
            pooled = torch.cat([pooled, others.masked_fill_(~own, 0)], dim=1)  # 0: dropped as relu would
            columns = np.concatenate([columns, extra])
        return _relu_log1p_csr(pooled, columns, self.weight.shape[0])

    @staticmethod
    def _max_pool(hidden, transform, vocab: int, dtype, quantise, slice_logits) -> torch.Tensor:
        """Max over each row's positions of the head's logits, a cache-sized block of positions
        and vocabulary slice at a time: ``quantise(tokens)`` readies a block's transformed
        positions once, ``slice_logits(ready, lo, hi)`` gives their logits for columns lo..hi."""
        rows, length = hidden.shape[:2]
        pooled = torch.empty(rows, vocab, dtype=dtype, device=hidden.device)
        group = max(1, TOKEN_BLOCK // length)
        for r0 in range(0, rows, group):
            r1 = min(r0 + group, rows)
            ready = quantise(transform(hidden[r0:r1].reshape((r1 - r0) * length, -1)))
            for lo in range(0, vocab, VOCAB_SLICE):
                hi = min(lo + VOCAB_SLICE, vocab)
                pooled[r0:r1, lo:hi] = slice_logits(ready, lo, hi).view(r1 - r0, length, hi - lo).amax(dim=1)
        return pooled

    def _pool_float(self, hidden, transform, weight, bias) -> torch.Tensor:
        return self._max_pool(hidden, transform, weight.shape[0], hidden.dtype, lambda tokens: tokens,
                              lambda tokens, lo, hi: torch.addmm(bias[lo:hi], tokens, weight[lo:hi].t()))

    def _pool_int8(self, hidden, transform, head: tuple | None = None) -> torch.Tensor:
        """``_pool_float`` with the head's product in int8 (float32 result). A logit is
        acc * position_scale * row_scale + bias: the position scale differs along the max, so it
        is applied before it; the row scale and bias, the same for every position, after. One
        scale per question instead would skip a pass over the products (5% faster) but moved
        the vectors 10x further from float32's (median cosine 0.9975 against 0.9997; another
        nearest question for 1.9% of questions against 0.7%). ``head``: other rows of
        ``int8_head`` (a restricted head's), in the order of the result's columns."""
        weight8, scales, bias = head or self.int8_head()

        def quantise(tokens):
            return quantise_rows(tokens.float())

        def slice_logits(ready, lo, hi):
            tokens8, step = ready
            return torch._int_mm(tokens8, weight8[lo:hi].t()).float().mul_(step)

        pooled = self._max_pool(hidden, transform, weight8.shape[0], torch.float32, quantise, slice_logits)
        return pooled.mul_(scales).add_(bias)


def weights_stamp(model, params: list | None = None) -> tuple:
    """Changes whenever the model's weights do: a tensor's version counter moves with every
    in-place change (an optimizer step, a loaded state dict), its data pointer with a replaced
    tensor (or a move to another device). ``params``: the model's parameters, listed already."""
    params = list(model.parameters()) if params is None else params
    return tuple(p.data_ptr() for p in params), sum(p._version for p in params)


def _unchanged(tokens):
    return tokens


def _relu_log1p_csr(pooled: torch.Tensor, columns: np.ndarray | None = None,
                    width: int | None = None) -> sparse.csr_matrix:
    """SPLADE's log(1 + relu(x)) of the max-pooled logits, as float32 CSR rows. Both are monotone,
    so they are applied after the max, and to the positive entries alone (about 1% of a row)
    instead of in two passes over the whole (rows x 30,522) block. ``columns``: the vocabulary
    id of each of ``pooled``'s columns (a restricted head), in a row ``width`` wide."""
    rows, cols = (pooled > 0).nonzero(as_tuple=True)  # row-major order: CSR order already
    values = pooled[rows, cols].float().log1p_().cpu().numpy()
    rows, cols = rows.cpu().numpy(), cols.cpu().numpy()
    indptr = np.zeros(pooled.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=pooled.shape[0]), out=indptr[1:])
    if columns is None:
        return sparse.csr_matrix((values, cols, indptr), shape=tuple(pooled.shape))
    matrix = sparse.csr_matrix((values, columns[cols], indptr), shape=(pooled.shape[0], width))
    matrix.has_sorted_indices = False  # tokens outside the active columns come last
    matrix.sort_indices()
    return matrix


def token_counts(tokenizer, max_length: int | None, texts: list[str],
                 second: list[str] | None = None) -> np.ndarray:
    """Tokens each text takes, or each pair ``(texts[i], second[i])`` as a CrossEncoder reads
    it (special tokens and truncation included); the length in characters where the
    tokenizer cannot be asked. Batches cut from texts sorted by this pad little."""
    try:
        ids = tokenizer(
            *([texts] if second is None else [texts, second]), truncation=True, max_length=max_length,
            return_attention_mask=False, return_token_type_ids=False,
        )["input_ids"]
        return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(texts))
    except (TypeError, AttributeError, KeyError, ValueError):
        chars = (len(t) for t in texts) if second is None else (len(a) + len(b) for a, b in zip(texts, second))
        return np.fromiter(chars, dtype=np.int64, count=len(texts))


def encode_batches(model, texts: list[str], batch_size: int = 32, *, bf16: bool = False,
                   int8: bool = False, int8_body: bool = False,
                   vocabulary: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, sparse.csr_matrix]]:
    """Yield ``(positions in texts, their CSR rows)`` a batch at a time. Batches are cut from
    the texts sorted by token count, longest first, so little padding is computed; a caller
    that stops between batches (a cancel) loses at most one batch. ``rows_in_order`` puts the
    parts together.

    ``bf16``: on a CPU, compute the matrix products in bfloat16 (worth it where ``models.native_bf16()``;
    measured in bench/encode.py: 1.4x the questions per second (277 against 198 on a 2-core EPYC) for the accurate SPLADE, each
    vector's cosine to its float32 self at least 0.999). Float32 otherwise, and on a GPU.

    ``int8``: on a CPU, compute the MLM head's product (half the accurate SPLADE's arithmetic,
    nearly all the fast one's) in int8 (worth it where ``models.native_int8()``: VNNI; see
    ``SpladeHeadEncoder.encode_batch``). Measured in bench/encode.py on a 2-core EPYC with VNNI
    (3,000 dev questions), with bf16 against bf16 alone: 1.17-1.41x the accurate SPLADE's
    questions per second over two runs (362 against 310), 1.58x the fast one's (1,245 against
    788); each vector's cosine to float32 at least 0.9988, held-out pair AP 0.8522 against 0.8521.
    Only the fast layout has it (other models encode as without it).

    ``int8_body`` (with ``int8``, on a CPU): the transformer body's linear layers in int8 too
    (``int8_body``), and the head restricted to ``vocabulary`` (a project's:
    ``project_vocabulary``), else to the model's active vocabulary (``active_vocabulary``; see
    ``SpladeHeadEncoder.encode_batch``)."""
    # In training mode (dropout on) only the model's own forward is right.
    fast = None if model.training else SpladeHeadEncoder.for_model(model)
    # Sorted by tokens, not characters: on Quora questions batches of 64 sorted by characters
    # carry 52% padding (139,040 positions for 91,413 tokens), and the head computes it all.
    encoded = fast.tokenize(texts) if fast and texts else None
    if encoded is not None:
        counts = np.fromiter((len(x) for x in encoded["input_ids"]), dtype=np.int64, count=len(texts))
    else:
        counts = token_counts(getattr(model, "tokenizer", None), getattr(model, "max_seq_length", None), texts)
    order = np.argsort(-counts, kind="stable")
    for lo in range(0, len(texts), batch_size):
        positions = order[lo : lo + batch_size]
        batch = [texts[i] for i in positions]
        if not fast:
            with _precision(bf16 and _on_cpu(model)):  # not around the yield: it would leak
                rows = _model_encode(model, batch, batch_size)
            yield positions, rows
        elif encoded is not None:
            yield positions, fast.encode_batch(batch, fast.features(encoded, positions), bf16=bf16, int8=int8,
                                               int8_body=int8_body, vocabulary=vocabulary)
        else:
            yield positions, fast.encode_batch(batch, bf16=bf16, int8=int8, int8_body=int8_body,
                                               vocabulary=vocabulary)


def _on_cpu(model) -> bool:
    return str(getattr(model, "device", "cpu")).startswith("cpu")


def rows_in_order(parts: list[tuple[np.ndarray, sparse.csr_matrix]]) -> sparse.csr_matrix:
    """Stack ``encode_batches`` output back into the order of the texts."""
    stacked = sparse.vstack([rows for _, rows in parts], format="csr")
    positions = np.concatenate([p for p, _ in parts])
    restore = np.empty(len(positions), dtype=np.int64)
    restore[positions] = np.arange(len(positions))
    return stacked[restore]


def _model_encode(model, texts: list[str], batch_size: int) -> sparse.csr_matrix:
    """Plain ``SparseEncoder.encode``, converted to CSR."""
    with torch.inference_mode():
        emb = model.encode(
            texts, batch_size=batch_size, convert_to_tensor=True,
            convert_to_sparse_tensor=True, show_progress_bar=False,
        )
        emb = emb.coalesce().cpu()
        idx = emb.indices().numpy().copy()
        vals = emb.values().numpy().astype(np.float32)
    return sparse.csr_matrix((vals, (idx[0], idx[1])), shape=tuple(emb.shape), dtype=np.float32)


def encode_csr(model, texts: list[str], batch_size: int = 32, *, reference: bool = False,
               bf16: bool = False, int8: bool = False, int8_body: bool = False,
               vocabulary: np.ndarray | None = None) -> sparse.csr_matrix:
    """SPLADE vectors of ``texts`` as float32 CSR rows, in the order given.

    ``reference=True`` forces one plain ``SparseEncoder.encode`` call (what the benchmarks
    compare with); ``bf16``, ``int8``, ``int8_body``, ``vocabulary``: see ``encode_batches``.
    """
    if not texts:
        return sparse.csr_matrix((0, model.get_embedding_dimension()), dtype=np.float32)
    if reference:
        return _model_encode(model, texts, batch_size)
    return rows_in_order(list(encode_batches(model, texts, batch_size, bf16=bf16, int8=int8, int8_body=int8_body,
                                             vocabulary=vocabulary)))


def to_torch_sparse(row: sparse.spmatrix) -> torch.Tensor:
    """One CSR row as the 1-D sparse COO tensor that SparseEncoder's helpers expect."""
    coo = sparse.coo_matrix(row)
    return torch.sparse_coo_tensor(
        torch.from_numpy(coo.col.astype(np.int64)).unsqueeze(0),
        torch.from_numpy(coo.data.astype(np.float32)),
        size=(coo.shape[1],),
        check_invariants=True,  # one row: cheap, and it catches a corrupt stored vector
    ).coalesce()
