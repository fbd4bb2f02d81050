"""Which int8 quantisation keeps accuracy: validation macro-F1 and speed of fp32 vs dynamic int8 variants.
Scored on the VALIDATION split (choices made here must not look at test).

    python benchmarks/int8_variants.py [MODEL_DIR]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from inference.evaluation import EvalOptions, load_eval_rows
    from stance import metrics as M
    from stance.model_types.transformer import TransformerModel, quantize_int8
    from stance.modeldir import read_meta

    model_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "models/minilm")
    meta = read_meta(model_dir)
    labels = meta["labels"]
    rows = load_eval_rows(model_dir, [Path("validation")], labels, EvalOptions())
    texts, gold = [r["text"] for r in rows], [r["gold"] for r in rows]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    def load():
        return AutoModelForSequenceClassification.from_pretrained(model_dir).eval()

    variants = {
        "fp32": load(),
        "int8 per-tensor": quantize_int8(load(), per_channel=False),
        "int8 per-channel": quantize_int8(load()),
    }
    for name, model in variants.items():
        scorer = TransformerModel(model, tokenizer, meta["config"])  # workers=1: the layers alone are compared
        scorer.logits(texts[:64])  # warm-up
        start = time.perf_counter()
        logits = scorer.logits(texts)
        rate = len(texts) / (time.perf_counter() - start)
        f1 = M.macro_f1(gold, [labels[i] for i in logits.argmax(1)], labels)
        print(f"{name:<18} {rate:6.0f} sentences/s   validation macro-F1 {f1:.4f}")


if __name__ == "__main__":
    main()
