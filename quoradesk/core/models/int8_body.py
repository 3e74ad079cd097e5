"""The SPLADE's transformer body with its matrix products in int8, for encoding on a CPU with
int8 dot products (``encode.encode_batches(int8_body=True)``).

Usage::

    from quoradesk.core.models.int8_body import int8_copy

    body8 = int8_copy(model_body)               # a copy; embeddings and layer norms shared
    hidden = body8(**inputs).last_hidden_state  # float32, as the body's own

Each linear layer's weights are int8 with one scale per output channel; each token's input is
quantised with its own scale as it comes (so the questions batched beside a question move its
vector by 0.002 cosine at most, a last-bit difference flipping an int8 rounding, where ONNX
Runtime's one scale per batch moves it with every batch), and the product is accumulated in
int32 by ``torch._int_mm``. Why per token: ONNX Runtime's dynamically
quantised body (one activation scale per batch) ran as fast but moved the accurate SPLADE's
vectors to a median cosine of 0.971 from float32's and its held-out pair AP from 0.8522 to
0.8451; per token, hidden states stay at a median cosine of 0.998. Attention's query, key and
value share one quantised input and one product (``_FusedQKV``). The rest (attention itself,
GELU, layer norms) stays in float32.
"""

from __future__ import annotations

import copy
import threading

import torch


def quantise_weight(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 weight, float32 scale per output row): each row symmetric over its own max (the
    int8 body's linear layers and the int8 vocabulary head alike)."""
    weight = weight.detach().float()
    scales = weight.abs().amax(dim=1).clamp_(min=1e-12) / 127
    return (weight / scales[:, None]).round_().clamp_(-127, 127).to(torch.int8), scales


def quantise_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 rows, float32 scale per row): each row of ``x`` symmetric over its own max."""
    step = x.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12).div_(127)
    return torch.div(x, step).round_().to(torch.int8), step


def int8_product(x8: torch.Tensor, step: torch.Tensor, weight8_t: torch.Tensor, scales: torch.Tensor,
                 bias: torch.Tensor | None) -> torch.Tensor:
    """Dequantised ``x @ weight.T + bias`` from ``quantise_rows`` output and int8 weights."""
    out = torch._int_mm(x8, weight8_t).float().mul_(step)
    return out.mul_(scales) if bias is None else torch.addcmul(bias, out, scales, out=out)


class Int8Linear(torch.nn.Module):
    """``torch.nn.Linear`` (inference only) with int8 weights and per-token int8 inputs."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        weight8, self.scales = quantise_weight(linear.weight)
        self.weight8_t = weight8.t()
        self.bias = None if linear.bias is None else linear.bias.detach().float()
        self.out_features = weight8.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x8, step = quantise_rows(x.reshape(-1, shape[-1]).float())
        return int8_product(x8, step, self.weight8_t, self.scales, self.bias).view(*shape[:-1], self.out_features)


class _FusedQKV:
    """Query, key and value of one attention layer as one int8 product: the query's ``_QKVPart``
    computes all three for its input and leaves the key's and value's for them (per thread: a
    shared model encodes on several); called on another input, each computes its own."""

    def __init__(self, query: torch.nn.Linear, key: torch.nn.Linear, value: torch.nn.Linear):
        fused = torch.nn.Linear(query.in_features, 3 * query.out_features)
        with torch.no_grad():
            fused.weight.copy_(torch.cat([query.weight, key.weight, value.weight]))
            fused.bias.copy_(torch.cat([query.bias, key.bias, value.bias]))
        self.product = Int8Linear(fused)
        self.width = query.out_features
        self.left = threading.local()

    def parts(self) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
        return _QKVPart(self, 0), _QKVPart(self, 1), _QKVPart(self, 2)


class _QKVPart(torch.nn.Module):
    """The query (0), key (1) or value (2) projection of a ``_FusedQKV``."""

    def __init__(self, fused: _FusedQKV, which: int):
        super().__init__()
        self.fused, self.which = fused, which

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fused = self.fused
        if self.which == 0:
            out = fused.product(x)
            fused.left.entry = (x, out)
        else:
            entry = getattr(fused.left, "entry", None)
            out = entry[1] if entry is not None and entry[0] is x else fused.product(x)
            if self.which == 2:
                fused.left.entry = None  # not kept alive past the layer
        return out[..., self.which * fused.width : (self.which + 1) * fused.width]


def int8_copy(body: torch.nn.Module) -> torch.nn.Module:
    """A copy of a BERT body whose linear layers are int8 (the embeddings and every layer norm
    shared with ``body``, not copied): for encoding only."""
    shared = {id(body.embeddings): body.embeddings} if hasattr(body, "embeddings") else {}
    for module in body.modules():
        if isinstance(module, torch.nn.LayerNorm):
            shared[id(module)] = module
    with torch.no_grad():
        body8 = copy.deepcopy(body, memo=shared)
        for module in list(body8.modules()):
            if all(isinstance(getattr(module, n, None), torch.nn.Linear) for n in ("query", "key", "value")):
                module.query, module.key, module.value = _FusedQKV(module.query, module.key, module.value).parts()
            for name, child in list(module.named_children()):
                if isinstance(child, torch.nn.Linear):
                    setattr(module, name, Int8Linear(child))
    return body8.eval()
