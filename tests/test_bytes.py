"""Bytes that are not clean text, through the readers (stance.data, stance.articles) and `stance predict`:
each is either handled (a BOM, CRLF, a long text, an empty input) or one error line naming file:line."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stance import data
from stance.articles import read_article
from stance.cli import app
from stance.data import MAX_TEXT_CHARS, load_splits, read_records, read_texts_stdin
from stance.errors import StanceError

runner = CliRunner()
BOM = b"\xef\xbb\xbf"

# The same two records in every format; `bad_line` puts `junk` on line 2 (the second record's line).
CLEAN = {
    "jsonl": b'{"text": "The army deploys.", "id": "a"}\n{"text": "Citizens are safe.", "id": "b"}\n',
    "csv": b"id,text\na,The army deploys.\nb,Citizens are safe.\n",
    "tsv": b"id\ttext\na\tThe army deploys.\nb\tCitizens are safe.\n",
    "txt": b"The army deploys.\nCitizens are safe.\n",
}
SUFFIX = {"jsonl": ".jsonl", "csv": ".csv", "tsv": ".tsv", "txt": ".txt"}
# the line of the second record (the csv/tsv header is line 1)
SECOND = {"jsonl": 2, "csv": 3, "tsv": 3, "txt": 2}
FORMATS = list(CLEAN)


def write(folder: Path, fmt: str, content: bytes, name: str = "input") -> Path:
    path = folder / f"{name}{SUFFIX[fmt]}"
    path.write_bytes(content)
    return path


def with_junk(fmt: str, junk: bytes) -> bytes:
    """The clean file with `junk` inside the second record's text."""
    return CLEAN[fmt].replace(b"Citizens", b"Citi" + junk + b"zens")


def records(path: Path) -> list[tuple[int, dict]]:
    return list(read_records(path, "text"))


def stdin_texts(monkeypatch, content: bytes) -> list[tuple[int, dict]]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(content), encoding="utf-8"))
    return list(read_texts_stdin())


def reader_error(path: Path, *expected: str) -> str:
    with pytest.raises(StanceError) as info:
        records(path)
    message = str(info.value)
    for part in expected:
        assert part in message, (part, message)
    assert "\n" not in message
    return message


def predict(model: Path, path: Path | str, stdin: bytes | None = None):
    args = ["predict", str(model), "-"] if path == "-" else ["predict", str(model), "--input", str(path)]
    return runner.invoke(app, [*args, "--format", "jsonl"], input=stdin)


def cli_error(model: Path, path: Path | str, *expected: str, stdin: bytes | None = None) -> str:
    result = predict(model, path, stdin)
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.rstrip("\n").splitlines()[-1] == errors[0]  # nothing after it: no traceback
    assert "Traceback" not in result.output
    for part in expected:
        assert part in errors[0], (part, errors[0])
    return errors[0]


# --- invalid UTF-8 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_invalid_utf8_names_the_line(tmp_path, fmt):
    path = write(tmp_path, fmt, with_junk(fmt, b"\xe9"))
    reader_error(path, f"{path}:{SECOND[fmt]}: not valid UTF-8")


def test_invalid_utf8_after_a_long_first_line_names_the_right_line(tmp_path):
    # text decoding works in 8 KiB chunks: the error must still name the line of the byte, not the chunk's
    content = json.dumps({"text": "word " * 3000}).encode() + b"\n" * 3 + b'{"text": "caf\xe9"}\n'
    reader_error(write(tmp_path, "jsonl", content), ":4: not valid UTF-8 text (byte 0xe9 at column 14)")


def test_invalid_utf8_in_the_csv_header(tmp_path):
    reader_error(write(tmp_path, "csv", b"te\xffxt\nok\n"), ":1: not valid UTF-8")


def test_invalid_utf8_on_stdin(monkeypatch):
    with pytest.raises(StanceError, match=r"^-:2: not valid UTF-8"):
        stdin_texts(monkeypatch, b"First.\nSec\xffond.\n")


@pytest.mark.parametrize("fmt", FORMATS)
def test_invalid_utf8_through_predict(tiny_model, tmp_path, fmt):
    path = write(tmp_path, fmt, with_junk(fmt, b"\xff\xfe"))
    cli_error(tiny_model, path, f"{path}:{SECOND[fmt]}:", "not valid UTF-8")


def test_invalid_utf8_on_stdin_through_predict(tiny_model):
    cli_error(tiny_model, "-", "-:2:", "not valid UTF-8", stdin=b"First.\nSec\xffond.\n")


# --- a BOM and CRLF line ends just work ----------------------------------------------------------------------


def bom_crlf(content: bytes) -> bytes:
    return BOM + content.replace(b"\n", b"\r\n")


@pytest.mark.parametrize("variant", [bom_crlf, lambda c: c.replace(b"\n", b"\r")], ids=["bom-crlf", "bare-cr"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_bom_and_crlf_read_like_the_clean_file(tmp_path, fmt, variant):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()  # the same file name in both: an article's id is its file name
    clean = records(write(tmp_path / "a", fmt, CLEAN[fmt]))
    assert [row["text"] for _, row in clean] == ["The army deploys.", "Citizens are safe."]
    assert records(write(tmp_path / "b", fmt, variant(CLEAN[fmt]))) == clean


def test_bom_and_crlf_article_with_a_header(tmp_path):
    content = b"id: a-1\ntitle: T\n---\nThe army deploys.\n\nCitizens are safe.\n"
    clean = read_article(write(tmp_path, "txt", content, "clean"))
    dirty = read_article(write(tmp_path, "txt", bom_crlf(content), "dirty"))
    assert (dirty.id, dirty.text, dirty.meta) == (clean.id, clean.text, clean.meta)
    assert "\r" not in dirty.text and dirty.sentences() == clean.sentences()


def test_bom_and_crlf_on_stdin(monkeypatch):
    clean = stdin_texts(monkeypatch, b"First.\n\nSecond.\n")
    assert clean == [(1, {"text": "First."}), (3, {"text": "Second."})]
    assert stdin_texts(monkeypatch, bom_crlf(b"First.\n\nSecond.\n")) == clean


@pytest.mark.parametrize("fmt", FORMATS)
def test_bom_and_crlf_through_predict(tiny_model, tmp_path, fmt):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()  # the same file name in both: an article's id is its file name
    clean = predict(tiny_model, write(tmp_path / "a", fmt, CLEAN[fmt]))
    dirty = predict(tiny_model, write(tmp_path / "b", fmt, bom_crlf(CLEAN[fmt])))
    assert clean.exit_code == 0 and dirty.exit_code == 0, (clean.output, dirty.output)
    assert len(clean.stdout.splitlines()) == 2
    assert dirty.stdout == clean.stdout


def test_bom_and_crlf_on_stdin_through_predict(tiny_model):
    clean = runner.invoke(app, ["predict", str(tiny_model), "-"], input=b"First.\nSecond.\n")
    dirty = runner.invoke(app, ["predict", str(tiny_model), "-"], input=bom_crlf(b"First.\nSecond.\n"))
    assert clean.exit_code == 0 and dirty.exit_code == 0, (clean.output, dirty.output)
    assert [json.loads(line)["text"] for line in dirty.stdout.splitlines()] == ["First.", "Second."]
    assert dirty.stdout == clean.stdout


# --- NUL bytes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_nul_byte_names_the_line(tmp_path, fmt):
    path = write(tmp_path, fmt, with_junk(fmt, b"\x00"))
    reader_error(path, f"{path}:{SECOND[fmt]}: NUL byte")


def test_nul_byte_outside_a_json_string(tmp_path):
    reader_error(write(tmp_path, "jsonl", b'{"text": "A."}\n\x00\x00\n'), ":2: NUL byte")


def test_nul_byte_on_stdin(monkeypatch):
    with pytest.raises(StanceError, match=r"^-:1: NUL byte"):
        stdin_texts(monkeypatch, b"Fir\x00st.\n")


@pytest.mark.parametrize("fmt", FORMATS)
def test_nul_byte_through_predict(tiny_model, tmp_path, fmt):
    path = write(tmp_path, fmt, with_junk(fmt, b"\x00"))
    cli_error(tiny_model, path, f"{path}:{SECOND[fmt]}:", "NUL byte")


def test_nul_byte_on_stdin_through_predict(tiny_model):
    cli_error(tiny_model, "-", "-:2:", "NUL byte", stdin=b"First.\nSec\x00ond.\n")


# --- very long lines -----------------------------------------------------------------------------------------

TWENTY_MB = 20 * 1024 * 1024


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv"])
def test_a_20_mb_text_is_cut_with_a_warning(tmp_path, fmt):
    text = b"word " * (TWENTY_MB // 5)
    content = json.dumps({"text": text.decode()}).encode() + b"\n" if fmt == "jsonl" else b"text\n" + text + b"\n"
    with pytest.warns(UserWarning, match=f"text of {len(text)} characters cut to {MAX_TEXT_CHARS}"):
        rows = records(write(tmp_path, fmt, content))
    assert [(n, len(row["text"])) for n, row in rows] == [(1 if fmt == "jsonl" else 2, MAX_TEXT_CHARS)]


def test_a_20_mb_line_on_stdin_is_cut_with_a_warning(monkeypatch):
    with pytest.warns(UserWarning, match=f"-:1: text of {TWENTY_MB} characters cut"):
        rows = stdin_texts(monkeypatch, b"w" * TWENTY_MB + b"\n")
    assert len(rows[0][1]["text"]) == MAX_TEXT_CHARS


def test_a_20_mb_csv_field_through_predict(tiny_model, tmp_path):
    path = write(tmp_path, "csv", b"text\n" + b"word " * (TWENTY_MB // 5) + b"\n")
    result = predict(tiny_model, path)
    assert result.exit_code == 0, result.output
    assert f"{path}:2: text of" in result.stderr and "cut to" in result.stderr
    assert len(json.loads(result.stdout)["text"]) == MAX_TEXT_CHARS


def test_a_line_over_the_limit_is_an_error(tmp_path):
    # a real 33 MB line: it must be refused without reading it whole
    path = write(tmp_path, "jsonl", b'{"text": "A."}\n{"text": "' + b"w" * (33 * 1024 * 1024) + b'"}\n')
    reader_error(path, f"{path}:2: line longer than 32 MB")


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_a_csv_line_over_the_limit_is_an_error(tmp_path, monkeypatch, fmt):
    monkeypatch.setattr(data, "MAX_LINE_BYTES", 1000)
    reader_error(write(tmp_path, fmt, b"text\nA.\n" + b"w" * 2000 + b"\n"), ":3: line longer than")


def test_a_quoted_csv_field_over_the_limit_is_an_error(tmp_path):
    # a quoted field can span lines, each under the line limit: csv's own field limit catches it
    old = csv.field_size_limit(100)
    try:
        content = b'text\n"' + b"word\n" * 50 + b'"\n'
        reader_error(write(tmp_path, "csv", content), ": a field is longer than")
    finally:
        csv.field_size_limit(old)


def test_the_csv_field_limit_is_raised_once_at_import():
    assert csv.field_size_limit() == data.MAX_LINE_BYTES


def test_a_line_over_the_limit_on_stdin(monkeypatch):
    monkeypatch.setattr(data, "MAX_LINE_BYTES", 1000)
    with pytest.raises(StanceError, match=r"^-:2: line longer than"):
        stdin_texts(monkeypatch, b"A.\n" + b"w" * 2000 + b"\n")


# --- JSONL lines that are not objects ------------------------------------------------------------------------

NOT_OBJECTS = ["[1, 2]", '"a string"', "3.5", "null", "true"]


@pytest.mark.parametrize("line", NOT_OBJECTS)
def test_a_jsonl_line_that_is_not_an_object(tmp_path, line):
    path = write(tmp_path, "jsonl", f'{{"text": "A."}}\n{line}\n'.encode())
    reader_error(path, f"{path}:2: each line must be a JSON object")


@pytest.mark.parametrize("line", NOT_OBJECTS)
def test_a_jsonl_line_that_is_not_an_object_through_predict(tiny_model, tmp_path, line):
    path = write(tmp_path, "jsonl", f"{line}\n".encode())
    cli_error(tiny_model, path, f"{path}:1:", "each line must be a JSON object")


# --- deeply nested JSON --------------------------------------------------------------------------------------

DEEP = {
    "array-100k": "[" * 100_000,
    "closed-array-100k": "[" * 100_000 + "]" * 100_000,
    "object-100k": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "object-in-record-100": '{"text": "A.", "x": ' + '{"a":' * 100 + "1" + "}" * 100 + "}",
    "array-in-record-900": '{"text": "A.", "x": ' + "[" * 900 + "]" * 900 + "}",
}


@pytest.mark.parametrize("line", DEEP.values(), ids=DEEP)
def test_deeply_nested_json(tmp_path, line):
    path = write(tmp_path, "jsonl", b'{"text": "A."}\n' + line.encode() + b"\n")
    reader_error(path, f"{path}:2: malformed JSON (nesting too deep")


def test_nesting_under_the_limit_is_fine(tmp_path):
    line = '{"text": "A.", "x": ' + '{"a":' * 60 + "1" + "}" * 60 + "}"
    assert len(records(write(tmp_path, "jsonl", line.encode() + b"\n"))) == 1


@pytest.mark.parametrize("name", ["array-100k", "object-in-record-100"])
def test_deeply_nested_json_through_predict(tiny_model, tmp_path, name):
    path = write(tmp_path, "jsonl", DEEP[name].encode() + b"\n")
    cli_error(tiny_model, path, f"{path}:1:", "nesting too deep")


def test_json_that_parses_but_is_not_text(tmp_path):
    # a number too long for int(), and an unpaired surrogate escape (no UTF-8 encoding: output would fail)
    path = write(tmp_path, "jsonl", b'{"text": "A.", "n": ' + b"9" * 5000 + b"}\n")
    reader_error(path, f"{path}:1: malformed JSON (a number with too many digits)")
    path = write(tmp_path, "jsonl", b'{"text": "A."}\n{"text": "x \\ud800 y"}\n')
    reader_error(path, f"{path}:2: malformed JSON (an unpaired")
    path = write(tmp_path, "jsonl", b'{"text": "paired \\ud83d\\ude00 is fine"}\n')
    assert records(path)[0][1]["text"] == "paired \U0001f600 is fine"


# --- ragged CSV rows -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_a_row_with_more_fields_than_the_header(tmp_path, fmt):
    sep = b"," if fmt == "csv" else b"\t"
    path = write(tmp_path, fmt, sep.join([b"id", b"text"]) + b"\na" + sep + b"A.\nb" + sep + b"B." + sep + b"x\n")
    reader_error(path, f"{path}:3: row has 3 fields, the header has 2")


def test_a_row_with_fewer_fields_than_the_header(tmp_path):
    path = write(tmp_path, "csv", b"text,label\nA.\n")
    assert records(path) == [(2, {"text": "A.", "label": None})]
    path = write(tmp_path, "csv", b"id,text\na,A.\nb\n")
    reader_error(path, f"{path}:3: missing field 'text'")


def test_a_multiline_record_is_numbered_by_its_first_line(tmp_path):
    path = write(tmp_path, "csv", b'id,text\na,"One\nrecord."\nb,"Two.",x\n')
    reader_error(path, f"{path}:4: row has 3 fields")
    path = write(tmp_path, "csv", b'id,text\na,"One\nrecord."\nb,Two.\n')
    assert [n for n, _ in records(path)] == [2, 4]


def test_ragged_csv_through_predict(tiny_model, tmp_path):
    path = write(tmp_path, "csv", b"id,text\na,A.\nb,B.,extra\n")
    cli_error(tiny_model, path, f"{path}:3:", "row has 3 fields, the header has 2")


# --- empty inputs yield no records ---------------------------------------------------------------------------

EMPTY = {
    "empty.jsonl": b"",
    "blank.jsonl": b"\n  \n\t\r\n",
    "bom-only.jsonl": BOM,
    "empty.csv": b"",
    "blank.csv": b"\n \n\r\n",
    "header-only.csv": b"id,text,label\n",
    "header-only.tsv": b"id\ttext\n\n",
    "empty.txt": b"",
    "blank.txt": b" \n\n\t\n",
    "header-only.txt": b"id: a-1\ntitle: T\n---\n",
    "header-no-newline.md": b"id: a-1\ntitle: T\n---",
}


@pytest.mark.parametrize("name", EMPTY)
def test_empty_inputs_yield_no_records(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(EMPTY[name])
    assert records(path) == []


@pytest.mark.parametrize("content", [b"", b"\n\n", b"  \r\n\t\n", BOM])
def test_empty_stdin_yields_no_texts(monkeypatch, content):
    assert stdin_texts(monkeypatch, content) == []


def test_an_article_with_a_header_and_no_body(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(EMPTY["header-only.txt"])
    article = read_article(path)
    assert (article.id, article.text, article.meta["title"]) == ("a-1", "", "T")
    assert article.sentences() == []


# --- a text field that is not a string -----------------------------------------------------------------------

NOT_STRINGS = {"3": "a number", "1.5": "a number", "[1]": "a list", '{"a": 1}': "an object", "true": "true/false"}


@pytest.mark.parametrize("value", NOT_STRINGS)
def test_a_text_that_is_not_a_string(tmp_path, value):
    path = write(tmp_path, "jsonl", f'{{"text": "A."}}\n{{"text": {value}}}\n'.encode())
    reader_error(path, f"{path}:2: field 'text' must be a string, not {NOT_STRINGS[value]}")


def test_a_null_text_is_missing(tmp_path):
    path = write(tmp_path, "jsonl", b'{"text": null}\n')
    reader_error(path, f"{path}:1: missing field 'text'")


@pytest.mark.parametrize("value", ["3", "[1]", "null"])
def test_a_text_that_is_not_a_string_through_predict(tiny_model, tmp_path, value):
    path = write(tmp_path, "jsonl", f'{{"text": {value}}}\n'.encode())
    cli_error(tiny_model, path, f"{path}:1:", "field 'text'")


# --- the splits file -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"articles": {"a": "train",\n "b": "te\xffst"}}', ":2: not valid UTF-8"),
        (b"[" * 100_000, "nesting too deep"),
        (b'{"articles": {"a": ["train"], "b": {"x": 1}, "c": "nope"}}', "unknown split names ['[\"train\"]', 'nope'"),
        (b'{"articles": 1' + b"0" * 5000 + b"}", "a number too long"),
    ],
    ids=["invalid-utf8", "deep", "unhashable-values", "long-number"],
)
def test_bad_splits_files(tmp_path, content, expected):
    path = tmp_path / "splits.json"
    path.write_bytes(content)
    with pytest.raises(StanceError) as info:
        load_splits(path)
    assert str(info.value).startswith(str(path)) and expected in str(info.value), str(info.value)


def test_a_splits_file_with_a_bom(tmp_path):
    path = tmp_path / "splits.json"
    path.write_bytes(BOM + b'{"articles": {"a": "train"}}\r\n')
    assert load_splits(path) == {"a": "train"}
