"""A SPLADE training base built from a dense BERT-style sentence model (all-MiniLM-L6-v2).

Usage::

    from quoradesk.core.training import splade_base
    from quoradesk.core import models

    out = splade_base.splade_from_dense(models.minilm_path(), "bases/splade-minilm",
                                        sample_texts=training_questions)
    encoder = models.load_sparse_encoder(out)     # a SparseEncoder, ready to fine-tune

The dense model's body is kept; on top goes BERT's masked-LM head, whose output projection is
tied to the body's own word embeddings, so only its small transform (384x384 dense + LayerNorm)
and the vocabulary bias are new. They are not left random: the dense layer starts as the
identity, so a question's vocabulary logits are its last hidden states against the word
embeddings, which already expand "python" to "learning", "quickly" to "rapidly" and "mumbai"
to "bombay" before any training; and the bias starts at the value that leaves about
``active_terms`` vocabulary entries above zero for a typical question (measured on
``sample_texts``), since with a zero bias almost the whole vocabulary is active and SPLADE
vectors would be dense.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .data import TrainingError


def splade_from_dense(dense_dir: str | Path, out_dir: str | Path, sample_texts: Sequence[str],
                      active_terms: int = 128, sample_size: int = 512) -> Path:
    """Write a masked-LM model folder at ``out_dir`` that ``models.load_sparse_encoder`` loads
    as SPLADE (max pooling over log(1 + relu(logits))); returns ``out_dir``."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, BertForMaskedLM

    from .. import models

    dense = models.check_model_dir(dense_dir, "Dense base model")
    config = AutoConfig.from_pretrained(str(dense), local_files_only=True)
    if config.model_type != "bert":
        raise TrainingError(f"{dense} is a {config.model_type!r} model; a BERT-style body is needed")
    texts = [t for t in sample_texts if t and t.strip()][:sample_size]
    if len(texts) < 16:
        raise TrainingError("At least 16 sample questions are needed to set the SPLADE head's bias")
    with models.LOAD_LOCK:  # transformers' loading is not thread-safe (models.loading)
        model = BertForMaskedLM.from_pretrained(str(dense), local_files_only=True, dtype=torch.float32,
                                                tie_word_embeddings=True)
        tokenizer = AutoTokenizer.from_pretrained(str(dense), local_files_only=True)
    head = model.cls.predictions
    with torch.no_grad():
        head.transform.dense.weight.copy_(torch.eye(config.hidden_size))
        head.transform.dense.bias.zero_()
        head.bias.zero_()
        model.eval()
        kth = []
        for start in range(0, len(texts), 64):
            batch = tokenizer(texts[start:start + 64], return_tensors="pt", padding=True,
                              truncation=True, max_length=64)
            logits = model(**batch).logits
            logits = logits.masked_fill(batch["attention_mask"][..., None] == 0, float("-inf"))
            kth.append(logits.max(dim=1).values.topk(active_terms, dim=1).values[:, -1])
        head.bias.fill_(-float(torch.cat(kth).median()))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    (out / "quoradesk_base.json").write_text(json.dumps({
        "built_from": str(dense), "active_terms": active_terms, "sample_size": len(texts),
        "bias": float(head.bias[0]),
    }, indent=2))
    return out


def mask_special_tokens(encoder) -> int:
    """Keep [CLS], [SEP], [PAD], [MASK], [UNK] and the [unusedN] entries out of a SPLADE
    encoder's vectors (their vocabulary bias set to -100, so relu never lets them through);
    returns how many entries were masked. The head trained on a dense body learns to put a
    large weight on [CLS] in every question (7.6 for "How can I learn Python fast?"), a
    constant shared by all pairs that explains nothing; masked after training, the held-out
    pair AP moved from 0.8213 to 0.8206 and mining AP from 0.610 to 0.608."""
    import torch

    hf = encoder[0].auto_model
    head = hf.cls.predictions
    bias = head.decoder.bias if head.decoder.bias is not None else head.bias
    tokenizer = encoder.tokenizer
    ids = sorted(set(tokenizer.all_special_ids)
                 | {i for t, i in tokenizer.get_vocab().items() if t.startswith("[unused")})
    with torch.no_grad():
        bias[ids] = -100.0
    return len(ids)
