"""Choose the TF-IDF weight of a transformer + TF-IDF ensemble on the real-text dev set.

    python benchmarks/ensemble_sweep.py models/minilm models/tfidf [--weights 0,0.1,...]

Scores both model dirs once on validation (to fit each member's temperature, as training an ensemble
does), on dev_real and on test, then mixes their calibrated probabilities at each weight exactly as
`model.type: ensemble` does (stance.calibration.mix). Prints one JSON line per weight with dev_real and
test macro-F1, the dev_real 95% bootstrap interval, and the paired interval of the gain over weight 0.
Choose by dev_real; test is reported, never chosen on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("transformer", type=Path)
    parser.add_argument("tfidf", type=Path)
    parser.add_argument("--weights", default="0,0.1,0.2,0.3,0.4,0.5,0.6")
    args = parser.parse_args()

    from inference.evaluation import EvalOptions, load_eval_rows, paired_bootstrap_diff
    from inference.predictor import Predictor
    from stance import metrics as M
    from stance.calibration import fit_temperature, mix

    models = [Predictor.load(args.transformer), Predictor.load(args.tfidf)]
    labels = models[0].labels
    logits, gold = {}, {}
    for split in ("validation", "dev_real", "test"):
        rows = load_eval_rows(args.transformer, [Path(split)], labels, EvalOptions())
        gold[split] = [r["gold"] for r in rows]
        logits[split] = [m.logits([r["text"] for r in rows], [r["context"] for r in rows]) for m in models]
    val_ids = [labels.index(g) for g in gold["validation"]]
    temps = [fit_temperature(z, val_ids) for z in logits["validation"]]
    base = None
    for w in (float(x) for x in args.weights.split(",")):
        out = {"tfidf_weight": w, "temperatures": [round(t, 4) for t in temps]}
        for split in ("validation", "dev_real", "test"):
            pred = [labels[i] for i in mix(*logits[split], w, *temps).argmax(1)]
            out[split] = round(M.macro_f1(gold[split], pred, labels), 4)
            if split == "dev_real":
                ci = M.bootstrap_ci(gold[split], pred, lambda g, p: M.macro_f1(g, p, labels))
                out["dev_real_ci"] = [round(x, 4) for x in ci]
                base = base or pred
                out["dev_real_gain_ci"] = [round(x, 4) for x in paired_bootstrap_diff(gold[split], base, pred, labels)]
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
