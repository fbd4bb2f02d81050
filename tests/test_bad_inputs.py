"""Bad input, driven through the CLI as a user would: every case exits 2 with one line on stderr that names
the problem, prints no traceback, and leaves no output file behind."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import check_user_error, write
from typer.testing import CliRunner

from stance.cli import app

REPO = Path(__file__).resolve().parent.parent
BASE = REPO / "configs/base.yaml"
TINY = REPO / "configs/tiny.yaml"
runner = CliRunner()


# --- config ----------------------------------------------------------------------------------------------


def test_config_missing_file(tmp_path):
    check_user_error(["train", str(tmp_path / "nope.yaml")], "nope.yaml", "config file not found")


def test_config_invalid_yaml(tmp_path):
    path = write(tmp_path / "c.yaml", "train:\n  epochs: [1,\n")
    check_user_error(["train", str(path)], str(path), "invalid YAML")


def test_config_unknown_key(tmp_path):
    path = write(tmp_path / "c.yaml", f"inherit: {BASE}\nmodel:\n  layers: 3\n")
    check_user_error(["train", str(path)], f"{path}:3", "unknown key 'model.layers'")


def test_config_wrong_type(tmp_path):
    path = write(tmp_path / "c.yaml", f"inherit: {BASE}\ntrain:\n  batch_size: big\n")
    check_user_error(["train", str(path)], f"{path}:3", "train.batch_size", "expected int")


def test_config_unknown_encoder_alias(tmp_path, corpus):
    sentences, splits = corpus
    out = tmp_path / "m"
    check_user_error(
        [
            "train",
            str(BASE),
            "--output",
            str(out),
            "--set",
            "model.encoder=bert-huge",
            "--set",
            f"data.sentences={sentences}",
            "--set",
            f"data.splits={splits}",
        ],
        "unknown encoder 'bert-huge'",
        output=out,
    )


def test_config_missing_data_path(tmp_path):
    out = tmp_path / "m"
    check_user_error(
        [
            "train",
            str(REPO / "configs/tfidf.yaml"),
            "--output",
            str(out),
            "--set",
            f"data.sentences={tmp_path}/none.jsonl",
        ],
        "none.jsonl",
        "file not found",
        output=out,
    )


def test_config_duplicate_labels(tmp_path):
    path = write(tmp_path / "c.yaml", "labels: [threat_assessment, other, other]\n")
    check_user_error(["train", str(path)], str(path), "duplicate labels: other")


def test_config_bad_override():
    check_user_error(["train", str(BASE), "--set", "train.epochs"], "section.key=value")


# --- data ------------------------------------------------------------------------------------------------


def test_empty_data_file(tiny_model, tmp_path):
    check_user_error(
        ["evaluate", str(tiny_model), str(write(tmp_path / "e.jsonl", ""))], "e.jsonl", "no labeled records"
    )


def test_empty_input_file_for_predict_gives_a_valid_empty_output(tiny_model, tmp_path):
    out = tmp_path / "out.jsonl"
    args = ["predict", str(tiny_model), "--input", str(write(tmp_path / "e.jsonl", "\n\n")), "--output", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and out.read_text() == "" and "no sentences in" in result.stderr


def test_malformed_json_line_names_file_and_line(tiny_model, tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "ok", "label": "other"}\n{"text": "broken"\n')
    check_user_error(["evaluate", str(tiny_model), str(path)], f"{path}:2", "malformed JSON")


def test_csv_without_text_column(tiny_model, tmp_path):
    path = write(tmp_path / "d.csv", "sentence,label\nA sentence.,other\n")
    check_user_error(["evaluate", str(tiny_model), str(path)], f"{path}:1", "no 'text' column")


def test_unknown_label(tiny_model, tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "A.", "label": "panic"}\n')
    check_user_error(["evaluate", str(tiny_model), str(path)], f"{path}:1", "unknown label 'panic'")


@pytest.mark.parametrize("text", ["", "   \t "])
def test_empty_or_whitespace_text(tiny_model, tmp_path, text):
    path = write(tmp_path / "d.jsonl", json.dumps({"text": text, "label": "other"}) + "\n")
    check_user_error(["evaluate", str(tiny_model), str(path)], f"{path}:1", "field 'text' is empty")


def test_not_utf8(tiny_model, tmp_path):
    path = write(tmp_path / "d.jsonl", b'{"text": "fine", "label": "other"}\n{"text": "caf\xe9", "label": "other"}\n')
    check_user_error(["evaluate", str(tiny_model), str(path)], str(path), "not valid UTF-8")


def test_not_utf8_article(tiny_model, tmp_path):
    path = write(tmp_path / "a.txt", b"Headline\nBody \xff\xfe text.\n")
    check_user_error(["predict", str(tiny_model), "--input", str(path)], f"{path}:2", "not valid UTF-8")


def test_utf8_bom_is_accepted(tiny_model, tmp_path):
    path = write(tmp_path / "d.jsonl", "\ufeff" + json.dumps({"text": "The army deploys.", "label": "other"}) + "\n")
    result = runner.invoke(app, ["evaluate", str(tiny_model), str(path), "-f", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["n"] == 1


def test_one_megabyte_line_is_truncated_with_a_warning(tiny_model, tmp_path):
    path = write(tmp_path / "d.jsonl", json.dumps({"text": "word " * 200_000}) + "\n")
    result = runner.invoke(app, ["predict", str(tiny_model), "--input", str(path), "-f", "jsonl"])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "cut to" in result.stderr
    assert len(json.loads(result.stdout)["text"]) <= 20_000


def test_crlf_line_ends(tiny_model, tmp_path):
    path = write(tmp_path / "d.csv", "text,label\r\nThe army deploys.,other\r\nCalm.,reassurance\r\n")
    result = runner.invoke(app, ["evaluate", str(tiny_model), str(path), "-f", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["n"] == 2
    path = write(tmp_path / "d.jsonl", '{"text": "A.", "label": "other"}\r\n{"text": "B.", "label": "other"}\r\n')
    result = runner.invoke(app, ["evaluate", str(tiny_model), str(path), "-f", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["n"] == 2


def test_unknown_input_suffix(tiny_model, tmp_path):
    check_user_error(["predict", str(tiny_model), "--input", str(write(tmp_path / "d.xlsx", "x"))], "unknown file type")


# --- model directories -----------------------------------------------------------------------------------


def test_model_dir_missing(tmp_path):
    check_user_error(["predict", str(tmp_path / "nomodel"), "x"], "nomodel", "model directory not found")


def test_model_dir_empty(tmp_path):
    (tmp_path / "empty").mkdir()
    check_user_error(["predict", str(tmp_path / "empty"), "x"], "no stance.json")


def copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_model_dir_corrupt_meta(tiny_model, tmp_path):
    model = copy_model(tiny_model, tmp_path / "m")
    write(model / "stance.json", "{not json")
    check_user_error(["predict", str(model), "x"], "corrupt stance.json")


def test_model_dir_meta_without_labels(tiny_model, tmp_path):
    model = copy_model(tiny_model, tmp_path / "m")
    meta = json.loads((model / "stance.json").read_text())
    del meta["labels"]
    write(model / "stance.json", json.dumps(meta))
    check_user_error(["predict", str(model), "x"], "missing 'labels'")


def test_model_dir_weights_missing(tiny_model, tmp_path):
    model = copy_model(tiny_model, tmp_path / "m")
    (model / "model.safetensors").unlink()
    check_user_error(["predict", str(model), "x"], "weights missing")


def test_model_labels_do_not_match_weights(tiny_model, tmp_path):
    model = copy_model(tiny_model, tmp_path / "m")
    meta = json.loads((model / "stance.json").read_text())
    meta["labels"] = ["a", "b", "c"]
    write(model / "stance.json", json.dumps(meta))
    check_user_error(["predict", str(model), "x"], "4 outputs", "3 labels")


def test_model_labels_do_not_match_the_data(tfidf_model, tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "A.", "label": "THREAT"}\n')
    check_user_error(["evaluate", str(tfidf_model), str(path)], "unknown label 'THREAT'")


@pytest.mark.parametrize("name", ["weights.pkl", "pytorch_model.bin", "optimizer.pt", "model.joblib"])
def test_pickle_files_are_refused(tiny_model, tmp_path, name):
    model = copy_model(tiny_model, tmp_path / "m")
    write(model / name, b"\x80\x04K\x01.")
    check_user_error(["predict", str(model), "x"], "refusing to load", name)


# --- predict and evaluate options ------------------------------------------------------------------------


def test_output_into_missing_directory_creates_it(tiny_model, tmp_path):
    """Like `mkdir -p`: the user named where the output goes (README: Outputs)."""
    out = tmp_path / "no" / "such" / "p.jsonl"
    result = runner.invoke(app, ["predict", str(tiny_model), "x", "--output", str(out), "-q"])
    assert result.exit_code == 0 and len(out.read_text().splitlines()) == 1


def test_output_into_unwritable_directory(tiny_model):
    check_user_error(["predict", str(tiny_model), "x", "--output", "/proc/stance-test.jsonl"], "cannot write to /proc")


def test_report_into_unwritable_directory(tiny_model):
    check_user_error(["evaluate", str(tiny_model), "test", "--report", "/proc/stance-report"], "cannot write to /proc")


def test_empty_stdin(tiny_model):
    result = runner.invoke(app, ["predict", str(tiny_model), "-"], input="")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == "no sentences in stdin\n"


@pytest.mark.parametrize("value", ["-1", "1.01"])
def test_threshold_out_of_range(tiny_model, value):
    check_user_error(["predict", str(tiny_model), "x", "--threshold", value], "--threshold must be between 0 and 1")


def test_bad_format(tiny_model):
    check_user_error(["predict", str(tiny_model), "x", "--format", "xml"], "--format must be one of")


def test_text_and_input_together(tiny_model, tmp_path):
    check_user_error(["predict", str(tiny_model), "x", "--input", str(write(tmp_path / "a.txt", "A."))], "not both")


def test_compare_needs_two_models(tiny_model):
    check_user_error(["compare", str(tiny_model), "--data", "test"], "at least two")


def _corpus_with_dev(tmp_path: Path) -> Path:
    """A small valid corpus laid out like data/: sentences.jsonl, splits.json, articles/, and a dev set
    (dev_real.jsonl, dev_real_articles/) of 3 articles whose rows name the page they paraphrase."""
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()
    labels = ["threat_assessment", "policy_response", "reassurance", "other"]
    folder = tmp_path / "data"
    header = "title: t\ngenre: wire_report\nregion: europe\ndate: 2025-01-01\nsource: s\n"
    files = {"sentences.jsonl": [], "dev_real.jsonl": []}
    for prefix, count, name, sub in (
        ("t", 4, "sentences.jsonl", "articles"),
        ("d", 3, "dev_real.jsonl", "dev_real_articles"),
    ):
        (folder / sub).mkdir(parents=True)
        for a in range(count):
            aid = f"{prefix}{a:02d}"
            url = f"https://news.example.org/{aid}"
            for i in range(4):
                row = {"id": f"{aid}-{i:03d}", "article_id": aid, "index": i, "label": labels[i]}
                row["text"] = f"{words[a * 4 + i]} {prefix} {words[(a * 4 + i + 5) % 16]} number {a}{i}."
                files[name].append(row | ({"paraphrase_of": url} if prefix == "d" else {}))
            url_line = f"paraphrase_of: {url}\n" if prefix == "d" else ""
            write(folder / sub / f"{aid}.txt", f"id: {aid}\n{header}{url_line}---\nText.\n")
    for name, rows in files.items():
        write(folder / name, "".join(json.dumps(r) + "\n" for r in rows))
    splits = {"t00": "train", "t01": "train", "t02": "validation", "t03": "test"}
    write(folder / "splits.json", json.dumps({"articles": splits}))
    return folder / "sentences.jsonl"


def test_data_validate_checks_the_dev_set_and_reserved_pages(tmp_path):
    sentences = _corpus_with_dev(tmp_path)
    result = runner.invoke(app, ["data", "validate", str(sentences)])
    assert result.exit_code == 0, result.output
    assert "dev set" in result.stdout and "from 3 pages" in result.stdout
    reserved = write(tmp_path / "reserved.sha256", hashlib.sha256(b"news.example.org/d01").hexdigest() + "\n")
    check_user_error(
        ["data", "validate", str(sentences), "--reserved", str(reserved)], "d01.txt", "paraphrases a reserved page"
    )


def test_data_validate_refuses_a_dev_article_that_is_also_in_the_corpus(tmp_path):
    sentences = _corpus_with_dev(tmp_path)
    dev = sentences.parent / "dev_real.jsonl"
    rows = [json.loads(line) for line in dev.read_text().splitlines()]
    for row in rows[:4]:  # dev article d00 renamed to a training article's id
        row["article_id"] = "t03"
    shutil.copy(sentences.parent / "dev_real_articles/d00.txt", sentences.parent / "dev_real_articles/t03.txt")
    write(dev, "".join(json.dumps(r) + "\n" for r in rows))
    check_user_error(["data", "validate", str(sentences)], "dev_real.jsonl:1", "article 't03' is also in")


def test_missing_dev_set_fails_before_training(tmp_path, tiny_overrides):
    out = tmp_path / "m"
    overrides = [*tiny_overrides, f"data.dev_real={tmp_path / 'nope.jsonl'}"]  # the last --set wins
    check_user_error(
        ["train", str(TINY), "--output", str(out), *[arg for o in overrides for arg in ("--set", o)]],
        "nope.jsonl",
        "dev set not found",
        output=out,
    )
