"""train_model: config + corpus -> a self-describing model directory, written atomically.

Steps: lock the output, load the corpus, train (transformer loop or TF-IDF baseline), fit the
calibration temperature on validation, score validation and test, write the model dir.
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
from stance.calibration import fit_temperature, mix, softmax
from stance.config import Config
from stance.data import load_corpus, load_dev_real
from stance.errors import StanceError
from stance.metrics import expected_calibration_error, summary
from stance.model import META, fingerprint, model_card, versions


def run_dir_for(output: Path) -> Path:
    """Where a run keeps its lock and resumable checkpoint: `.NAME.run` beside the model dir."""
    return output.parent / f".{output.name}.run"


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
    if cfg.model.type in ("transformer", "ensemble"):
        cfg.encoder_path()  # a bad encoder or bad data fails before anything is written
    corpus = load_corpus(cfg)
    dev_real = load_dev_real(cfg)  # a missing or bad dev set fails here, before hours of training
    run_dir = run_dir_for(output)
    if (run_dir / "checkpoint").exists() and not resume and rank == 0:
        raise StanceError(
            f"an interrupted run is in {run_dir}: pass --resume to continue it, or delete it", path=output
        )
    lock = output_lock(output) if rank == 0 else contextlib.nullcontext()
    with lock:
        start = time.time()
        labels = cfg.labels
        field_t, field_l = cfg.data.text_field, cfg.data.label_field
        ctx = cfg.data.context == 1

        kind = cfg.model.type
        members = {}  # logits functions of the trained parts: transformer, tfidf or both (ensemble)
        history: dict = {}
        if kind in ("transformer", "ensemble"):
            from stance.encoding import batched_logits
            from training.loop import train_transformer

            run_dir.mkdir(parents=True, exist_ok=True)  # other ranks do not take the lock
            result = train_transformer(cfg, corpus, run_dir, resume, quiet)

            def transformer_logits(rows):
                return batched_logits(
                    result.model,
                    result.tokenizer,
                    [r[field_t] for r in rows],
                    [r["context"] for r in rows] if ctx else None,
                    cfg.model.max_length,
                    cfg.train.eval_batch_size,
                )

            members["transformer"] = transformer_logits
            history = {"epochs": result.history, "best_epoch": result.best_epoch}
        if kind in ("tfidf", "ensemble"):
            from training.baseline import TfidfModel

            tfidf = TfidfModel(cfg).fit([r[field_t] for r in corpus["train"]], [r[field_l] for r in corpus["train"]])
            members["tfidf"] = lambda rows: tfidf.logits([r[field_t] for r in rows])
        ensemble = None
        if kind == "ensemble":  # each member calibrated on validation, then their probabilities averaged
            val_ids = [labels.index(r[field_l]) for r in corpus["validation"]]
            ensemble = {
                "tfidf_weight": cfg.ensemble.tfidf_weight,
                **{
                    f"{m}_temperature": round(fit_temperature(f(corpus["validation"]), val_ids), 4)
                    for m, f in members.items()
                },
            }

            def logits_of(rows):
                return mix(
                    members["transformer"](rows),
                    members["tfidf"](rows),
                    ensemble["tfidf_weight"],
                    ensemble["transformer_temperature"],
                    ensemble["tfidf_temperature"],
                )
        else:
            (logits_of,) = members.values()
        seconds = time.time() - start
        if rank != 0:
            return {}  # rank 0 scores and writes the model dir

        # Calibration and metrics. Temperature is fitted on validation only; test and the real-text dev set
        # are scored, never tuned on (dev_real chooses between finished models, outside this function).
        metrics, logits = {}, {}
        for split, rows in (("validation", corpus["validation"]), ("test", corpus["test"]), ("dev_real", dev_real)):
            if rows:
                logits[split] = logits_of(rows)
                gold = [r[field_l] for r in rows]
                pred = [labels[i] for i in logits[split].argmax(1)]
                metrics[split] = summary(gold, pred, labels, ci=split != "validation")
        temperature = fit_temperature(logits["validation"], [labels.index(r[field_l]) for r in corpus["validation"]])
        calibration = {"method": "temperature", "temperature": round(temperature, 4), "fitted_on": "validation"}
        if "test" in logits:
            gold_ids = [labels.index(r[field_l]) for r in corpus["test"]]
            for name, t in (("test_ece_before", 1.0), ("test_ece_after", temperature)):
                p = softmax(logits["test"], t)
                calibration[name] = round(
                    expected_calibration_error(p.max(1).tolist(), (p.argmax(1) == gold_ids).tolist()), 4
                )

        meta = {
            "format": 1,
            "type": cfg.model.type,
            "labels": labels,
            "config": cfg.to_dict(),
            "data_fingerprint": fingerprint(cfg.data.sentences, cfg.data.splits),
            **({"dev_real_fingerprint": fingerprint(cfg.data.dev_real)} if dev_real else {}),
            "sizes": {
                **{s: len(rows) for s, rows in corpus.items()},
                **({"dev_real": len(dev_real)} if dev_real else {}),
            },
            "metrics": metrics,
            "calibration": calibration,
            **({"ensemble": ensemble} if ensemble else {}),
            "training": history,
            "training_seconds": round(seconds, 1),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(),
        }
        with atomic_dir(output) as tmp:
            if "transformer" in members:  # a Hugging Face dir at the top: pipeline() loads it as it is
                result.model.save_pretrained(tmp)
                result.tokenizer.save_pretrained(tmp)
            if "tfidf" in members:
                tfidf.save(tmp)
            write_json(tmp / META, meta)
            write_text(tmp / "README.md", model_card(meta))
        if not quiet:
            print(report_lines(meta, output))
        return meta


def report_lines(meta: dict, output: Path) -> str:
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
