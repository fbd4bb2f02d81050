"""Distillation from stored teacher targets, the ensemble model type, and the bf16 training option."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, sets, weights_digest
from typer.testing import CliRunner

from stance.cli import app
from stance.modeldir import UNSAFE_SUFFIXES

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture(scope="module")
def targets(tmp_path_factory, tiny_model, tiny_overrides) -> Path:
    """Teacher targets made by `stance distil-targets` from the session's tiny model."""
    out = tmp_path_factory.mktemp("teacher") / "tiny.json"
    result = runner.invoke(
        app,
        ["distil-targets", str(tiny_model), "--config", str(TINY), "--output", str(out), "-q", *sets(tiny_overrides)],
    )
    assert result.exit_code == 0, result.output
    return out


def test_distil_targets_cover_the_training_split_and_name_their_teacher(targets, tiny_model, tiny_overrides):
    from inference import Predictor
    from stance.config import load_config
    from stance.data import load_corpus

    record = json.loads(targets.read_text())
    train = load_corpus(load_config(TINY, tiny_overrides))["train"]
    assert record["n"] == len(train) and set(record["logits"]) == {r["id"] for r in train}
    assert record["command"].startswith(f"stance distil-targets {tiny_model}")
    assert record["teacher"]["weights_sha256"] and record["corpus_fingerprint"].startswith("sha256:")
    # the stored logits are the teacher's own
    first = train[0]
    expected = Predictor.load(tiny_model).logits([first["text"]])[0]
    np.testing.assert_allclose(record["logits"][first["id"]], expected, atol=1e-3)


def test_student_follows_the_teacher_with_full_weight(tmp_path, targets, tiny_overrides):
    """With distil.weight 1 the gold labels are ignored: a teacher that says "other" for every sentence
    makes a student that says "other", where the gold-trained model does not."""
    from inference import Predictor
    from stance.config import load_config
    from stance.data import load_corpus

    record = json.loads(targets.read_text())
    record["logits"] = {k: [0.0, 0.0, 0.0, 8.0] for k in record["logits"]}  # always "other"
    forced = tmp_path / "forced.json"
    forced.write_text(json.dumps(record))
    out = tmp_path / "student"
    args = ["train", str(TINY), "-o", str(out), "-q", *sets(tiny_overrides)]
    args += sets([f"distil.targets={forced}", "distil.weight=1.0", "distil.temperature=1.0"])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "stance.json").read_text())
    assert meta["config"]["distil"]["targets"] == str(forced)
    texts = [r["text"] for r in load_corpus(load_config(TINY, tiny_overrides))["train"]]
    labels = [p.label for p in Predictor.load(out).predict(texts)]
    assert labels.count("other") == len(labels)


def test_distil_weight_zero_is_gold_training_and_a_mix_is_not(tmp_path, targets, tiny_model, tiny_overrides):
    """weight 0: the teacher term contributes nothing, so the weights are bit-identical to the gold-only
    model's (same config and seed); weight 0.5: the teacher changes what is learned."""
    digests = {}
    for weight in (0.0, 0.5):
        out = tmp_path / f"student-{weight}"
        args = ["train", str(TINY), "-o", str(out), "-q", *sets(tiny_overrides)]
        args += sets([f"distil.targets={targets}", f"distil.weight={weight}"])
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        digests[weight] = weights_digest(out)
    assert digests[0.0] == weights_digest(tiny_model)
    assert digests[0.5] != digests[0.0]


def test_stale_targets_are_refused(tmp_path, targets, tiny_overrides, corpus):
    """The corpus changed after the targets were made: training stops and names the command that redoes them."""
    sentences, splits = corpus
    changed = tmp_path / "sentences.jsonl"
    lines = sentences.read_text().splitlines()
    row = json.loads(lines[0])
    row["text"] = row["text"].replace("(", "(edited ")
    changed.write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    out = tmp_path / "student"
    args = ["train", str(TINY), "-o", str(out), *sets(tiny_overrides)]
    args += sets([f"data.sentences={changed}", f"distil.targets={targets}"])
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "stale" in result.output and "stance distil-targets" in result.output
    assert not out.exists()


def test_targets_for_other_labels_or_missing_sentences_are_refused(tmp_path, targets, tiny_overrides):
    record = json.loads(targets.read_text())
    first = next(iter(record["logits"]))
    del record["logits"][first]
    short = tmp_path / "short.json"
    short.write_text(json.dumps(record))
    args = ["train", str(TINY), "-o", str(tmp_path / "m"), *sets(tiny_overrides), "--set", f"distil.targets={short}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "lack 1 training sentences" in result.output and first in result.output
    missing = ["train", str(TINY), "-o", str(tmp_path / "m"), *sets(tiny_overrides)]
    missing += ["--set", f"distil.targets={tmp_path / 'none.json'}"]
    result = runner.invoke(app, missing)
    assert result.exit_code == 2 and "teacher targets not found" in result.output


def test_ensemble_saves_without_pickle_reloads_and_averages_its_members(tmp_path, tiny_overrides, corpus):
    from inference import Predictor
    from stance.calibration import softmax
    from stance.model_types import LoadOptions
    from stance.model_types.tfidf import TfidfModel
    from stance.model_types.transformer import TransformerModel

    out = tmp_path / "ens"
    args = ["train", str(TINY), "-o", str(out), "-q", *sets(tiny_overrides)]
    args += sets(["model.type=ensemble", "ensemble.tfidf_weight=0.4"])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    files = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "tfidf.safetensors", "tfidf.json", "stance.json"} <= files
    assert not [f for f in files if f.endswith(UNSAFE_SUFFIXES)]
    meta = json.loads((out / "stance.json").read_text())
    e = meta["ensemble"]
    assert meta["type"] == "ensemble" and e["tfidf_weight"] == 0.4
    texts = ["The missile threat is dangerous and growing.", "Officials said citizens are safe and calm."]
    got = Predictor.load(out).logits(texts)
    p_tr = softmax(TransformerModel.load(out, meta, LoadOptions()).logits(texts, None, 8), e["transformer_temperature"])
    p_tf = softmax(TfidfModel.load(out, meta).logits(texts, None, 8), e["tfidf_temperature"])
    np.testing.assert_allclose(np.exp(got), 0.6 * p_tr + 0.4 * p_tf, rtol=1e-4, atol=1e-6)
    # the reloaded ensemble scores the test split exactly as at training time
    result = runner.invoke(app, ["evaluate", str(out), "test", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert round(json.loads(result.stdout)["macro_f1"], 4) == meta["metrics"]["test"]["macro_f1"]
    # an ensemble dir that lost its TF-IDF half is refused, not half-used
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / "tfidf.safetensors").unlink()
    result = runner.invoke(app, ["predict", str(broken), "A sentence."])
    assert result.exit_code == 2 and "tfidf.safetensors" in result.output


def test_bf16_training_runs_and_is_recorded(tmp_path, tiny_model, tiny_overrides):
    out = tmp_path / "bf16"
    result = runner.invoke(
        app, ["train", str(TINY), "-o", str(out), "-q", *sets(tiny_overrides), "--set", "train.precision=bf16"]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "stance.json").read_text())
    assert meta["config"]["train"]["precision"] == "bf16"
    assert meta["metrics"]["validation"]["macro_f1"] > 0.3  # chance on 4 balanced labels is ~0.25
    assert weights_digest(out) != weights_digest(tiny_model)  # the forward really ran in bf16
    result = runner.invoke(app, ["train", str(TINY), "--print-config", "--set", "train.precision=fp16"])
    assert result.exit_code == 2 and "train.precision" in result.output


def test_int8_is_refused_for_an_encoder_it_was_not_validated_on(tmp_path, tiny_model):
    """Dynamic int8 wrecks mpnet (test macro-F1 0.80 -> 0.59): a model of another family is refused, not
    silently degraded. Built here: a tiny MPNet classifier in a copy of the tiny model's dir."""
    from transformers import MPNetConfig, MPNetForSequenceClassification

    from inference import Predictor
    from stance.errors import StanceError

    mp = tmp_path / "tiny-mpnet"
    shutil.copytree(tiny_model, mp)
    bert = json.loads((tiny_model / "config.json").read_text())
    cfg = MPNetConfig(
        vocab_size=bert["vocab_size"], hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=37, num_labels=4, id2label=bert["id2label"], label2id=bert["label2id"],
    )  # fmt: skip
    MPNetForSequenceClassification(cfg).save_pretrained(mp)
    assert Predictor.load(mp, precision="bf16").predict(["A sentence."])[0].label
    with pytest.raises(StanceError, match="int8 is validated on BERT-family encoders only; this is mpnet"):
        Predictor.load(mp, precision="int8")
    assert Predictor.load(tiny_model, precision="int8").predict(["A sentence."])[0].label


def test_shipped_teacher_targets_match_the_shipped_corpus():
    """configs/minilm-distil.yaml must train as shipped: after a corpus change this fails until the targets
    are regenerated (data/teacher/README.md says how)."""
    from stance.config import load_config
    from stance.data import load_corpus
    from stance.distil import load_targets, row_key

    cfg = load_config(REPO / "configs/minilm-distil.yaml")
    train = load_corpus(cfg)["train"]
    rows = load_targets(cfg.distil.targets, cfg, [row_key(r) for r in train])
    assert len(rows) == len(train) and all(len(r) == len(cfg.labels) for r in rows)
