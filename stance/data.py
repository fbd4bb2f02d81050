"""Reading labeled and unlabeled records from JSONL and CSV, streaming, with errors that name file:line.

Input is read as bytes and decoded line by line: a UTF-8 BOM and CRLF line ends just work; invalid UTF-8, NUL
bytes, lines over MAX_LINE_BYTES and JSON nested too deep are errors naming their line. Empty input, blank
lines and a CSV header alone yield no records: what zero records means is for the caller to say.

Also the corpus: sentences joined with their article-grouped split.
"""

from __future__ import annotations

import csv
import glob
import json
import sys
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from stance.errors import StanceError, line_number

MAX_TEXT_CHARS = 20_000  # longer texts are cut (with a warning): no sentence is this long
# A line longer than this is refused rather than read whole into memory: with texts cut at MAX_TEXT_CHARS, no
# record needs more. Python's csv refuses fields over 128 KiB by default, which would make a long text an error
# in CSV but a warning in JSONL; a quoted field can span lines, so it gets the same cap (set once, here).
MAX_LINE_BYTES = 32 * 1024 * 1024
csv.field_size_limit(MAX_LINE_BYTES)
MAX_JSON_DEPTH = 64  # records are flat; deeper JSON could pass json.loads and then break json.dumps on output
_BOM = b"\xef\xbb\xbf"


def _open_binary(path: Path) -> BinaryIO:
    """The raw bytes of a file, or of stdin for "-": lines are decoded one by one (`_lines`), so that an
    undecodable byte is reported on its own line, not on the first line of an 8 KiB decoding chunk."""
    if str(path) == "-":
        return sys.stdin.buffer
    if not path.exists():
        raise StanceError("file not found", path=path)
    if path.is_dir():
        raise StanceError("expected a file, got a directory", path=path)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise StanceError(f"cannot read the file ({exc.strerror})", path=path) from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text with its line end) for each line; a UTF-8 BOM is dropped. A lone \\r ends a line,
    as in Python's text mode. Bytes that are not text (invalid UTF-8, NUL) are errors naming the line."""
    fh = _open_binary(path)
    number = 0
    try:
        while raw := fh.readline(MAX_LINE_BYTES + 1):
            if len(raw) > MAX_LINE_BYTES:
                raise StanceError(f"line longer than {MAX_LINE_BYTES >> 20} MB", path=path, line=number + 1)
            if number == 0 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            for piece in raw.splitlines(keepends=True):  # readline splits at \n only
                number += 1
                yield number, _decode(piece, path, number)
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


def _decode(raw: bytes, path: Path, number: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte {raw[exc.start]:#04x} at column {exc.start + 1}"
        raise StanceError(f"not valid UTF-8 text ({where})", path=path, line=number) from None
    # csv accepts NUL in some Python versions and not in others, and no text format has one: a binary file
    if "\x00" in text:
        raise StanceError("NUL byte in the line (is this a binary file?)", path=path, line=number)
    return text


def is_article(path: Path) -> bool:
    """A .txt/.md article (split into sentences when read), not a file of records."""
    return READERS.get(path.suffix.lower()) is _article_rows


def read_records(path: str | Path, text_field: str = "text") -> Iterator[tuple[int, dict]]:
    """Yield (line number, record) from any readable input (`READERS`; "-" is JSONL on stdin); every
    record has a non-empty `text_field`."""
    path = Path(path)
    reader = _jsonl_rows if str(path) == "-" else READERS.get(path.suffix.lower())
    if reader is None:
        raise StanceError(f"unknown file type (expected {', '.join(READERS)})", path=path)
    for number, row in reader(path, text_field):
        text = row.get(text_field)
        if text is None:
            raise StanceError(f"missing field '{text_field}'", path=path, line=number)
        if not isinstance(text, str):
            kind = _JSON_KINDS.get(type(text), type(text).__name__)
            raise StanceError(f"field '{text_field}' must be a string, not {kind}", path=path, line=number)
        if not text.strip():
            raise StanceError(f"field '{text_field}' is empty", path=path, line=number)
        row[text_field] = _cut(text, path, number)
        yield number, row


_JSON_KINDS = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}


def _cut(text: str, path: Path, number: int) -> str:
    if len(text) > MAX_TEXT_CHARS:
        warnings.warn(f"{path}:{number}: text of {len(text)} characters cut to {MAX_TEXT_CHARS}", stacklevel=3)
        return text[:MAX_TEXT_CHARS]
    return text


def _jsonl_rows(path: Path, text_field: str) -> Iterator[tuple[int, dict]]:
    for number, line in _lines(path):
        if line.strip():
            yield number, _json_object(line, path, number)


def _json_object(line: str, path: Path, number: int) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise StanceError(f"malformed JSON ({exc.msg})", path=path, line=number) from None
    except RecursionError:
        raise StanceError("malformed JSON (nesting too deep)", path=path, line=number) from None
    except ValueError:  # int() refuses a number of more than 4300 digits (sys.get_int_max_str_digits)
        raise StanceError("malformed JSON (a number with too many digits)", path=path, line=number) from None
    if not isinstance(row, dict):
        raise StanceError("each line must be a JSON object", path=path, line=number)
    if line.count("[") + line.count("{") > MAX_JSON_DEPTH and _too_deep(row):  # cheap test first
        raise StanceError(f"malformed JSON (nesting too deep: over {MAX_JSON_DEPTH} levels)", path=path, line=number)
    if "\\u" in line and _unpaired_surrogate(row):
        # "\\ud800" alone is valid JSON but no text: writing it out as UTF-8 would fail later, far from the line
        raise StanceError("malformed JSON (an unpaired \\u surrogate escape is not text)", path=path, line=number)
    return row


def _too_deep(value: object) -> bool:
    stack = [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                return True
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return False


def _unpaired_surrogate(row: dict) -> bool:
    try:
        json.dumps(row, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _csv_rows(path: Path, text_field: str, delimiter: str = ",") -> Iterator[tuple[int, dict]]:
    """Records of a CSV file with a header row, numbered by the line each starts on. Blank lines are
    skipped, so an empty file has no records; a missing trailing field is None; an extra field is an error."""
    lines = _lines(path)
    reader = csv.reader((line for _, line in lines), delimiter=delimiter)
    header: list[str] | None = None
    start = 1  # the line the next row starts on: a quoted field may span lines
    try:
        for row in reader:
            if row and (len(row) > 1 or row[0].strip()):
                if header is None:
                    header = _csv_header(row, text_field, path, start)
                else:
                    yield start, _csv_record(header, row, path, start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise StanceError(_csv_problem(str(exc)), path=path, line=reader.line_num) from None
    finally:
        lines.close()


def _csv_header(row: list[str], text_field: str, path: Path, number: int) -> list[str]:
    if text_field not in row:
        # a quoted column name may hold a line break or a control character: quoted, it stays on one line
        columns = ", ".join(name if name.isprintable() else repr(name) for name in row)
        columns = columns if len(columns) <= 200 else columns[:200] + "…"  # a binary "header" can be megabytes
        raise StanceError(f"no '{text_field}' column (columns: {columns})", path=path, line=number)
    return row


def _csv_record(header: list[str], row: list[str], path: Path, number: int) -> dict:
    if len(row) > len(header):
        raise StanceError(f"row has {len(row)} fields, the header has {len(header)}", path=path, line=number)
    # fewer fields than the header: the missing ones are None (a missing text is then reported as such)
    return {**dict.fromkeys(header), **dict(zip(header, row, strict=False))}


def _csv_problem(message: str) -> str:
    if "field limit" in message:
        return f"a field is longer than {MAX_LINE_BYTES >> 20} MB"
    if "NUL" in message:
        return "NUL byte in the line (is this a binary file?)"
    return f"malformed CSV ({message})"


def _tsv_rows(path: Path, text_field: str) -> Iterator[tuple[int, dict]]:
    return _csv_rows(path, text_field, delimiter="\t")


def _article_rows(path: Path, text_field: str) -> Iterator[tuple[int, dict]]:
    from stance.articles import read_article

    return article_records(read_article(path), text_field, source=path)


def article_records(article, text_field: str = "text", source: Path | None = None) -> Iterator[tuple[int, dict]]:
    """An article's sentences as unlabeled records (id, article_id, index, text), numbered from 1; a text over
    MAX_TEXT_CHARS is cut, with a warning naming `source` (default: the article id), as `read_records` cuts."""
    for rec in article.sentences():
        rec.pop("label")
        number = rec["index"] + 1
        yield number, {**rec, text_field: _cut(rec.pop("text"), source or Path(article.id), number)}


def _parquet_rows(path: Path, text_field: str) -> Iterator[tuple[int, dict]]:
    """Rows of a Parquet file, 4,096 at a time (the "line" of a row is its 1-based row number). pyarrow is
    imported here, on the first Parquet file: it comes with `datasets`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except FileNotFoundError:
        raise StanceError("no such file", path=path) from None
    except (pa.ArrowException, OSError) as exc:
        raise StanceError(f"not a readable Parquet file ({str(exc).splitlines()[0]})", path=path) from None
    number = 0
    for batch in table.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            number += 1
            yield number, row


# Input formats by file suffix: a new format is one reader function and its lines here.
READERS = {
    ".jsonl": _jsonl_rows,
    ".ndjson": _jsonl_rows,
    ".json": _jsonl_rows,
    ".csv": _csv_rows,
    ".tsv": _tsv_rows,
    ".txt": _article_rows,
    ".md": _article_rows,
    ".parquet": _parquet_rows,
}


def find_shards(spec: str | Path) -> list[Path]:
    """Input shards: a folder's files of a readable kind (not hidden, not _manifest.json and the like), a
    glob's matches, or one file; sorted."""
    spec = str(spec)
    path = Path(spec)
    if path.is_dir():
        shards = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in READERS and p.name[0] not in "._"]
    elif glob.has_magic(spec):
        shards = [Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file()]
    elif path.is_file():
        shards = [path]
    else:
        raise StanceError("no such file or folder", path=spec)
    if not shards:
        raise StanceError("matches no input files", path=spec)
    for shard in shards:
        if shard.suffix.lower() not in READERS:
            raise StanceError(f"unknown file type (expected {', '.join(READERS)})", path=shard)
    return sorted(shards)


def read_texts_stdin() -> Iterator[tuple[int, dict]]:
    """stdin, one text a line (blank lines skipped)."""
    stdin = Path("-")
    for number, line in _lines(stdin):
        text = line.rstrip("\r\n")
        if text.strip():
            yield number, {"text": _cut(text, stdin, number)}


def load_labeled(
    path: str | Path,
    labels: list[str],
    text_field: str = "text",
    label_field: str = "label",
    skip_unknown: bool = False,
) -> list[dict]:
    """All records of a labeled file; a label outside `labels` is an error naming file:line."""
    out = []
    for number, row in read_records(path, text_field):
        label = row.get(label_field)
        if label is None:
            raise StanceError(f"missing field '{label_field}'", path=path, line=number)
        if label not in labels:
            if skip_unknown:
                continue
            raise StanceError(f"unknown label {label!r} (known: {', '.join(labels)})", path=path, line=number)
        row["_line"] = number
        out.append(row)
    if not out:
        raise StanceError("no labeled records", path=path)
    return out


def load_splits(path: str | Path) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        raise StanceError("splits file not found (run `stance data split`)", path=path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise StanceError(f"cannot read the file ({exc.strerror})", path=path) from None
    try:
        raw = json.loads(raw_bytes.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise StanceError("not valid UTF-8 text", path=path, line=line_number(raw_bytes, exc.start)) from None
    except json.JSONDecodeError as exc:
        raise StanceError(f"malformed JSON ({exc.msg})", path=path, line=exc.lineno) from None
    except (RecursionError, ValueError):  # nesting too deep for the parser; a number too long for int()
        raise StanceError("malformed JSON (nesting too deep or a number too long)", path=path) from None
    splits = raw.get("articles") if isinstance(raw, dict) else None
    if not isinstance(splits, dict):
        raise StanceError("expected an object with 'articles': {article_id: split}", path=path)
    # values may be any JSON (lists are unhashable): name the bad ones as JSON
    bad = sorted({json.dumps(v) if not isinstance(v, str) else v for v in splits.values() if v not in SPLITS})
    if bad:
        raise StanceError(f"unknown split names {bad} (expected {', '.join(SPLITS)})", path=path)
    return splits


SPLITS = ("train", "validation", "test")


def with_context(rows: Iterable[dict], text_field: str = "text") -> Iterator[tuple[dict, str]]:
    """(row, previous sentence of the same article) for each row, lazily and in input order: the text of the
    row before it with the same `article_id` and an `index` one less; "" for an article's first sentence
    and for rows without an article_id and integer index. Rows must come in article order, as every file
    stance writes does. The one place this rule lives: training, evaluation, prediction, suggestions and
    labelling all read context through here."""
    last: dict[str, tuple[int, str]] = {}  # article -> (index, text) of its latest sentence
    for row in rows:
        article, index, context = row.get("article_id"), row.get("index"), ""
        if article is not None and isinstance(index, int) and not isinstance(index, bool):
            previous = last.get(str(article))
            if previous is not None and previous[0] == index - 1:
                context = previous[1]
            last[str(article)] = (index, row[text_field])
        yield row, context


def _in_article_order(rows: list[dict], text_field: str) -> list[dict]:
    """Rows grouped by article, in index order, each with its `context`."""
    by_article: dict[str, list[dict]] = {}
    for row in rows:
        by_article.setdefault(str(row["article_id"]), []).append(row)
    ordered = [row for group in by_article.values() for row in sorted(group, key=lambda r: int(r.get("index", 0)))]
    for row, context in with_context(ordered, text_field):
        row["context"] = context
    return ordered


def require_article_ids(rows: list[dict], path) -> None:
    for row in rows:
        if "article_id" not in row:
            raise StanceError("missing field 'article_id'", path=path, line=row["_line"])


def load_corpus(config) -> dict[str, list[dict]]:
    """The labeled sentences of a config, grouped by split, each with its previous sentence as `context`."""
    d = config.data
    rows = load_labeled(d.sentences, config.labels, d.text_field, d.label_field)
    require_article_ids(rows, d.sentences)
    splits = load_splits(d.splits)
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for row in _in_article_order(rows, d.text_field):
        split = splits.get(str(row["article_id"]))
        if split is None:
            raise StanceError(
                f"article '{row['article_id']}' has no split in {d.splits} (run `stance data split`)",
                path=d.sentences,
                line=row["_line"],
            )
        out[split].append(row)
    return out


def load_dev_real(config) -> list[dict]:
    """The real-text dev set of a config (`data.dev_real`), with context like the corpus; [] when unset.
    It chooses between models and settings and is never trained on."""
    d = config.data
    if not d.dev_real:
        return []
    if not Path(d.dev_real).is_file():
        raise StanceError('dev set not found (set data.dev_real to "" to train without one)', path=d.dev_real)
    rows = load_labeled(d.dev_real, config.labels, d.text_field, d.label_field)
    require_article_ids(rows, d.dev_real)
    return _in_article_order(rows, d.text_field)
