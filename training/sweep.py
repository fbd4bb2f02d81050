"""Grid search over config values, scored on the VALIDATION split only (the test split is never looked at,
so choosing a config here does not tune to the test set).

    python -m training.sweep configs/minilm.yaml --grid train.learning_rate=5e-5,1e-4 --grid data.context=0,1
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

from stance.config import load_config
from training.api import train_model


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--grid", action="append", default=[], help="key=v1,v2,... (repeatable)")
    parser.add_argument("--set", action="append", default=[], help="fixed override key=value")
    parser.add_argument("--output", help="write results as JSON here")
    args = parser.parse_args(argv)
    axes = [(g.split("=", 1)[0], g.split("=", 1)[1].split(",")) for g in args.grid]
    results = []
    for values in itertools.product(*[v for _, v in axes]):
        overrides = [*args.set, *[f"{k}={v}" for (k, _), v in zip(axes, values, strict=True)]]
        cfg = load_config(args.config, overrides)
        start = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            meta = train_model(cfg, Path(tmp) / "m", quiet=True)
        row = {
            "overrides": overrides,
            "val_macro_f1": meta["metrics"]["validation"]["macro_f1"],
            "best_epoch": meta["training"].get("best_epoch"),
            "seconds": round(time.time() - start, 1),
            "history": [h["val_macro_f1"] for h in meta["training"].get("epochs", [])],
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
