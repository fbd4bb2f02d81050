"""`stance predict`: inputs (texts, stdin, articles, JSONL/CSV) -> labeled records (table, JSONL, CSV)."""

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
from pathlib import Path

from stance.articles import read_article
from stance.atomic import atomic_open
from stance.data import file_format, read_records, read_texts_stdin
from stance.errors import StanceError

FORMATS = ("table", "jsonl", "csv")
TOP_PER_LABEL = 3  # sentences shown per label in --summary


def _inputs(texts: list[str], input: Path | None, text_field: str) -> tuple[Iterator[tuple[dict, str, str]], bool]:
    """((record, text, previous sentence) for each input, is_article). Records are output as read."""
    if input is not None and texts:
        raise StanceError("give TEXT arguments or --input, not both")
    if input is not None:
        if file_format(input) == "article":
            records = read_article(input).sentences()
            for rec in records:
                rec.pop("label")
            contexts = ["", *(rec["text"] for rec in records[:-1])]
            return ((rec, rec["text"], ctx) for rec, ctx in zip(records, contexts, strict=True)), True
        return ((row, row[text_field], "") for _, row in read_records(input, text_field)), False
    if texts == ["-"]:
        return ((row, row["text"], "") for _, row in read_texts_stdin()), False
    if not texts:
        raise StanceError("nothing to label: give TEXT arguments, --input FILE, or '-' for stdin")
    for text in texts:
        if not text.strip():
            raise StanceError("an input text is empty")
    return (({"text": t}, t, "") for t in texts), False


def run_predict(
    model_dir: Path,
    texts: list[str],
    input: Path | None,
    text_field: str,
    fmt: str | None,
    output: Path | None,
    threshold: float,
    summary: bool,
    precision: str,
    batch_size: int,
    quiet: bool,
) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise StanceError(f"--threshold must be between 0 and 1, got {threshold}")
    if batch_size < 1:
        raise StanceError(f"--batch-size must be at least 1, got {batch_size}")
    if fmt is None:
        if output is not None:
            fmt = "csv" if output.suffix.lower() == ".csv" else "jsonl"
        else:
            fmt = "table" if sys.stdout.isatty() else "jsonl"
    if fmt not in FORMATS:
        raise StanceError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if output is not None and (not output.parent.is_dir()):
        raise StanceError(f"output directory does not exist: {output.parent}", path=output)
    records, is_article = _inputs(texts, input, text_field)
    first = next(records, None)
    if first is None:
        raise StanceError("no input texts (the input is empty)", path=input)
    records = itertools.chain([first], records)

    from inference.predictor import Predictor

    predictor = Predictor.load(model_dir, precision=precision)
    show_progress = not quiet and input is not None and not is_article

    stats = _Summary(predictor.labels) if summary else None

    def labelled():
        """(record, prediction) pairs, lazily; records wait in `pending` while their chunk is predicted."""
        from tqdm.auto import tqdm

        bar = tqdm(disable=not show_progress, unit=" sent", desc="predict", file=sys.stderr)
        pending = collections.deque()

        def items():
            for rec, text, context in records:
                pending.append(rec)
                yield text, context

        for pred in predictor.stream(items(), threshold=threshold, batch_size=batch_size):
            bar.update(1)
            if stats is not None:
                stats.add(pred)
            yield pending.popleft(), pred
        bar.close()

    pairs = labelled()
    if output is not None:
        with atomic_open(output, newline="") as fh:
            _write(fh, fmt, pairs)
        if not quiet:
            print(f"wrote {output}", file=sys.stderr)
    else:
        _write(sys.stdout, fmt, pairs)
    if stats is not None:
        print(stats.render(), file=sys.stdout if output is None else sys.stderr)


def _write(fh, fmt: str, pairs) -> None:
    if fmt == "jsonl":
        for rec, pred in pairs:
            fh.write(json.dumps({**rec, **pred.as_dict()}, ensure_ascii=False) + "\n")
    elif fmt == "csv":
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
    else:
        width = shutil.get_terminal_size((120, 20)).columns
        text_width = max(30, width - 32)
        fh.write(f"{'#':>4}  {'label':<18} {'score':>5}  text\n")
        for n, (rec, pred) in enumerate(pairs):
            text = pred.text if len(pred.text) <= text_width else pred.text[: text_width - 1] + "…"
            fh.write(f"{rec.get('index', n):>4}  {pred.label:<18} {pred.score:5.2f}  {text}\n")


class _Summary:
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
