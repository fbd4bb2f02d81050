"""Where prediction speed comes from: each step of stance's CPU forward path switched on in turn.

    python benchmarks/predict_paths.py [MODEL_DIR] [--n 3000] [--repeats 3]

Steps, each on top of the last, at fp32 and int8 (best of --repeats runs over N corpus sentences):
  1. hf       model(**batch).logits on length-sorted, padded batches of 64, torch's threads
  2. cls      stance.encoding.cls_forward: the last layer computes only the [CLS] position
  3. equal    batches of exactly equal token length (no padding, no attention mask)
  4. workers  two batches at once, one thread each (what `Predictor` does)
Also reports label agreement with step 1 at the same precision. Prints JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", nargs="?", default="models/minilm")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from stance.encoding import cls_forward, encode
    from stance.model_types.transformer import TransformerModel, quantize_int8

    texts = [json.loads(line)["text"] for line in (REPO / "data/sentences.jsonl").read_text().splitlines()][: args.n]
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    threads = torch.get_num_threads()
    CFG = {"model": {"max_length": 128}, "data": {"context": 0}}

    def load(precision: str):
        model = AutoModelForSequenceClassification.from_pretrained(args.model_dir).eval()
        return quantize_int8(model) if precision == "int8" else model  # exactly what Predictor does

    def padded(model, fast: bool):
        enc = encode(tokenizer, texts, None, 128)
        order = sorted(range(len(texts)), key=lambda i: len(enc["input_ids"][i]))
        forward = cls_forward(model) if fast else None
        out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), 64):
                idx = order[start : start + 64]
                batch = tokenizer.pad({k: [enc[k][i] for i in idx] for k in enc.keys()}, return_tensors="pt")
                out[idx] = (forward(**batch) if fast else model(**batch).logits).numpy()
        return out

    steps = {
        "hf": lambda m: padded(m, False),
        "cls": lambda m: padded(m, True),
        "equal": lambda m: TransformerModel(m, tokenizer, CFG, workers=1).logits(texts, batch_size=64),
        "workers": lambda m: TransformerModel(m, tokenizer, CFG, workers=threads).logits(texts, batch_size=64),
    }
    for precision in ("fp32", "int8"):
        model = load(precision)
        reference = None
        for name, fn in steps.items():
            best, labels = 0.0, None
            for _ in range(args.repeats):
                start = time.perf_counter()
                labels = fn(model).argmax(1)
                best = max(best, len(texts) / (time.perf_counter() - start))
            reference = labels if reference is None else reference
            print(
                json.dumps(
                    {
                        "precision": precision,
                        "step": name,
                        "per_s": round(best, 1),
                        "agreement_with_hf": round(float((labels == reference).mean()), 4),
                        "n": len(texts),
                        "threads": threads,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
