"""`stance data suggest`: pick the unlabelled sentences that would teach the model most.

Uncertainty sampling: rank by margin (top-1 minus top-2 probability, smallest first) or entropy (largest
first), then walk down the ranking and skip any sentence whose token Jaccard with one already picked is at
or above `max_similarity`, so the N picked are not near-copies of each other.
"""

from __future__ import annotations

import math
from pathlib import Path

from stance.corpus import tokens
from stance.data import read_records, with_context
from stance.errors import StanceError

STRATEGIES = ("margin", "entropy")


def uncertainty(probs, strategy: str) -> list[float]:
    """Higher = more uncertain."""
    out = []
    for row in probs:
        p = sorted((float(x) for x in row), reverse=True)
        if strategy == "margin":
            out.append(1.0 - (p[0] - p[1]))
        else:
            out.append(-sum(x * math.log(x) for x in p if x > 0))
    return out


def suggest(
    model_dir: Path, pool: Path, n: int, strategy: str = "margin", max_similarity: float = 0.8, text_field: str = "text"
) -> list[dict]:
    if strategy not in STRATEGIES:
        raise StanceError(f"must be one of {', '.join(STRATEGIES)}, got {strategy!r}", option="strategy")
    if n < 1:
        raise StanceError(f"must be at least 1, got {n}", option="n")
    records = (row for _, row in read_records(pool, text_field))
    pairs = [(row, context) for row, context in with_context(records, text_field) if row.get("label") is None]
    rows, contexts = [row for row, _ in pairs], [context for _, context in pairs]
    if not rows:
        raise StanceError("no unlabelled sentences (label null or missing) in the pool", path=pool)
    from inference.predictor import Predictor

    predictor = Predictor.load(model_dir)
    probs = predictor.predict_proba([r[text_field] for r in rows], contexts)
    scores = uncertainty(probs, strategy)
    order = sorted(range(len(rows)), key=lambda i: (-scores[i], i))
    picked: list[int] = []
    picked_tokens: list[set[str]] = []
    for i in order:
        toks = set(tokens(rows[i][text_field]))
        if any(len(toks & t) / max(1, len(toks | t)) >= max_similarity for t in picked_tokens):
            continue
        picked.append(i)
        picked_tokens.append(toks)
        if len(picked) == n:
            break
    out = []
    for i in picked:
        rec = dict(rows[i])
        rec["label"] = None
        rec["suggested"] = predictor.labels[int(probs[i].argmax())]
        rec["uncertainty"] = round(scores[i], 4)
        out.append(rec)
    return out
