"""Faults: a killed training resumes to the same model; a crash while writing leaves the previous output
intact; two trainings into one output cannot interleave."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import TINY, sets, train_cmd, weights_digest
from typer.testing import CliRunner

from stance.cli import app
from stance.config import load_config

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


def wait_for_checkpoint(state: Path, min_step: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if json.loads(state.read_text())["global_step"] >= min_step:
                return
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared")


def test_kill_and_resume_gives_the_same_model(tmp_path, tiny_overrides):
    overrides = [*tiny_overrides, "train.epochs=30", "train.patience=0", "train.checkpoint_steps=7"]
    reference = tmp_path / "reference"
    subprocess.run(train_cmd(reference, overrides), check=True, capture_output=True)

    out = tmp_path / "killed"
    proc = subprocess.Popen(train_cmd(out, overrides), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out.parent / f".{out.name}.run" / "checkpoint" / "state.json"
    wait_for_checkpoint(state, 20)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "the model dir must not exist before training finished"
    step = json.loads(state.read_text())["global_step"]
    assert step < 240, "the run finished before it could be killed"

    # without --resume, the interrupted run is not silently thrown away
    again = subprocess.run(train_cmd(out, overrides), capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in again.stderr

    subprocess.run(train_cmd(out, overrides, "--resume"), check=True, capture_output=True)
    assert (
        json.loads((out / "stance.json").read_text())["metrics"]
        == json.loads((reference / "stance.json").read_text())["metrics"]
    )
    assert weights_digest(out) == weights_digest(reference)
    assert not (out.parent / f".{out.name}.run").exists()


def _tfidf_cfg(corpus):
    sentences, splits = corpus
    dev = sentences.parent / "dev_real.jsonl"
    return load_config(
        REPO / "configs/tfidf.yaml", [f"data.sentences={sentences}", f"data.splits={splits}", f"data.dev_real={dev}"]
    )


@pytest.mark.parametrize("kind", ["tfidf", "transformer"])
def test_crash_while_writing_a_model_dir_keeps_the_previous_one(tmp_path, corpus, tiny_overrides, monkeypatch, kind):
    import training.api
    from training import train_model

    cfg = _tfidf_cfg(corpus) if kind == "tfidf" else load_config(TINY, tiny_overrides)
    out = tmp_path / "model"
    train_model(cfg, out, quiet=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def crash(meta):
        raise RuntimeError("disk full")

    monkeypatch.setattr(training.api, "model_card", crash)  # fails after the weights are written
    with pytest.raises(RuntimeError, match="disk full"):
        train_model(cfg, out, quiet=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    if kind == "tfidf":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temp dir, no run dir left
    else:
        # the finished run's checkpoint is kept, so --resume only has to write the model dir again
        assert sorted(p.name for p in tmp_path.iterdir()) == [".model.run", "model"]
        monkeypatch.undo()
        meta = train_model(cfg, out, resume=True, quiet=True)
        assert json.loads((out / "stance.json").read_text())["metrics"] == meta["metrics"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_crash_while_writing_predictions_keeps_the_previous_file(tiny_model, tmp_path, monkeypatch):
    from inference.predictor import Predictor

    out = tmp_path / "preds.jsonl"
    assert runner.invoke(app, ["predict", str(tiny_model), "One.", "Two.", "--output", str(out), "-q"]).exit_code == 0
    before = out.read_bytes()
    original = Predictor.stream

    def stream_then_crash(self, items, *args, **kwargs):
        for n, pred in enumerate(original(self, items, *args, **kwargs)):
            if n == 2:
                raise RuntimeError("killed mid-write")
            yield pred

    monkeypatch.setattr(Predictor, "stream", stream_then_crash)
    result = runner.invoke(app, ["predict", str(tiny_model), "A.", "B.", "C.", "D.", "--output", str(out), "-q"])
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["preds.jsonl"]


def test_second_training_into_the_same_output_is_refused(tmp_path, tiny_overrides):
    overrides = [*tiny_overrides, "train.epochs=40", "train.patience=0", "train.checkpoint_steps=5"]
    out = tmp_path / "shared"
    first = subprocess.Popen(train_cmd(out, overrides), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_checkpoint(out.parent / f".{out.name}.run" / "checkpoint" / "state.json", 5)
    second = runner.invoke(app, ["train", str(TINY), "--output", str(out), "--resume", "--quiet", *sets(overrides)])
    assert second.exit_code == 2
    assert "locked" in second.stderr and "Traceback" not in second.output
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    meta = json.loads((out / "stance.json").read_text())
    assert meta["type"] == "transformer" and len(meta["training"]["epochs"]) == 40
    from inference import Predictor

    assert Predictor.load(out).predict(["The army will deploy troops."])[0].label


def test_atomic_outputs_get_the_usual_permissions(tmp_path):
    """Temp files and dirs are created private (0600/0700); what is swapped in must be readable as usual."""
    from stance.atomic import atomic_dir, write_text

    old = os.umask(0o022)
    try:
        write_text(tmp_path / "out.txt", "x")
        with atomic_dir(tmp_path / "model") as tmp:
            write_text(tmp / "stance.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "model" / "stance.json").stat().st_mode & 0o777 == 0o644
