"""Training from a config: end to end, determinism, kill + resume, the baseline, torchrun, CV."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import TINY, sets, train_cmd, weights_digest
from typer.testing import CliRunner

from stance.cli import app
from stance.modeldir import UNSAFE_SUFFIXES

runner = CliRunner()


def test_model_dir_is_self_describing(tiny_model):
    files = {p.name for p in tiny_model.iterdir()}
    assert {"config.json", "model.safetensors", "stance.json", "README.md", "tokenizer.json"} <= files
    assert not [f for f in files if f.endswith(UNSAFE_SUFFIXES)]
    meta = json.loads((tiny_model / "stance.json").read_text())
    assert meta["type"] == "transformer"
    assert meta["labels"] == ["threat_assessment", "policy_response", "reassurance", "other"]
    assert meta["data_fingerprint"].startswith("sha256:")
    assert set(meta["metrics"]) == {"validation", "test", "dev_real"}
    assert 0.0 <= meta["metrics"]["test"]["macro_f1"] <= 1.0
    # held-out scores carry a bootstrap interval around them; dev_real is scored on its own 24 rows
    for split in ("test", "dev_real"):
        lo, hi = meta["metrics"][split]["macro_f1_ci"]
        assert lo <= meta["metrics"][split]["macro_f1"] <= hi
    assert meta["metrics"]["dev_real"]["n"] == meta["sizes"]["dev_real"] == 24
    assert meta["dev_real_fingerprint"].startswith("sha256:")
    assert meta["calibration"]["temperature"] > 0
    assert "torch" in meta["versions"] and meta["training_seconds"] > 0
    assert meta["config"]["model"]["max_length"] == 32
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["id2label"] == {"0": "threat_assessment", "1": "policy_response", "2": "reassurance", "3": "other"}
    card = (tiny_model / "README.md").read_text()
    assert "## Intended use" in card and "| test |" in card and "| dev_real |" in card


def test_tiny_model_learns_something(tiny_model):
    meta = json.loads((tiny_model / "stance.json").read_text())
    assert meta["metrics"]["validation"]["macro_f1"] > 0.3  # chance on 4 balanced labels is ~0.25


def test_training_is_deterministic(tmp_path, tiny_model, tiny_overrides):
    out = tmp_path / "again"
    result = runner.invoke(app, ["train", str(TINY), "--output", str(out), "--quiet", *sets(tiny_overrides)])
    assert result.exit_code == 0, result.output
    first = json.loads((tiny_model / "stance.json").read_text())
    second = json.loads((out / "stance.json").read_text())
    assert first["metrics"] == second["metrics"]
    assert first["calibration"] == second["calibration"]
    assert weights_digest(tiny_model) == weights_digest(out)


def test_train_prints_validation_and_test_f1(tmp_path, tiny_overrides):
    result = runner.invoke(app, ["train", str(TINY), "--output", str(tmp_path / "m"), *sets(tiny_overrides)])
    assert result.exit_code == 0, result.output
    assert "validation macro-F1" in result.stdout and "test       macro-F1" in result.stdout
    assert "threat_assessment" in result.stdout


def test_tfidf_baseline_saves_without_pickle_and_reloads(tfidf_model, corpus):
    files = {p.name for p in tfidf_model.iterdir()}
    assert files == {"stance.json", "README.md", "tfidf.json", "tfidf.safetensors"}
    from inference import Predictor

    meta = json.loads((tfidf_model / "stance.json").read_text())
    assert meta["type"] == "tfidf"
    # the reloaded model scores the test split exactly as the in-memory one did at training time
    result = runner.invoke(app, ["evaluate", str(tfidf_model), "test", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert round(json.loads(result.stdout)["macro_f1"], 4) == meta["metrics"]["test"]["macro_f1"]
    preds = Predictor.load(tfidf_model).predict(["The ministry agreed to buy new air defence."])
    assert preds[0].label == "policy_response"


def test_pipeline_loads_the_transformer_dir(tiny_model):
    from transformers import pipeline

    from inference import Predictor

    texts = ["The missile threat is dangerous and growing.", "Officials said citizens are safe and calm."]
    pipe = pipeline("text-classification", model=str(tiny_model), device="cpu")
    ours = Predictor.load(tiny_model).predict(texts)
    assert [p["label"] for p in pipe(texts)] == [p.label for p in ours]


def test_context_option_trains_and_predicts(tmp_path, tiny_overrides):
    out = tmp_path / "ctx"
    result = runner.invoke(
        app, ["train", str(TINY), "--output", str(out), "--quiet", *sets([*tiny_overrides, "data.context=1"])]
    )
    assert result.exit_code == 0, result.output
    from inference import Predictor

    predictor = Predictor.load(out)
    assert predictor.context
    with_ctx = predictor.predict_proba(["It can reach our cities."], ["The missile threat is dangerous."])
    without = predictor.predict_proba(["It can reach our cities."], [""])
    assert abs(with_ctx - without).max() > 0  # the previous sentence changes the input


def test_frozen_embeddings_stay_put_and_the_rest_trains(tmp_path, tiny_bert, tiny_overrides):
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "frozen"
    overrides = [*tiny_overrides, "train.freeze_embeddings=true", "train.label_smoothing=0.1", "train.epochs=2"]
    result = runner.invoke(app, ["train", str(TINY), "--output", str(out), "--quiet", *sets(overrides)])
    assert result.exit_code == 0, result.output
    before = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=4).state_dict()
    after = load_file(out / "model.safetensors")
    name = "bert.embeddings.word_embeddings.weight"
    assert (after[name] == before[name]).all()
    layer = "bert.encoder.layer.0.attention.self.query.weight"
    assert not (after[layer] == before[layer]).all()


def test_label_smoothing_out_of_range_is_an_error(tiny_overrides):
    result = runner.invoke(app, ["train", str(TINY), *sets([*tiny_overrides, "train.label_smoothing=1.5"])])
    assert result.exit_code == 2 and "train.label_smoothing" in result.stderr


def test_cross_validation_reports_mean_and_std(tiny_overrides):
    result = runner.invoke(
        app, ["train", str(TINY), "--cv", "3", "--quiet", *sets([*tiny_overrides, "train.epochs=2"])]
    )
    assert result.exit_code == 0, result.output
    assert "cross-validation (3 folds, grouped by article): macro-F1" in result.stdout
    assert "±" in result.stdout


def test_lock_refuses_a_second_training_into_the_same_output(tmp_path, tiny_overrides):
    from stance.errors import StanceError
    from training.api import output_lock

    out = tmp_path / "locked"
    with output_lock(out):
        with pytest.raises(StanceError, match="locked"):
            with output_lock(out):
                pass


@pytest.mark.skipif(sys.platform != "linux", reason="gloo on CPU")
def test_torchrun_two_processes(tmp_path, tiny_overrides):
    out = tmp_path / "ddp"
    cmd = train_cmd(out, tiny_overrides, launcher=("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((out / "stance.json").read_text())
    assert meta["type"] == "transformer" and set(meta["metrics"]) == {"validation", "test", "dev_real"}
    from inference import Predictor

    assert len(Predictor.load(out).predict(["The army will deploy troops."])) == 1


def test_sweep_trains_once_per_grid_point_and_reports_validation_only(tiny_overrides, tmp_path):
    out = tmp_path / "sweep.json"
    args = ["sweep", str(TINY), "--grid", "train.seed=1,2", "-o", str(out), *sets([*tiny_overrides, "train.epochs=1"])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["overrides"][-1] for r in rows] == ["train.seed=1", "train.seed=2"]
    assert all(0 <= r["val_macro_f1"] <= 1 and len(r["history"]) == 1 for r in rows)
    assert json.loads(out.read_text()) == rows
    bad = runner.invoke(app, ["sweep", str(TINY), "--grid", "train.seed"])
    assert bad.exit_code == 2 and "key=v1,v2" in bad.stderr
