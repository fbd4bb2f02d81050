"""Evaluation: metrics against hand-computed values, intervals, the report, compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stance import metrics as M
from stance.cli import app

LABELS = ["a", "b", "c"]
runner = CliRunner()

GOLD = ["a", "a", "a", "b", "b", "c", "c", "c", "c", "a"]
PRED = ["a", "a", "b", "b", "c", "c", "c", "a", "c", "a"]


def test_confusion_matrix_by_hand():
    # gold a: a,a,b,a -> [3,1,0]; gold b: b,c -> [0,1,1]; gold c: c,c,a,c -> [1,0,3]
    assert M.confusion_matrix(GOLD, PRED, LABELS) == [[3, 1, 0], [0, 1, 1], [1, 0, 3]]


def test_per_class_and_macro_by_hand():
    per = M.per_class(GOLD, PRED, LABELS)
    # a: tp 3, fp 1 (gold c), fn 1 -> p 3/4, r 3/4, f1 3/4
    assert per["a"] == pytest.approx({"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4})
    # b: tp 1, fp 1, fn 1 -> 0.5 each
    assert per["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    # c: tp 3, fp 1, fn 1 -> 0.75 each
    assert per["c"]["f1"] == pytest.approx(0.75)
    assert M.macro_f1(GOLD, PRED, LABELS) == pytest.approx((0.75 + 0.5 + 0.75) / 3)
    assert M.accuracy(GOLD, PRED) == pytest.approx(0.7)


def test_expected_calibration_error_by_hand():
    # two bins: conf 0.95 (2 rows, 1 correct) -> |0.5 - 0.95| * 0.5; conf 0.55 (2 rows, 2 correct) -> |1 - 0.55| * 0.5
    ece = M.expected_calibration_error([0.95, 0.95, 0.55, 0.55], [True, False, True, True])
    assert ece == pytest.approx(0.45 * 0.5 + 0.45 * 0.5)
    assert M.expected_calibration_error([0.7, 0.7], [True, False]) == pytest.approx(0.2)


def test_bootstrap_interval_contains_estimate_and_shrinks():
    import random

    rng = random.Random(1)

    def sample(n):
        gold = [rng.choice(LABELS) for _ in range(n)]
        return gold, [g if rng.random() < 0.8 else rng.choice(LABELS) for g in gold]

    widths = []
    for n in (50, 2000):
        gold, pred = sample(n)
        lo, hi = M.bootstrap_ci(gold, pred, M.accuracy, samples=400)
        assert lo <= M.accuracy(gold, pred) <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 3


def test_evaluate_json_and_report(tiny_model, corpus, tmp_path):
    sentences, _ = corpus
    report = tmp_path / "report"
    result = runner.invoke(
        app, ["evaluate", str(tiny_model), str(sentences), "--format", "json", "--report", str(report)]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for key in ("n", "accuracy", "macro_f1", "macro_f1_ci", "per_class", "confusion_matrix", "labels", "ece"):
        assert key in out
    assert out["n"] == 96 and out["macro_f1_ci"][0] <= out["macro_f1"] <= out["macro_f1_ci"][1]
    assert sum(map(sum, out["confusion_matrix"])) == 96
    assert {p.name for p in report.iterdir()} == {
        "metrics.json",
        "confusion_matrix.png",
        "reliability.png",
        "errors.jsonl",
        "report.md",
    }
    for png in ("confusion_matrix.png", "reliability.png"):
        data = (report / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width > 300 and height > 300
    errors = [json.loads(line) for line in (report / "errors.jsonl").read_text().splitlines()]
    assert len(errors) == 96 - round(out["accuracy"] * 96)
    assert [e["score"] for e in errors] == sorted((e["score"] for e in errors), reverse=True)
    md = (report / "report.md").read_text()
    assert "![confusion matrix](confusion_matrix.png)" in md and "![reliability diagram](reliability.png)" in md
    assert "macro-F1" in md and "| threat_assessment |" in md


def test_evaluate_table_on_the_test_split(tiny_model):
    result = runner.invoke(app, ["evaluate", str(tiny_model), "test"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("n=16 ") and "confusion matrix" in result.stdout


def test_unknown_label_is_an_error_unless_skipped(tiny_model, tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "Fine.", "label": "other"}\n{"text": "Odd.", "label": "alarm"}\n', encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(tiny_model), str(path)])
    assert result.exit_code == 2
    assert f"{path}:2: unknown label 'alarm'" in result.stderr
    result = runner.invoke(app, ["evaluate", str(tiny_model), str(path), "--skip-unknown", "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["n"] == 1


def test_csv_with_other_field_names(tiny_model, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("sentence,gold,extra\nThe army will deploy troops.,policy_response,x\n", encoding="utf-8")
    result = runner.invoke(
        app, ["evaluate", str(tiny_model), str(path), "--text-field", "sentence", "--label-field", "gold", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 1


def test_compare_two_models(tiny_model, tfidf_model, corpus):
    sentences, _ = corpus
    result = runner.invoke(app, ["compare", str(tfidf_model), str(tiny_model), "--data", str(sentences), "-f", "json"])
    assert result.exit_code == 0, result.output
    first, second = json.loads(result.stdout)
    assert "diff_vs_first" not in first
    assert second["diff_vs_first"] == pytest.approx(second["macro_f1"] - first["macro_f1"])
    lo, hi = second["diff_ci"]
    assert lo <= second["diff_vs_first"] <= hi
    table = runner.invoke(app, ["compare", str(tfidf_model), str(tiny_model), "--data", str(sentences)])
    assert table.exit_code == 0 and str(Path(tiny_model))[-20:] in table.stdout


def test_evaluate_dev_real_alias_scores_the_models_dev_set(tiny_model):
    result = CliRunner().invoke(app, ["evaluate", str(tiny_model), "dev_real", "--format", "json", "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    meta = json.loads((tiny_model / "stance.json").read_text())
    assert metrics["n"] == 24
    assert metrics["macro_f1"] == pytest.approx(meta["metrics"]["dev_real"]["macro_f1"], abs=1e-4)
