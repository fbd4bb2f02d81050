"""Grid search over config values, scored on the VALIDATION split only (the test split is never looked at,
so choosing a config here does not tune to the test set). `stance sweep` is its command line, e.g. the
grid train.learning_rate=5e-5,1e-4 by data.context=0,1 is four runs.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from stance.config import load_config
from stance.errors import StanceError
from training.api import train_model


def sweep(config: Path, grid: list[str], fixed: list[str] = ()) -> Iterator[dict]:
    """Train once per combination of the `grid` values ("key=v1,v2,..."), with the `fixed` overrides;
    yield one result per run as it finishes: overrides, validation macro-F1, best epoch, seconds, history."""
    axes = []
    for g in grid:
        key, sep, values = g.partition("=")
        if not sep or not values:
            raise StanceError(f"a grid axis must be key=v1,v2,..., got '{g}'")
        axes.append((key, values.split(",")))
    for values in itertools.product(*[v for _, v in axes]):
        overrides = [*fixed, *[f"{k}={v}" for (k, _), v in zip(axes, values, strict=True)]]
        cfg = load_config(config, overrides)
        start = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            meta = train_model(cfg, Path(tmp) / "m", quiet=True)
        yield {
            "overrides": overrides,
            "val_macro_f1": meta["metrics"]["validation"]["macro_f1"],
            "best_epoch": meta["training"].get("best_epoch"),
            "seconds": round(time.time() - start, 1),
            "history": [h["val_macro_f1"] for h in meta["training"].get("epochs", [])],
        }
