"""Teacher targets: a trained model's logits on the training split, written as data for distillation.

The teacher only reads its weights here, so this lives in inference; the student's training reads the
file through `stance.distil`, which checks it was made from the corpus being trained on.
"""

from __future__ import annotations

from pathlib import Path

from stance.distil import row_key, write_targets
from stance.errors import StanceError
from stance.model_types import MODEL_TYPES

CHUNK = 512  # sentences a progress step


def write_teacher_targets(
    teacher_dir: Path, cfg, output: Path, command: str, precision: str = "fp32", quiet: bool = False
) -> int:
    """Score the training split of `cfg`'s corpus with the teacher and write its logits to `output`.
    Returns the number of sentences. `command` is recorded: it is what regenerates the file."""
    from inference.predictor import Predictor
    from stance.data import load_corpus
    from stance.encoders import sha256_file
    from stance.progress import Progress

    predictor = Predictor.load(teacher_dir, precision=precision)
    meta = predictor.meta
    if list(meta["labels"]) != list(cfg.labels):  # before minutes of scoring, not after
        raise StanceError(f"the teacher's labels {meta['labels']} differ from the config's {cfg.labels}")
    rows = load_corpus(cfg)["train"]
    field = cfg.data.text_field
    logits: dict[str, list[float]] = {}
    with Progress("teacher", total=len(rows), unit="sentence", quiet=quiet) as bar:
        for start in range(0, len(rows), CHUNK):
            block = rows[start : start + CHUNK]
            out = predictor.logits([r[field] for r in block], [r["context"] for r in block])
            logits.update({row_key(r): out[i].tolist() for i, r in enumerate(block)})
            bar.update(len(block))
    teacher = {
        "model_dir": teacher_dir.name,
        "type": meta["type"],
        "encoder": meta.get("config", {}).get("model", {}).get("encoder"),
        "weights_sha256": sha256_file(teacher_dir / MODEL_TYPES[meta["type"]].files[0]),
        "trained_on": meta.get("data_fingerprint"),
        "precision": precision,
        "metrics": {s: round(m["macro_f1"], 4) for s, m in meta.get("metrics", {}).items()},
    }
    write_targets(output, logits, cfg.labels, cfg, teacher, command)
    return len(logits)
