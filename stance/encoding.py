"""How a sentence (and, with data.context=1, its previous sentence) becomes model input.

Shared by training and inference so both feed the model the same way. Imports nothing heavy:
the tokenizer is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence


def encode(tokenizer, texts: Sequence[str], contexts: Sequence[str] | None, max_length: int, **kwargs):
    """Tokenize sentences; with contexts, the previous sentence is the second segment. Truncation takes
    tokens from the longer of the two first, so a short sentence is never cut for its context."""
    if contexts is None:
        return tokenizer(list(texts), truncation=True, max_length=max_length, **kwargs)
    return tokenizer(
        list(texts), [c or "" for c in contexts], truncation="longest_first", max_length=max_length, **kwargs
    )


def batched_logits(
    model,
    tokenizer,
    texts: Sequence[str],
    contexts: Sequence[str] | None,
    max_length: int,
    batch_size: int = 64,
    autocast_bf16: bool = False,
):
    """Logits (float32 numpy array, rows in input order) with length-sorted batches and dynamic padding:
    sorting puts sentences of similar length together, so little compute is spent on padding."""
    import numpy as np
    import torch

    enc = encode(tokenizer, texts, contexts, max_length)
    order = sorted(range(len(texts)), key=lambda i: len(enc["input_ids"][i]))
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = tokenizer.pad({k: [enc[k][i] for i in idx] for k in enc.keys()}, return_tensors="pt")
            batch = {k: v.to(model.device) for k, v in batch.items()}
            with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=autocast_bf16):
                logits = model(**batch).logits
            out[idx] = logits.float().cpu().numpy()
    model.train(was_training)
    return out


def tfidf_logits(vectorizers, coef, intercept, texts: Sequence[str]):
    """TF-IDF baseline scores: the vectorizers' features side by side, times the coefficients. One function
    for training and inference, so the metrics stored at training time are what a loaded model gives."""
    from scipy.sparse import hstack

    x = hstack([v.transform(texts) for v in vectorizers]).tocsr()
    return x @ coef.T + intercept
