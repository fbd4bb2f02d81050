"""Training throughput per optimiser setting: batch size x fused AdamW x frozen word embeddings.

    python benchmarks/train_step_speed.py [--encoder minilm] [--steps 25]

Times forward + backward + clip + AdamW step on length-sorted corpus sentences (the training loop groups
batches by length), after 3 warm-up steps. Prints one JSON line per setting (sentences/s).
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
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging

    from stance.config import resolve_encoder

    logging.set_verbosity_error()
    path = resolve_encoder(args.encoder)
    tokenizer = AutoTokenizer.from_pretrained(path)
    texts = [json.loads(line)["text"] for line in (REPO / "data/sentences.jsonl").read_text().splitlines()][:2000]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for batch_size in (16, 32):
        for freeze in (False, True):
            for fused in (False, True):
                torch.manual_seed(0)
                model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=4)
                if freeze:
                    model.get_input_embeddings().weight.requires_grad_(False)
                params = [p for p in model.parameters() if p.requires_grad]
                optimizer = torch.optim.AdamW(params, lr=1e-4, fused=fused)
                model.train()
                for step in range(args.steps + 3):
                    if step == 3:
                        start = time.perf_counter()
                    idx = order[(step * 37 * batch_size) % (len(texts) - batch_size) :][:batch_size]
                    batch = tokenizer([texts[i] for i in idx], padding=True, return_tensors="pt")
                    loss = F.cross_entropy(model(**batch).logits, torch.zeros(len(idx), dtype=torch.long))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                rate = args.steps * batch_size / (time.perf_counter() - start)
                print(
                    json.dumps(
                        {"batch_size": batch_size, "freeze_embeddings": freeze, "fused": fused, "per_s": round(rate, 1)}
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
