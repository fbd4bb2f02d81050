"""train_model: config + corpus -> a self-describing model directory, written atomically.

Steps: lock the output, load the corpus, train the config's model type (`stance.model_types`), fit the
calibration temperature on validation, score validation, test and the real-text dev set, write the dir.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from stance.atomic import atomic_dir, write_json, write_text
from stance.calibration import fit_temperature, softmax
from stance.config import Config
from stance.data import load_corpus, load_dev_real
from stance.errors import StanceError
from stance.metrics import expected_calibration_error, summary
from stance.model_types import MODEL_TYPES, ModelType, TrainRun
from stance.modeldir import META, fingerprint, model_card, replaces_model_dir, versions


def run_dir_for(output: Path) -> Path:
    """Where a run keeps its lock and resumable checkpoint: `.NAME.run` beside the model dir."""
    return output.parent / f".{output.name}.run"


def has_checkpoint(output: Path) -> bool:
    """Whether an interrupted run left a checkpoint for this output."""
    return (run_dir_for(Path(output)) / "checkpoint").exists()


@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """An exclusive lock on the output model dir, so two trainings cannot write it at once.
    The kernel drops it when the process dies, so a killed run never leaves a stale lock. The run dir
    that holds it is removed after success, or after a failure that left no checkpoint to resume."""
    run_dir = run_dir_for(output)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / "lock", os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as exc:
        raise StanceError(f"cannot write to {output.parent}: {exc.strerror}", path=output) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StanceError("another training is writing this model directory (locked)", path=output) from None
        succeeded = False
        try:
            yield
            succeeded = True
        finally:
            if succeeded or not (run_dir / "checkpoint").exists():
                shutil.rmtree(run_dir, ignore_errors=True)
    finally:
        os.close(fd)


def train_model(cfg: Config, output: str | Path, resume: bool = False, quiet: bool = False) -> dict:
    """Train per `cfg` and write a model dir at `output`; returns its stance.json contents."""
    output = Path(output)
    rank = int(os.environ.get("RANK", "0"))
    model_type = MODEL_TYPES[cfg.model.type]
    model_type.preflight(cfg)  # a bad encoder or bad data fails before anything is written
    replaces_model_dir(output)  # and so does an output that is not ours to replace
    corpus = load_corpus(cfg)
    if not corpus["train"] or not corpus["validation"]:  # a model or a calibration fitted on nothing
        raise StanceError("the training and validation splits must both have sentences", path=cfg.data.splits)
    dev_real = load_dev_real(cfg)  # a missing or bad dev set fails here, before hours of training
    run_dir = run_dir_for(output)
    if has_checkpoint(output) and not resume and rank == 0:
        raise StanceError(f"an interrupted run is in {run_dir}: resume it, or delete it", path=output)
    with output_lock(output) if rank == 0 else contextlib.nullcontext():
        start = time.time()
        run_dir.mkdir(parents=True, exist_ok=True)  # other ranks do not take the lock
        model = model_type.train(cfg, corpus, TrainRun(run_dir, resume, quiet))
        seconds = time.time() - start
        if rank != 0:
            return {}  # rank 0 scores and writes the model dir
        metrics, calibration = score_splits(cfg, model, {**corpus, "dev_real": dev_real})
        meta = {
            "format": 1,
            "type": cfg.model.type,
            "labels": cfg.labels,
            "config": cfg.to_dict(),
            "data_fingerprint": fingerprint(cfg.data.sentences, cfg.data.splits),
            **({"dev_real_fingerprint": fingerprint(cfg.data.dev_real)} if dev_real else {}),
            "sizes": {s: len(rows) for s, rows in corpus.items()} | ({"dev_real": len(dev_real)} if dev_real else {}),
            "metrics": metrics,
            "calibration": calibration,
            "training": {},
            **model.meta(),
            "training_seconds": round(seconds, 1),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(),
        }
        with atomic_dir(output) as tmp:
            model.save(tmp)
            write_json(tmp / META, meta)
            write_text(tmp / "README.md", model_card(meta))
        return meta


def score_splits(cfg: Config, model: ModelType, splits: dict[str, list[dict]]) -> tuple[dict, dict]:
    """(metrics per split, calibration). The temperature is fitted on validation only; test and the
    real-text dev set are scored, never tuned on (dev_real chooses between finished models, outside this)."""
    labels, field_t, field_l = cfg.labels, cfg.data.text_field, cfg.data.label_field
    metrics, logits, gold = {}, {}, {}
    for split in ("validation", "test", "dev_real"):
        rows = splits.get(split)
        if rows:
            logits[split] = model.logits(
                [r[field_t] for r in rows], [r["context"] for r in rows], cfg.train.eval_batch_size
            )
            gold[split] = [labels.index(r[field_l]) for r in rows]
            pred = [labels[i] for i in logits[split].argmax(1)]
            metrics[split] = summary([labels[i] for i in gold[split]], pred, labels, ci=split != "validation")
    temperature = fit_temperature(logits["validation"], gold["validation"])
    calibration = {"method": "temperature", "temperature": round(temperature, 4), "fitted_on": "validation"}
    if "test" in logits:
        for name, t in (("test_ece_before", 1.0), ("test_ece_after", temperature)):
            p = softmax(logits["test"], t)
            ece = expected_calibration_error(p.max(1).tolist(), (p.argmax(1) == gold["test"]).tolist())
            calibration[name] = round(ece, 4)
    return metrics, calibration


def report_lines(meta: dict, output: Path) -> str:
    """What a finished training reports: where the model went, metrics per split, calibration."""
    lines = [f"model written to {output} ({meta['training_seconds']:.0f} s)"]
    for split, m in meta["metrics"].items():
        per = ", ".join(f"{lab} {f:.3f}" for lab, f in m["per_class_f1"].items())
        ci = f" [{m['macro_f1_ci'][0]:.3f}, {m['macro_f1_ci'][1]:.3f}]" if "macro_f1_ci" in m else ""
        lines.append(f"{split:<10} macro-F1 {m['macro_f1']:.4f}{ci}  accuracy {m['accuracy']:.4f}  ({per})")
    cal = meta["calibration"]
    if "test_ece_before" in cal:
        lines.append(
            f"calibration: T={cal['temperature']:.3f}, test ECE {cal['test_ece_before']:.4f} -> "
            f"{cal['test_ece_after']:.4f}"
        )
    return "\n".join(lines)
