"""A synthetic news archive, for tests and benchmarks: shards of real-looking records built from the corpus.

`stance data synth` writes one; JSONL or Parquet.

Each synthetic article is a corpus article's sentences in order (so previous-sentence context works) under a
new `article_id`, with a publication `date`, a `source` (outlet or ministry) and an `actor` (who is speaking or
acting). Shards are consecutive slices of time, as a real archive partitioned by date is; within a shard,
articles are in date order. The corpus's labels are not copied: an archive is unlabelled. Deterministic for a
given corpus, options and seed.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from stance.errors import StanceError

# Invented names: a mix of wire services, newspapers, ministries and alliance press offices.
SOURCES = (
    "Northgate Wire",
    "Baltic Ledger",
    "Meridian Press Agency",
    "Ministry of Defence press office",
    "Alliance Public Affairs",
    "The Harbour Times",
    "Eastern Security Review",
    "Capital Evening Post",
)
ACTORS = ("defence minister", "alliance secretary general", "chief of defence", "prime minister", "foreign ministry")
SYNTH_FORMATS = ("jsonl", "parquet")


@dataclass
class SynthOptions:
    out: Path  # a folder: shard-0000.jsonl, shard-0001.jsonl, ...
    sentences: int = 10_000
    shards: int = 4
    fmt: str = "jsonl"  # jsonl | parquet
    start: dt.date = dt.date(2025, 1, 1)
    days: int = 365  # dates fall in [start, start + days)
    seed: int = 0


def synth_archive(corpus: list[dict], o: SynthOptions) -> list[Path]:
    """Write the archive's shards (atomically, each); their paths. `corpus`: rows with article_id, index, text."""
    if o.sentences < 1 or o.shards < 1 or o.days < 1:
        raise StanceError(f"sentences, shards and days must be at least 1 (got {o.sentences}, {o.shards}, {o.days})")
    if o.fmt not in SYNTH_FORMATS:
        raise StanceError(f"must be one of {', '.join(SYNTH_FORMATS)}, got {o.fmt!r}", option="fmt")
    articles = _articles(corpus)
    rng = random.Random(o.seed)
    rows: list[dict] = []
    n = 0
    while len(rows) < o.sentences:
        sentences = rng.choice(articles)[: o.sentences - len(rows)]
        day = o.start + dt.timedelta(days=rng.randrange(o.days))
        record = {"article_id": f"syn-{n:07d}", "date": day.isoformat(), "source": rng.choice(SOURCES)}
        actor = rng.choice(ACTORS)
        for i, text in enumerate(sentences):
            rows.append({"id": f"syn-{n:07d}-{i:03d}", **record, "index": i, "actor": actor, "text": text})
        n += 1
    rows.sort(key=lambda r: (r["date"], r["article_id"], r["index"]))  # stable: articles stay whole
    paths = []
    for k in range(o.shards):
        part = rows[len(rows) * k // o.shards : len(rows) * (k + 1) // o.shards]
        path = o.out / f"shard-{k:04d}.{o.fmt}"
        _write(path, part, o.fmt)
        paths.append(path)
    return paths


def _articles(corpus: list[dict]) -> list[list[str]]:
    by_article: dict[str, list[tuple[int, str]]] = {}
    for row in corpus:
        by_article.setdefault(str(row["article_id"]), []).append((int(row.get("index", 0)), row["text"]))
    if not by_article:
        raise StanceError("the corpus has no sentences to build an archive from")
    return [[text for _, text in sorted(rows)] for _, rows in sorted(by_article.items())]


def _write(path: Path, rows: list[dict], fmt: str) -> None:
    from stance.atomic import atomic_open

    if fmt == "jsonl":
        import json

        with atomic_open(path) as fh:
            fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_open(path, "wb", encoding=None) as fh:
        pq.write_table(pa.Table.from_pylist(rows), fh)
