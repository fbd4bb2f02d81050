"""Reading labeled and unlabeled records from JSONL and CSV, streaming, with errors that name file:line.

Also the corpus: sentences joined with their article-grouped split.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from stance.errors import StanceError

MAX_TEXT_CHARS = 20_000  # longer texts are cut (with a warning): no sentence is this long


def _open_text(path: Path) -> io.TextIOBase:
    if str(path) == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="strict")
    if not path.exists():
        raise StanceError("file not found", path=path)
    if path.is_dir():
        raise StanceError("expected a file, got a directory", path=path)
    return open(path, encoding="utf-8-sig", errors="strict", newline="")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    fh = _open_text(path)
    number = 0
    try:
        for number, line in enumerate(fh, 1):  # noqa: B007 (number is read in the except)
            yield number, line.rstrip("\r\n")
    except UnicodeDecodeError:
        raise StanceError("not valid UTF-8 text", path=path, line=number + 1) from None
    finally:
        if str(path) != "-":
            fh.close()


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    if suffix in (".txt", ".md"):
        return "article"
    raise StanceError("unknown file type (expected .jsonl, .csv, .tsv, .txt or .md)", path=path)


def read_records(path: str | Path, text_field: str = "text") -> Iterator[tuple[int, dict]]:
    """Yield (line number, record) from a JSONL or CSV file; every record has a non-empty `text_field`."""
    path = Path(path)
    fmt = "jsonl" if str(path) == "-" else file_format(path)
    if fmt == "jsonl":
        rows = _jsonl_rows(path)
    elif fmt in ("csv", "tsv"):
        rows = _csv_rows(path, "\t" if fmt == "tsv" else ",", text_field)
    else:
        raise StanceError("expected a .jsonl or .csv file of records", path=path)
    for number, row in rows:
        text = row.get(text_field)
        if text is None:
            raise StanceError(f"missing field '{text_field}'", path=path, line=number)
        if not isinstance(text, str):
            raise StanceError(f"field '{text_field}' must be a string", path=path, line=number)
        if not text.strip():
            raise StanceError(f"field '{text_field}' is empty", path=path, line=number)
        if len(text) > MAX_TEXT_CHARS:
            print(f"warning: {path}:{number}: text of {len(text)} characters cut to {MAX_TEXT_CHARS}", file=sys.stderr)
            row[text_field] = text[:MAX_TEXT_CHARS]
        yield number, row


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise StanceError(f"malformed JSON ({exc.msg})", path=path, line=number) from None
        if not isinstance(row, dict):
            raise StanceError("each line must be a JSON object", path=path, line=number)
        yield number, row


def _csv_rows(path: Path, delimiter: str, text_field: str) -> Iterator[tuple[int, dict]]:
    fh = _open_text(path)
    try:
        reader = csv.DictReader(fh, delimiter=delimiter)
        try:
            header = reader.fieldnames
        except UnicodeDecodeError:
            raise StanceError("not valid UTF-8 text", path=path, line=1) from None
        if not header:
            raise StanceError("empty CSV file (no header row)", path=path, line=1)
        if text_field not in header:
            raise StanceError(f"no '{text_field}' column (columns: {', '.join(header)})", path=path, line=1)
        try:
            for row in reader:
                yield reader.line_num, dict(row)
        except UnicodeDecodeError:
            raise StanceError("not valid UTF-8 text", path=path, line=reader.line_num + 1) from None
        except csv.Error as exc:
            raise StanceError(f"malformed CSV ({exc})", path=path, line=reader.line_num) from None
    finally:
        if str(path) != "-":
            fh.close()


def read_texts_stdin() -> Iterator[tuple[int, dict]]:
    """stdin, one text a line (blank lines skipped)."""
    for number, line in _lines(Path("-")):
        if line.strip():
            yield number, {"text": line}


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
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StanceError(f"malformed JSON ({exc.msg})", path=path, line=exc.lineno) from None
    splits = raw.get("articles") if isinstance(raw, dict) else None
    if not isinstance(splits, dict):
        raise StanceError("expected an object with 'articles': {article_id: split}", path=path)
    bad = sorted({v for v in splits.values() if v not in SPLITS})
    if bad:
        raise StanceError(f"unknown split names {bad} (expected {', '.join(SPLITS)})", path=path)
    return splits


SPLITS = ("train", "validation", "test")


def with_context(rows: list[dict], text_field: str = "text") -> list[dict]:
    """Set each row's `context` to the text of the sentence before it in the same article (by `index`;
    "" for an article's first sentence). Rows come back grouped by article, in index order."""
    by_article: dict[str, list[dict]] = {}
    for row in rows:
        by_article.setdefault(str(row["article_id"]), []).append(row)
    out = []
    for sentences in by_article.values():
        sentences.sort(key=lambda r: int(r.get("index", 0)))
        previous = ""
        for row in sentences:
            row["context"] = previous
            previous = row[text_field]
            out.append(row)
    return out


def _require_article_ids(rows: list[dict], path) -> None:
    for row in rows:
        if "article_id" not in row:
            raise StanceError("missing field 'article_id'", path=path, line=row["_line"])


def load_corpus(config) -> dict[str, list[dict]]:
    """The labeled sentences of a config, grouped by split, each with its previous sentence as `context`."""
    d = config.data
    rows = load_labeled(d.sentences, config.labels, d.text_field, d.label_field)
    _require_article_ids(rows, d.sentences)
    splits = load_splits(d.splits)
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for row in with_context(rows, d.text_field):
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
    _require_article_ids(rows, d.dev_real)
    return with_context(rows, d.text_field)
