"""The annotation loop: labelling with undo/quit/resume, uncertainty suggestions, the label audit."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

from conftest import LABELS, make_corpus
from typer.testing import CliRunner

from stance.annotate import label_session
from stance.cli import app

runner = CliRunner()


def pool(path: Path, texts: list[str]) -> Path:
    recs = [{"id": f"p-{i:03d}", "article_id": "p", "index": i, "text": t, "label": None} for i, t in enumerate(texts)]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


def labels_in(path: Path) -> list:
    return [json.loads(line).get("label") for line in path.read_text().splitlines()]


def test_scripted_session_with_undo_quit_and_resume(tmp_path):
    path = pool(tmp_path / "todo.jsonl", [f"Sentence number {i}." for i in range(6)])
    out = io.StringIO()
    # 1 -> threat, p -> policy, u undoes it, r -> reassurance, s skips, then quit
    result = label_session(path, LABELS, iter(["1", "p", "u", "r", "s", "q"]), out)
    assert labels_in(path) == ["threat_assessment", "reassurance", None, None, None, None]
    assert json.loads(path.read_text().splitlines()[2])["skipped"] is True
    assert result == {"answered": 3, "labeled": 2, "skipped": 1, "remaining": 3}
    assert "Sentence number 1." in out.getvalue() and "undid p-001" in out.getvalue()
    # a second run resumes at the first sentence still to do, through the CLI, keys from stdin
    cli = runner.invoke(app, ["data", "label", str(path)], input="o\n4\nxyz\n2\n")
    assert cli.exit_code == 0, cli.output
    assert "unknown key 'xyz'" in cli.stdout and "all sentences are labeled" in cli.stdout
    assert labels_in(path) == ["threat_assessment", "reassurance", None, "other", "other", "policy_response"]


def test_every_answer_is_saved_at_once(tmp_path):
    path = pool(tmp_path / "todo.jsonl", ["A first one.", "A second one."])
    keys = iter(["2"])
    label_session(path, LABELS, keys, io.StringIO())  # keys run out after one answer, like a killed session
    assert labels_in(path) == ["policy_response", None]


def test_session_shows_context_and_model_suggestion(tmp_path, tfidf_model):
    path = pool(
        tmp_path / "todo.jsonl",
        ["The meeting on Thursday was held in Brussels.", "The ministry agreed to buy new air defence."],
    )
    path.write_text(path.read_text().replace('"label": null', '"label": "other"', 1))
    result = runner.invoke(app, ["data", "label", str(path), "--model", str(tfidf_model), "--keys", "q"])
    assert result.exit_code == 0, result.output
    assert "before: The meeting on Thursday" in result.stdout
    assert "model: policy_response" in result.stdout


def test_suggest_picks_the_most_uncertain_without_near_copies(tmp_path, tfidf_model):
    from inference import Predictor
    from inference.suggest import uncertainty

    clear = ["The ministry agreed to buy new air defence.", "Officials said citizens are safe and calm."]
    mixed = [
        "The missile threat is dangerous and the ministry agreed to buy new air defence.",
        "The missile threat is dangerous and the ministry agreed to buy new air defence!",  # a near-copy
        "Officials said citizens are safe and calm as the cyber attack is a serious risk.",
        "Reporting by the desk editor as NATO allies plan new exercises.",
    ]
    path = pool(tmp_path / "pool.jsonl", clear + mixed)
    result = runner.invoke(app, ["data", "suggest", str(tfidf_model), str(path), "-n", "3"])
    assert result.exit_code == 0, result.output
    picked = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(picked) == 3 and all(p["label"] is None for p in picked)
    texts = [p["text"] for p in picked]
    assert not set(texts) & set(clear)
    assert not {mixed[0], mixed[1]} <= set(texts)  # the diversity guard keeps one of the two near-copies
    # the picks are the top of the uncertainty ranking
    probs = Predictor.load(tfidf_model).predict_proba(clear + mixed)
    scores = dict(zip(clear + mixed, uncertainty(probs, "margin"), strict=True))
    assert [p["uncertainty"] for p in picked] == sorted((p["uncertainty"] for p in picked), reverse=True)
    assert min(scores[t] for t in texts) >= max(scores[t] for t in clear)


def test_audit_finds_planted_label_errors(tmp_path):
    sentences, splits = make_corpus(tmp_path, articles=24, per_article=10, seed=3)
    rows = [json.loads(line) for line in sentences.read_text().splitlines()]
    rng = random.Random(0)
    planted = set()
    for i in rng.sample(range(len(rows)), 10):
        rows[i]["label"] = rng.choice([lab for lab in LABELS if lab != rows[i]["label"]])
        planted.add(rows[i]["id"])
    sentences.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "audit.jsonl"
    result = runner.invoke(
        app,
        [
            "data",
            "audit",
            str(Path(__file__).parent.parent / "configs/tfidf.yaml"),
            "--set",
            f"data.sentences={sentences}",
            "--set",
            f"data.splits={splits}",
            "--set",
            f"data.dev_real={sentences.parent / 'dev_real.jsonl'}",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    top20 = [json.loads(line)["id"] for line in out.read_text().splitlines()[:20]]
    assert len(planted & set(top20)) >= 8, (planted, top20)
