"""Prediction over inputs: texts, stdin, articles, JSONL/CSV files -> labeled records (table, JSONL, CSV),
streamed in constant memory. `stance predict` parses its options into `PredictOptions` and calls
`label_inputs`."""

from __future__ import annotations

import collections
import csv
import heapq
import itertools
import json
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from stance.atomic import atomic_open
from stance.data import is_article, read_records, read_texts_stdin, with_context
from stance.errors import StanceError
from stance.modeldir import read_meta

TOP_PER_LABEL = 3  # sentences shown per label in the summary


@dataclass
class PredictOptions:
    texts: list[str] = field(default_factory=list)  # texts to label; ["-"] reads stdin, one a line
    input: Path | None = None  # or a file: .txt/.md article, .jsonl/.csv records
    text_field: str = "text"
    fmt: str | None = None  # table | jsonl | csv | html; None: by the output's suffix, table on a terminal
    output: Path | None = None  # written atomically; None: the stream given to label_inputs
    threshold: float = 0.0  # below this top probability the label is "uncertain"
    summary: bool = False  # count labels and keep the most confident sentences of each
    precision: str = "fp32"
    batch_size: int = 64
    quiet: bool = False  # no progress bar


@dataclass
class PredictResult:
    sentences: int
    summary: Summary | None


def _inputs(o: PredictOptions) -> Iterator[tuple[dict, str]]:
    """(record, previous sentence) for each input; records are output as read, plus the labels."""
    if o.input is not None and o.texts:
        raise StanceError("give texts or an input file, not both")
    if o.input is not None:
        return with_context((row for _, row in read_records(o.input, o.text_field)), o.text_field)
    if o.texts == ["-"]:
        return ((row, "") for _, row in read_texts_stdin())
    if not o.texts:
        raise StanceError("nothing to label: give texts, an input file, or '-' for stdin")
    if any(not text.strip() for text in o.texts):
        raise StanceError("an input text is empty")
    return (({"text": t}, "") for t in o.texts)


def _format(o: PredictOptions) -> str:
    if o.fmt is not None:
        return o.fmt
    if o.output is not None:
        suffix = o.output.suffix.lower().lstrip(".")
        return suffix if suffix in ("csv", "html", "parquet") else "jsonl"
    return "table" if sys.stdout.isatty() else "jsonl"


def label_inputs(model_dir: Path, o: PredictOptions, out: TextIO | None = None, on_load=None) -> PredictResult:
    """Label every input sentence and write the records to `o.output` (atomically) or to `out`.
    `on_load(predictor)` is called once the model is loaded, before the first sentence is labeled."""
    fmt = _check(o)
    records = _inputs(o)
    first = next(records, None)  # read before the model loads: a bad input fails in a second, not after torch
    if first is None:  # nothing to label is not an error: the output is valid and empty, like `grep`'s
        labels = read_meta(model_dir)["labels"]
        _emit(o, fmt, iter(()), out, _page(o, labels))
        return PredictResult(0, Summary(labels) if o.summary else None)
    from inference.predictor import Predictor

    predictor = Predictor.load(model_dir, precision=o.precision)
    if on_load is not None:
        on_load(predictor)
    return _label(predictor, itertools.chain([first], records), o, fmt, out)


def label_with(predictor, o: PredictOptions, out: TextIO | None = None) -> PredictResult:
    """`label_inputs` with a model already loaded: a worker that labels many files loads it once."""
    fmt = _check(o)
    return _label(predictor, _inputs(o), o, fmt, out)


def check_numbers(threshold: float, batch_size: int) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise StanceError(f"must be between 0 and 1, got {threshold}", option="threshold")
    if batch_size < 1:
        raise StanceError(f"must be at least 1, got {batch_size}", option="batch_size")


def _check(o: PredictOptions) -> str:
    """The output format, once the options are known to be usable (before any input is read)."""
    fmt = _format(o)
    if fmt not in WRITERS:
        raise StanceError(f"must be one of {', '.join(WRITERS)}, got {fmt!r}", option="fmt")
    if fmt in BINARY and o.output is None:
        raise StanceError(f"{fmt} output needs a file", option="output")
    check_numbers(o.threshold, o.batch_size)
    return fmt


def _label(predictor, records, o: PredictOptions, fmt: str, out: TextIO | None) -> PredictResult:
    stats = Summary(predictor.labels) if o.summary else None
    count = [0]
    pairs = _labelled(predictor, records, o, stats, count)
    _emit(o, fmt, pairs, out, _page(o, predictor.labels))
    return PredictResult(count[0], stats)


def _page(o: PredictOptions, labels: list[str]) -> _Page:
    title = o.input.name if o.input is not None else "texts"
    return _Page(labels, o.threshold, title, [o.text_field, "label", "score", *(f"p_{lab}" for lab in labels)])


def _emit(o: PredictOptions, fmt: str, pairs, out: TextIO | None, page: _Page) -> None:
    if o.output is None:
        WRITERS[fmt](out or sys.stdout, pairs, page)
        return
    write_records(o.output, fmt, pairs, page)


def write_records(path: Path, fmt: str, pairs, page: _Page) -> None:
    """Write (record, prediction) pairs to `path` atomically in `fmt` (a key of WRITERS)."""
    binary = fmt in BINARY
    with atomic_open(path, "wb" if binary else "w", encoding=None if binary else "utf-8", newline="") as fh:
        WRITERS[fmt](fh, pairs, page)


def _labelled(predictor, records, o: PredictOptions, stats, count: list[int]):
    """(record, prediction) pairs, lazily; records wait in `pending` while their chunk is predicted.
    `count[0]` counts the pairs yielded."""
    from stance.progress import Progress

    quiet = o.quiet or o.input is None or is_article(o.input)  # a bar for files of records only
    pending = collections.deque()

    def items():
        for rec, context in records:
            pending.append(rec)
            yield rec[o.text_field] if o.input is not None else rec["text"], context

    with Progress("predict", unit="sentence", quiet=quiet) as bar:
        for pred in predictor.stream(items(), threshold=o.threshold, batch_size=o.batch_size):
            bar.update(1)
            count[0] += 1
            if stats is not None:
                stats.add(pred)
            yield pending.popleft(), pred


@dataclass
class _Page:
    """What a writer may need besides the records."""

    labels: list[str]
    threshold: float
    title: str  # the HTML page's title: the input file's name, or "texts"
    columns: list[str] | None = None  # the CSV header (Parquet: first column) to write when there are no records


def _write_jsonl(fh, pairs, page: _Page) -> None:
    for rec, pred in pairs:
        fh.write(json.dumps({**rec, **pred.as_dict()}, ensure_ascii=False) + "\n")


def _write_csv(fh, pairs, page: _Page) -> None:
    writer = None
    for rec, pred in pairs:
        row = {
            **{k: v for k, v in rec.items() if not isinstance(v, (dict, list))},
            "label": pred.label,
            "score": round(pred.score, 4),
            **{f"p_{lab}": round(p, 4) for lab, p in pred.probs.items()},
        }
        if writer is None:
            writer = csv.DictWriter(fh, fieldnames=list(row), extrasaction="ignore")
            writer.writeheader()
        writer.writerow(row)
    if writer is None and page.columns:
        csv.writer(fh).writerow(page.columns)


def _write_table(fh, pairs, page: _Page) -> None:
    width = shutil.get_terminal_size((120, 20)).columns
    text_width = max(30, width - 32)
    fh.write(f"{'#':>4}  {'label':<18} {'score':>5}  text\n")
    for n, (rec, pred) in enumerate(pairs):
        text = pred.text if len(pred.text) <= text_width else pred.text[: text_width - 1] + "…"
        fh.write(f"{rec.get('index', n):>4}  {pred.label:<18} {pred.score:5.2f}  {text}\n")


def _write_html(fh, pairs, page: _Page) -> None:
    """One self-contained page (inference.report_html): a section per article, in input order."""
    from inference.report_html import render_document

    sections: dict[str, list[dict]] = {}
    for rec, pred in pairs:
        key = str(rec.get("article_id", page.title))
        sections.setdefault(key, []).append({**rec, **pred.as_dict()})
    fh.write(render_document(list(sections.items()), page.labels, page.threshold, title=page.title))


def _write_parquet(fh, pairs, page: _Page) -> None:
    """Parquet in row groups of CHUNK records: the input's fields, then label, score and probs (a struct). The
    first row group fixes the schema (a Parquet input's own schema, plus those three)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from inference.predictor import CHUNK

    writer = None
    for chunk in iter(lambda: list(itertools.islice(pairs, CHUNK)), []):
        rows = [{**rec, **pred.as_dict()} for rec, pred in chunk]
        table = pa.Table.from_pylist(rows, schema=writer.schema if writer else None)
        if writer is None:
            writer = pq.ParquetWriter(fh, table.schema)
        writer.write_table(table)
    if writer is None:  # no records: an empty file with the output columns
        probs = pa.struct([(lab, pa.float64()) for lab in page.labels])
        fields = [(c, pa.string()) for c in (page.columns or ["text"])[:1]]
        schema = pa.schema([*fields, ("label", pa.string()), ("score", pa.float64()), ("probs", probs)])
        writer = pq.ParquetWriter(fh, schema)
    writer.close()


WRITERS = {
    "table": _write_table,
    "jsonl": _write_jsonl,
    "csv": _write_csv,
    "html": _write_html,
    "parquet": _write_parquet,
}
BINARY = {"parquet"}


class Summary:
    """Per-label counts and the most confident sentences of each label, in constant memory."""

    def __init__(self, labels: list[str]):
        self.labels = labels
        self.counts: Counter = Counter()
        self.top: dict[str, list] = {}
        self.n = 0

    def add(self, pred) -> None:
        self.n += 1
        self.counts[pred.label] += 1
        heap = self.top.setdefault(pred.label, [])
        item = (pred.score, self.n, pred.text)
        if len(heap) < TOP_PER_LABEL:
            heapq.heappush(heap, item)
        else:
            heapq.heappushpop(heap, item)

    def render(self) -> str:
        lines = ["", f"summary: {self.n} sentences"]
        for label in [*self.labels, "uncertain"]:
            if not self.counts[label]:
                continue
            lines.append(f"  {label:<18} {self.counts[label]:>5}  {self.counts[label] / self.n:6.1%}")
        for label in self.labels:
            if self.top.get(label):
                lines.append(f"most confident {label}:")
                for score, _, text in sorted(self.top[label], reverse=True):
                    lines.append(f"  {score:.2f}  {text[:150]}")
        return "\n".join(lines)
