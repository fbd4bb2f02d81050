"""How a sentence (and, with data.context=1, its previous sentence) becomes transformer input.

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


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indexes grouped into batches of sentences of exactly the same token length (at most `batch_size`
    each), shortest first. No batch needs padding, so no compute goes to pad tokens and attention needs no
    mask; a sentence's logits do not depend on how long its neighbours are."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < batch_size and lengths[batches[-1][0]] == lengths[i]:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def sorted_chunks(lengths: Sequence[int], parts: int, batch_size: int) -> list[list[int]]:
    """Length-sorted indexes cut into `parts` near-equal batches (at most `batch_size` each), padded to their
    longest when run, which sorting keeps short. For few sentences (a server's batch of one-sentence requests)
    equal lengths are rare, and a forward pass per sentence costs far more than a little padding."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    size = max(1, min(batch_size, -(-len(order) // parts)))
    return [order[k : k + size] for k in range(0, len(order), size)]


def cls_forward(model):
    """A faster eval-mode forward for BERT sequence classifiers (MiniLM is one), or None for other models.

    Same weights, same maths as `model(**batch).logits`, minus work whose result the classifier never
    reads: the pooler looks only at the [CLS] position of the last layer, so that layer computes queries,
    attention output and feed-forward for [CLS] alone (keys and values still come from every token). On the
    default model that is a sixth of the encoder's FLOPs less. Works on dynamically quantised models too."""
    bert, cfg = getattr(model, "bert", None), model.config
    if (
        type(model).__name__ != "BertForSequenceClassification"
        or bert is None
        or bert.pooler is None
        or getattr(cfg, "is_decoder", False)
        or getattr(cfg, "position_embedding_type", "absolute") not in (None, "absolute")
    ):
        return None

    def forward(input_ids, attention_mask=None, token_type_ids=None):
        h = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        padded = attention_mask is not None and not bool(attention_mask.all())
        return _cls_logits(model, h, attention_mask.bool() if padded else None)

    return forward


def _cls_logits(model, h, keep):
    """The encoder over embeddings `h` (batch, length, hidden), then the classifier on [CLS].

    Every linear layer (six sevenths of the FLOPs) runs on one (tokens, hidden) matrix; only attention sees
    the (batch, length) shape. Without padding (`keep` None) that matrix is a view of the batch. With padding
    it holds the real tokens alone (`keep`: the attention mask), packed, and attention gets the mask: a batch of
    mixed lengths costs what its tokens cost, not batch x longest."""
    import torch
    import torch.nn.functional as F

    b, n, d = h.shape
    if keep is None:
        mask, first = None, torch.arange(b, device=h.device) * n  # row of each [CLS] in the token matrix
        h = h.reshape(b * n, d)

        def pad(t):
            return t.view(b, n, t.shape[-1])

        def unpad(t):
            return t.reshape(b * n, t.shape[-1])
    else:
        mask = torch.zeros(b, 1, 1, n, dtype=h.dtype, device=h.device)
        mask = mask.masked_fill(~keep[:, None, None, :], torch.finfo(h.dtype).min)
        first = torch.zeros(b, dtype=torch.long, device=h.device)
        first[1:] = keep.sum(1).cumsum(0)[:-1]
        h = h[keep]

        def pad(t):
            out = t.new_zeros(b, n, t.shape[-1])
            out[keep] = t
            return out

        def unpad(t):
            return t[keep]

    layers = model.bert.encoder.layer
    for i, layer in enumerate(layers):
        att = layer.attention.self
        heads, size = att.num_attention_heads, att.attention_head_size
        last = i == len(layers) - 1
        x = h[first] if last else h  # last layer: only [CLS] is read afterwards
        q = att.query(x)
        q = q.view(b, 1, heads, size) if last else pad(q).view(b, n, heads, size)
        k = pad(att.key(h)).view(b, n, heads, size)
        v = pad(att.value(h)).view(b, n, heads, size)
        ctx = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
        ctx = ctx.transpose(1, 2).reshape(b, -1, heads * size)
        ctx = ctx[:, 0] if last else unpad(ctx)
        a = layer.attention.output(ctx, x)  # dense, residual, LayerNorm
        h = layer.output(layer.intermediate(a), a)
    return model.classifier(model.bert.pooler(h[:, None, :]))
