"""Reading labeled and unlabeled records from JSONL and CSV, streaming, with errors that name file:line.

Also the corpus: sentences joined with their article-grouped split.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import warnings
from collections.abc import Iterable, Iterator
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
            raise StanceError(f"field '{text_field}' must be a string", path=path, line=number)
        if not text.strip():
            raise StanceError(f"field '{text_field}' is empty", path=path, line=number)
        if len(text) > MAX_TEXT_CHARS:
            warnings.warn(f"{path}:{number}: text of {len(text)} characters cut to {MAX_TEXT_CHARS}", stacklevel=2)
            row[text_field] = text[:MAX_TEXT_CHARS]
        yield number, row


def _jsonl_rows(path: Path, text_field: str) -> Iterator[tuple[int, dict]]:
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


def _csv_rows(path: Path, text_field: str, delimiter: str = ",") -> Iterator[tuple[int, dict]]:
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


def _tsv_rows(path: Path, text_field: str) -> Iterator[tuple[int, dict]]:
    return _csv_rows(path, text_field, delimiter="\t")


def _article_rows(path: Path, text_field: str) -> Iterator[tuple[int, dict]]:
    """An article's sentences as records (id, article_id, index, text), numbered from 1."""
    from stance.articles import read_article

    for rec in read_article(path).sentences():
        rec.pop("label")
        yield rec["index"] + 1, {**rec, text_field: rec.pop("text")}


# Input formats by file suffix: a new format is one reader function and its lines here.
READERS = {
    ".jsonl": _jsonl_rows,
    ".ndjson": _jsonl_rows,
    ".json": _jsonl_rows,
    ".csv": _csv_rows,
    ".tsv": _tsv_rows,
    ".txt": _article_rows,
    ".md": _article_rows,
}


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
    _require_article_ids(rows, d.dev_real)
    return _in_article_order(rows, d.text_field)
