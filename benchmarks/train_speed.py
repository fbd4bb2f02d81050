"""Wall time of training a config on this machine (target for the default: <= 8 minutes on 2 cores).

    python benchmarks/train_speed.py [configs/minilm.yaml] [--output DIR]

Prints one JSON line: config, wall seconds, peak RSS, validation/test macro-F1, cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stance.config import load_config  # noqa: E402
from training import train_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", nargs="?", default="configs/minilm.yaml")
    parser.add_argument("--output")
    args = parser.parse_args()
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        meta = train_model(load_config(args.config), Path(args.output or Path(tmp) / "m"), quiet=True)
    print(
        json.dumps(
            {
                "config": args.config,
                "wall_seconds": round(time.time() - start, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "val_macro_f1": meta["metrics"]["validation"]["macro_f1"],
                "test_macro_f1": meta["metrics"]["test"]["macro_f1"],
                "cores": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
