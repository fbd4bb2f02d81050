"""The shipped corpus and the `stance data` tools."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stance.articles import read_article
from stance.cli import app
from stance.corpus import make_splits, near_duplicates, validate
from stance.errors import StanceError

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
LABELS = ["threat_assessment", "policy_response", "reassurance", "other"]
runner = CliRunner()


def rows():
    return [json.loads(line) for line in (DATA / "sentences.jsonl").read_text().splitlines()]


def test_shipped_corpus_validates():
    result = runner.invoke(app, ["data", "validate", str(DATA / "sentences.jsonl")])
    assert result.exit_code == 0, result.output
    assert "ok:" in result.stdout


def test_shipped_corpus_meets_size_and_diversity_targets():
    data = rows()
    counts = Counter(r["label"] for r in data)
    assert len(data) >= 3000
    assert all(counts[lab] >= 450 for lab in LABELS), counts
    metas = [read_article(p).meta for p in sorted((DATA / "articles").glob("*.txt"))]
    assert len(metas) >= 120
    assert len({m["genre"] for m in metas}) >= 8
    assert {m["region"] for m in metas} >= {"europe", "americas", "asia_pacific", "middle_east", "africa"}
    assert len({d for m in metas for d in m["domains"]}) >= 8
    assert len({s for m in metas for s in m["speakers"]}) >= 30


def test_splits_are_grouped_and_balanced():
    data = rows()
    splits = json.loads((DATA / "splits.json").read_text())["articles"]
    assert {r["article_id"] for r in data} == set(splits)
    overall = Counter(r["label"] for r in data)
    for split in ("train", "validation", "test"):
        part = Counter(r["label"] for r in data if splits[r["article_id"]] == split)
        n = sum(part.values())
        for lab in LABELS:
            assert abs(part[lab] / n - overall[lab] / len(data)) <= 0.05, (split, lab)
    shares = Counter(splits[r["article_id"]] for r in data)
    assert 0.6 < shares["train"] / len(data) < 0.8


def test_seed_article_is_in_the_corpus():
    seed = [r for r in rows() if r["article_id"] == "a001-nato-air-missile-defence"]
    assert len(seed) >= 15
    labels = {r["text"]: r["label"] for r in seed}
    assert (
        labels["SSC-8 missiles can be used in two ways, they are mobile and difficult to detect."]
        == "threat_assessment"
    )


def test_near_duplicates_finds_pairs_by_jaccard():
    texts = [
        "The ministry ordered forty new radars for the northern border.",
        "The ministry ordered forty new radars for the northern border today.",
        "Something entirely different happened in the capital.",
    ]
    pairs = near_duplicates(texts)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def rec(i: int, text: str, label: str = "other", article: str = "x1") -> dict:
    return {"id": f"{article}-{i:03d}", "article_id": article, "index": i, "text": text, "label": label}


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (
            [rec(0, "Fine sentence here."), {"id": "b", "article_id": "x1", "index": 1, "text": "No label."}],
            ":2: missing field 'label'",
        ),
        ([rec(0, "Fine sentence here.", "alarm")], ":1: unknown label 'alarm'"),
        ([rec(0, "Fine sentence here."), rec(0, "Another one here.")], ":2: duplicate id"),
        ([rec(0, "   ")], ":1: field 'text' is empty"),
        (
            [
                rec(0, "The ministry ordered radars now.", "other"),
                rec(1, "The ministry ordered radars now.", "policy_response"),
            ],
            ":2: same text as line 1 but a different label",
        ),
        ([rec(0, "One sentence."), rec(2, "Gap in the indexes.")], "indexes are not 0..1"),
    ],
)
def test_validate_errors_name_file_and_line(tmp_path, records, message):
    path = write_jsonl(tmp_path / "s.jsonl", records)
    with pytest.raises(StanceError) as info:
        validate(path, None, None, LABELS)
    assert str(path) in str(info.value) and message in str(info.value)


def test_validate_malformed_json_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(rec(0, "Fine.")) + "\n{not json\n", encoding="utf-8")
    result = runner.invoke(app, ["data", "validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:2: malformed JSON" in result.stderr


def test_validate_split_leakage(tmp_path):
    text = "The navy will escort every tanker through the strait from Monday."
    path = write_jsonl(
        tmp_path / "s.jsonl", [rec(0, text, "policy_response", "a1"), rec(0, text, "policy_response", "a2")]
    )
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"articles": {"a1": "train", "a2": "test"}}))
    with pytest.raises(StanceError, match="split leakage"):
        validate(path, splits, None, LABELS)


def test_validate_too_many_near_duplicates(tmp_path):
    records = [rec(i, f"The ministry ordered forty new radars for the northern border number {i}.") for i in range(10)]
    with pytest.raises(StanceError, match="near-duplicate pairs"):
        validate(write_jsonl(tmp_path / "s.jsonl", records), None, None, LABELS)


def test_split_is_deterministic_grouped_and_balanced(tmp_path):
    out1, out2 = tmp_path / "a.json", tmp_path / "b.json"
    r1 = make_splits(DATA / "sentences.jsonl", out1, seed=5)
    r2 = make_splits(DATA / "sentences.jsonl", out2, seed=5)
    assert out1.read_text() == out2.read_text()
    assert r1["max_label_share_gap"] <= 0.05
    assert set(r1["articles"].values()) == {"train", "validation", "test"}
    assert make_splits(DATA / "sentences.jsonl", tmp_path / "c.json", seed=6)["articles"] != r2["articles"]


def test_split_extend_keeps_every_existing_assignment(tmp_path):
    """Adding articles must never move one that others already evaluate on."""
    rows = [json.loads(line) for line in (DATA / "sentences.jsonl").read_text().splitlines()]
    articles = sorted({r["article_id"] for r in rows})
    old_articles = set(articles[: len(articles) // 2])
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps(r) + "\n" for r in rows if r["article_id"] in old_articles))
    full = tmp_path / "full.jsonl"
    full.write_text("".join(json.dumps(r) + "\n" for r in rows))
    splits = tmp_path / "splits.json"
    first = make_splits(old, splits, seed=5)["articles"]
    result = runner.invoke(app, ["data", "split", str(full), "--output", str(splits), "--extend"])
    assert result.exit_code == 0, result.output
    extended = json.loads(splits.read_text())["articles"]
    assert {a: extended[a] for a in first} == first
    assert set(extended) == set(articles)
    new_parts = Counter(extended[a] for a in articles if a not in old_articles)
    assert set(new_parts) == {"train", "validation", "test"} and new_parts["train"] > new_parts["test"]
    remade = make_splits(full, tmp_path / "remade.json", seed=5)["articles"]
    assert {a: remade[a] for a in first} != first  # without --extend, old articles would move


def test_stats_shows_tables():
    result = runner.invoke(app, ["data", "stats", str(DATA / "sentences.jsonl")])
    assert result.exit_code == 0
    out = result.stdout
    for word in (
        "threat_assessment",
        "validation",
        "genre",
        "wire_report",
        "region",
        "africa",
        "domains",
        "sentence length",
        "distinct speakers",
    ):
        assert word in out


def test_sentences_command_on_plain_and_headed_articles(tmp_path):
    plain = tmp_path / "Some Article.txt"
    plain.write_text("Headline Here\nHome / News\nFirst sentence. Second one.\n", encoding="utf-8")
    result = runner.invoke(app, ["data", "sentences", str(plain)])
    assert result.exit_code == 0
    recs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in recs] == ["Headline Here", "Home / News", "First sentence.", "Second one."]
    assert recs[0] == {
        "id": "some-article-000",
        "article_id": "some-article",
        "index": 0,
        "text": "Headline Here",
        "label": None,
    }
    result = runner.invoke(
        app,
        [
            "data",
            "sentences",
            str(DATA / "articles/a001-nato-air-missile-defence.txt"),
            "--output",
            str(tmp_path / "out.jsonl"),
        ],
    )
    assert result.exit_code == 0
    recs = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert recs[0]["article_id"] == "a001-nato-air-missile-defence" and recs[0]["label"] is None


def test_csv_input_keeps_extra_fields(tmp_path):
    from stance.data import read_records

    path = tmp_path / "x.csv"
    path.write_text("text,source\nA sentence.,wire\n", encoding="utf-8")
    assert [r for _, r in read_records(path)] == [{"text": "A sentence.", "source": "wire"}]
