"""K-fold cross-validation grouped by article: how much macro-F1 moves with the choice of held-out articles.

Fold k is the test set, fold k+1 the validation set (early stopping, calibration), the rest trains.
Each fold is an ordinary `train_model` run on a temporary split file, so CV exercises the real path.
"""

from __future__ import annotations

import dataclasses
import json
import random
import statistics
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from stance.config import Config
from stance.data import read_records
from stance.errors import StanceError
from training.api import train_model


def fold_assignment(article_sizes: dict[str, int], folds: int, seed: int) -> dict[str, int]:
    """Articles -> fold, balancing sentence counts: largest articles first, each to the lightest fold."""
    order = sorted(article_sizes)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda a: -article_sizes[a])
    load = [0] * folds
    out = {}
    for article in order:
        k = min(range(folds), key=lambda i: (load[i], i))
        out[article] = k
        load[k] += article_sizes[article]
    return out


def cross_validate(cfg: Config, folds: int, on_fold: Callable[[int, dict], None] | None = None) -> dict:
    """Mean and spread of test macro-F1 over `folds` article-grouped folds; `on_fold(k, stance.json)` is
    called as each fold finishes."""
    if folds < 3:
        raise StanceError(f"cross-validation needs at least 3 folds (test, validation, train), got {folds}")
    sizes = Counter(str(row["article_id"]) for _, row in read_records(cfg.data.sentences, cfg.data.text_field))
    if len(sizes) < folds:
        raise StanceError(f"{folds}-fold cross-validation needs at least {folds} articles, the corpus has {len(sizes)}")
    assign = fold_assignment(sizes, folds, cfg.train.seed)
    scores = []
    with tempfile.TemporaryDirectory(prefix="stance-cv-") as tmp:
        for k in range(folds):
            split = {
                a: "test" if f == k else "validation" if f == (k + 1) % folds else "train" for a, f in assign.items()
            }
            splits = Path(tmp) / f"splits-{k}.json"
            splits.write_text(json.dumps({"articles": split}), encoding="utf-8")
            fold_cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, splits=str(splits)))
            meta = train_model(fold_cfg, Path(tmp) / f"fold-{k}", quiet=True)
            f1 = meta["metrics"]["test"]["macro_f1"]
            scores.append(f1)
            if on_fold is not None:
                on_fold(k, meta)
    return {"folds": folds, "macro_f1": scores, "mean": statistics.mean(scores), "std": statistics.stdev(scores)}
