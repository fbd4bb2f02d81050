"""Fuzzing the readers with bytes: whatever a file holds, reading it either gives clean records or raises a
StanceError (one line, naming the file) — never another exception. Also `stance data validate`,
`stance data sentences`, load_splits and load_config."""

from __future__ import annotations

import io
import json
import sys
import warnings
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stance.cli import app
from stance.config import Config, load_config
from stance.data import MAX_TEXT_CHARS, SPLITS, load_splits, read_records, read_texts_stdin
from stance.errors import StanceError

runner = CliRunner()
FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CHEAP = settings(FUZZ, max_examples=150)  # the CLI and config runs: each example does more work

# --- strategies: random bytes, and files that are nearly right ---------------------------------------------

WORDS = st.sampled_from(["The army deploys.", "Calm", "ok", "", " ", "é", "\u2028", "a,b", 'say "hi"', "x\ty", "🙂"])
TEXTS = st.one_of(WORDS, st.text(max_size=30))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False) | TEXTS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
    max_leaves=8,
)
JSON_LINES = st.one_of(
    st.builds(lambda text, extra: json.dumps({"text": text, **extra}), TEXTS, st.dictionaries(TEXTS, JSON_VALUES)),
    st.builds(lambda row: json.dumps(row), st.dictionaries(st.sampled_from(["text", "label", "id"]), JSON_VALUES)),
    JSON_VALUES.map(json.dumps),
).map(str.encode)
CSV_LINES = st.lists(TEXTS, min_size=1, max_size=4).map(lambda fields: ",".join(fields).encode())
TSV_LINES = st.lists(TEXTS, min_size=1, max_size=4).map(lambda fields: "\t".join(fields).encode())
QUOTED = st.builds(lambda a, b: f'"{a}\n{b}"'.encode(), TEXTS, TEXTS)  # a CSV field over two lines, or junk
JUNK = st.one_of(
    st.binary(max_size=20),
    st.sampled_from([b"\xef\xbb\xbf", b"\r\n", b"\r", b"\n", b"\x00", b"\xff\xfe", b"\xe9", b'"', b"---", b"id: x"]),
    st.sampled_from([b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\\ud800", b"[" * 3000, b'{"a":' * 100]),
    # long lines: a text over MAX_TEXT_CHARS is cut, and a CSV field over csv's default limit (128 KiB) is fine
    st.sampled_from([1, 100, 20_001, 140_000]).map(lambda n: b"w" * n),
)


def nearly_right(lines: st.SearchStrategy[bytes], header: bytes = b"") -> st.SearchStrategy[bytes]:
    """A header, then good lines mixed with junk, joined by \\n, \\r\\n or \\r, maybe behind a BOM."""
    body = st.lists(st.one_of(lines, lines, QUOTED, JUNK), max_size=8)
    return st.builds(
        lambda bom, end, parts: (b"\xef\xbb\xbf" if bom else b"") + header + end.join(parts),
        st.booleans(),
        st.sampled_from([b"\n", b"\r\n", b"\r"]),
        body,
    )


ARTICLE_HEADER = st.sampled_from([b"", b"id: a-1\ntitle: T\n---\n", b"title: T\n---\n", b"id: Bad Id\n---\n"])
FILES = {
    ".jsonl": st.one_of(st.binary(max_size=300), nearly_right(JSON_LINES)),
    ".csv": st.one_of(st.binary(max_size=300), nearly_right(CSV_LINES, b"id,text,label\n"), nearly_right(CSV_LINES)),
    ".tsv": st.one_of(st.binary(max_size=300), nearly_right(TSV_LINES, b"id\ttext\n")),
    ".txt": st.one_of(
        st.binary(max_size=300),
        st.builds(bytes.__add__, ARTICLE_HEADER, nearly_right(WORDS.map(str.encode))),
        st.text(max_size=300).map(str.encode),
    ),
}


def scratch(tmp_path_factory, name: str) -> Path:
    """One file that every example of a test overwrites (function-scoped tmp_path is not reset between them)."""
    return tmp_path_factory.mktemp("fuzz") / name


def check_error(exc: StanceError, where: str) -> None:
    message = str(exc)
    assert message.startswith(where), message
    assert "\n" not in message and "\r" not in message, message  # the CLI prints it as one line


def check_records(rows: list[tuple[int, dict]]) -> None:
    numbers = [n for n, _ in rows]
    assert numbers == sorted(set(numbers)) and all(n >= 1 for n in numbers), numbers
    for _, row in rows:
        text = row["text"]
        assert isinstance(text, str) and text.strip() and len(text) <= MAX_TEXT_CHARS
        text.encode("utf-8")  # writable as UTF-8: no lone surrogates


def read_all(path: Path) -> list[tuple[int, dict]] | None:
    """The records of `path`, or None after a well-formed StanceError; any other exception fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the long-text cut warns; that is fine here
        try:
            rows = list(read_records(path, "text"))
        except StanceError as exc:
            check_error(exc, str(path))
            return None
    check_records(rows)
    return rows


# --- the readers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", FILES)
def test_fuzz_reader(tmp_path_factory, suffix):
    path = scratch(tmp_path_factory, f"input{suffix}")

    outcomes = []

    @FUZZ
    @given(content=FILES[suffix])
    def run(content: bytes) -> None:
        path.write_bytes(content)
        outcomes.append(read_all(path) is not None)

    run()
    assert len(outcomes) >= 500  # the required number of examples ran ...
    assert 0 < sum(outcomes) < len(outcomes)  # ... and both records and errors came out of them


def test_fuzz_reader_finds_records_in_good_lines(tmp_path_factory):
    """The fuzzing above is not vacuous: clean lines behind a BOM and CRLF come back as records."""
    path = scratch(tmp_path_factory, "input.jsonl")

    @FUZZ
    @given(texts=st.lists(st.text(min_size=1, max_size=40).filter(str.strip), min_size=1, max_size=5))
    def run(texts: list[str]) -> None:
        lines = [json.dumps({"text": t}, ensure_ascii=False).encode() for t in texts]
        path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")
        rows = read_all(path)
        assert rows is not None and [row["text"] for _, row in rows] == texts

    run()


STDIN = st.one_of(st.binary(max_size=300), nearly_right(WORDS.map(str.encode)))


@FUZZ
@given(content=STDIN)
def test_fuzz_stdin(content):
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = list(read_texts_stdin())
    except StanceError as exc:
        check_error(exc, "-:")
    else:
        check_records(rows)
        assert len(rows) <= content.count(b"\n") + content.count(b"\r") + 1
    finally:
        sys.stdin = saved


# --- the CLI: `stance data validate` and `stance data sentences` ---------------------------------------------


def corpus_file(rows: list[tuple[str, str, str, dict]]) -> bytes:
    """A valid corpus (ids unique, indexes 0..n-1 per article), except where `odd` overrides a field."""
    counts: dict[str, int] = {}
    lines = []
    for n, (article, text, label, odd) in enumerate(rows):
        index = counts[article] = counts.get(article, -1) + 1
        lines.append(json.dumps({"id": f"s{n}", "article_id": article, "index": index, "text": text, "label": label}))
        lines[-1] = json.dumps({**json.loads(lines[-1]), **odd})
    return "\n".join(lines).encode() + b"\n"


ODD_FIELD = st.dictionaries(
    st.sampled_from(["id", "article_id", "index", "label", "text"]), JSON_VALUES, max_size=1
).filter(lambda odd: not isinstance(odd.get("id"), (list, dict)))  # a known crash: test_validate_unhashable_id
CORPUS = st.lists(
    st.tuples(
        st.sampled_from(["a1", "a2"]),
        st.builds(
            "{} {}.".format, st.sampled_from(["Alpha", "Bravo"]), st.integers(0, 99)
        ),  # too short to be near-duplicates
        st.sampled_from(["threat_assessment", "other", "reassurance"]),
        st.one_of(st.just({}), st.just({}), ODD_FIELD),
    ),
    min_size=1,
    max_size=6,
).map(corpus_file)


def check_cli(args: list[str], catch_exceptions: bool = True) -> None:
    result = runner.invoke(app, args, catch_exceptions=catch_exceptions)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    if result.exit_code == 2:
        assert result.stderr.startswith("error: ") and "Traceback" not in result.output, result.stderr


def test_fuzz_data_validate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("validate")

    @CHEAP
    @given(suffix=st.sampled_from([".jsonl", ".csv"]), content=st.one_of(FILES[".jsonl"], CORPUS))
    def run(suffix: str, content: bytes) -> None:
        path = folder / f"sentences{suffix}"
        path.write_bytes(content)
        check_cli(["data", "validate", str(path)])

    run()


def test_validate_unhashable_id(tmp_path):
    path = tmp_path / "sentences.jsonl"
    path.write_bytes(corpus_file([("a1", "Alpha 1.", "other", {"id": ["s0"]})]))
    check_cli(["data", "validate", str(path)], catch_exceptions=False)


def test_fuzz_data_sentences(tmp_path_factory):
    path = scratch(tmp_path_factory, "article.txt")

    @CHEAP
    @given(content=FILES[".txt"])
    def run(content: bytes) -> None:
        path.write_bytes(content)
        check_cli(["data", "sentences", str(path)])

    run()


# --- load_splits and load_config -----------------------------------------------------------------------------

SPLITS_FILES = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(TEXTS, st.one_of(st.sampled_from(SPLITS), JSON_VALUES), max_size=4).map(
        lambda a: json.dumps({"articles": a}).encode()
    ),
)


def test_fuzz_load_splits(tmp_path_factory):
    path = scratch(tmp_path_factory, "splits.json")

    @FUZZ
    @given(content=SPLITS_FILES)
    def run(content: bytes) -> None:
        path.write_bytes(content)
        try:
            splits = load_splits(path)
        except StanceError as exc:
            check_error(exc, str(path))
        else:
            assert all(isinstance(v, str) and v in SPLITS for v in splits.values())

    run()


CONFIG_KEYS = st.sampled_from(["labels", "data", "model", "train", "tfidf", "seed", "epochs", "type", "inherit", "x"])
YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats() | TEXTS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.one_of(CONFIG_KEYS, TEXTS), inner, max_size=3),
    max_leaves=10,
)


def load_config_or_error(path: Path) -> None:
    try:
        config = load_config(path)
    except StanceError as exc:
        assert str(exc), "an empty error message"
    else:
        assert isinstance(config, Config)


def test_fuzz_load_config_structures(tmp_path_factory):
    """Any YAML document that safe_dump writes: a config, or a StanceError."""
    path = scratch(tmp_path_factory, "config.yaml")

    @CHEAP
    @given(doc=st.one_of(YAML_VALUES, st.dictionaries(CONFIG_KEYS, YAML_VALUES, max_size=4)))
    def run(doc) -> None:
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        load_config_or_error(path)

    run()


def test_fuzz_load_config_bytes(tmp_path_factory):
    path = scratch(tmp_path_factory, "config.yaml")

    @CHEAP
    @given(content=st.binary(max_size=200))
    def run(content: bytes) -> None:
        path.write_bytes(content)
        load_config_or_error(path)

    run()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"labels: [a, b]\n\xff\n", id="invalid-utf8"),
        pytest.param(b"[" * 5000, id="deep-nesting"),
        pytest.param(b"&a {train: *a}\n", id="alias-loop"),
        pytest.param(b"train:\n  seed: 2001-13-01\n", id="impossible-date"),
        pytest.param(b"train:\n  seed: " + b"1" * 5000 + b"\n", id="long-int"),
        pytest.param(b"labels: [a, b]\n\x00\n", id="nul-byte-message-on-one-line"),
        pytest.param(b"train:\n  seed: [1,\n", id="invalid-yaml"),
        pytest.param(b"labels: &a [*a, b]\n", id="self-referencing-list"),
        pytest.param(b"train: !!python/object:os.system x\n", id="python-tag"),
    ],
)
def test_load_config_bad_bytes(tmp_path, content):
    """What a config file that is not clean text should give: a one-line StanceError naming the file."""
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    with pytest.raises(StanceError) as info:
        load_config(path)
    check_error(info.value, str(path))
