"""Prediction throughput and memory against `transformers.pipeline` on the same model dir.

    python benchmarks/predict_speed.py [MODEL_DIR] [--n 10000] [--single 1000] [--scale 1000,10000,100000]

1. Throughput on N corpus sentences (cycled): pipeline one text at a time (timed on --single texts),
   pipeline with batch_size=32, and stance's Predictor at fp32, bf16 and int8.
2. Agreement: fp32 labels vs the pipeline's; test-split macro-F1 at each precision.
3. Scale: `stance predict --input FILE --output FILE` in a subprocess on 1k/10k/100k sentences:
   wall time and peak RSS (memory must not grow with the input).
Prints JSON lines; docs/benchmarks.md records a run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def corpus_texts(n: int) -> list[str]:
    texts = [json.loads(line)["text"] for line in (REPO / "data/sentences.jsonl").read_text().splitlines()]
    return list(itertools.islice(itertools.cycle(texts), n))


def rate(n: int, fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return n / (time.perf_counter() - start), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", nargs="?", default="models/minilm")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--single", type=int, default=1_000)
    parser.add_argument("--scale", default="1000,10000,100000")
    parser.add_argument(
        "--precisions", default="fp32,bf16,int8", help="bf16 is emulated (slow) on CPUs without native bf16"
    )
    args = parser.parse_args()
    import torch
    from transformers import pipeline

    from inference import Predictor
    from inference.evaluation import EvalOptions, load_eval_rows
    from stance import metrics as M

    texts = corpus_texts(args.n)
    pipe = pipeline("text-classification", model=args.model_dir, device="cpu")
    results = {"model_dir": args.model_dir, "n": args.n, "threads": torch.get_num_threads(), "cores": os.cpu_count()}
    results["pipeline_single_per_s"], _ = rate(args.single, lambda: [pipe(t) for t in texts[: args.single]])
    results["pipeline_b32_per_s"], pipe_out = rate(args.n, lambda: pipe(texts, batch_size=32))
    pipe_labels = [p["label"] for p in pipe_out]
    rows = load_eval_rows(
        Path(args.model_dir),
        [Path("test")],
        json.loads((Path(args.model_dir) / "stance.json").read_text())["labels"],
        EvalOptions(),
    )
    for precision in args.precisions.split(","):
        predictor = Predictor.load(args.model_dir, precision=precision)
        predictor.predict(texts[:64])  # warm-up
        per_s, preds = rate(args.n, lambda p=predictor: p.predict(texts))
        results[f"{precision}_per_s"] = per_s
        labels = [p.label for p in preds]
        results[f"{precision}_label_agreement_with_pipeline"] = sum(
            a == b for a, b in zip(labels, pipe_labels, strict=True)
        ) / len(labels)
        probs = predictor.predict_proba([r["text"] for r in rows], [r["context"] for r in rows])
        results[f"{precision}_test_macro_f1"] = M.macro_f1(
            [r["gold"] for r in rows], [predictor.labels[i] for i in probs.argmax(1)], predictor.labels
        )
    for precision in args.precisions.split(","):
        for base in ("single", "b32"):
            results[f"{precision}_speedup_vs_pipeline_{base}"] = (
                results[f"{precision}_per_s"] / results[f"pipeline_{base}_per_s"]
            )
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in results.items()}), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(x) for x in args.scale.split(",") if x]:
            src = Path(tmp) / f"in-{n}.jsonl"
            with open(src, "w", encoding="utf-8") as fh:
                for t in itertools.islice(itertools.cycle(corpus_texts(4000)), n):
                    fh.write(json.dumps({"text": t}) + "\n")
            cmd = [
                "/usr/bin/time",
                "-f",
                "%M %e",
                sys.executable,
                "-m",
                "stance",
                "predict",
                args.model_dir,
                "--input",
                str(src),
                "--output",
                str(Path(tmp) / "out.jsonl"),
                "--quiet",
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rss_kb, wall = proc.stderr.strip().splitlines()[-1].split()
            print(
                json.dumps(
                    {
                        "scale_n": n,
                        "wall_s": float(wall),
                        "per_s": round(n / float(wall), 1),
                        "peak_rss_mb": round(int(rss_kb) / 1024),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
