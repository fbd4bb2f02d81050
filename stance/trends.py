"""Shares of each label over time or by source, over labelled records (what `stance predict` writes).

`stance trends` groups by month, ISO week, source or actor, and writes a table, a CSV, a PNG or an HTML page.
The predictions are a file, a glob or a folder of output shards (.jsonl, .csv, .parquet). Records are counted, not
kept, so an archive of any size fits in memory (one label count per article, not per sentence). Every share
comes with a 95% bootstrap interval that resamples whole articles: sentences of one article are not independent
(an article about a new missile is threat after threat), so resampling sentences would give intervals that are
too narrow wherever a few long articles dominate a group. The group's articles (records sharing
`article_field`, by default `article_id`) are drawn with replacement, `resamples` times; records without one
count as articles of one sentence (a multinomial draw of their own). Records the
grouping cannot place (no date field, a date that is not YYYY-MM-DD..., no source) are counted and reported,
never silently dropped.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from stance.errors import StanceError

GROUPINGS = ("month", "week", "source", "actor")
UNCERTAIN = "uncertain"


@dataclass
class TrendOptions:
    by: str = "month"  # month | week (from date_field), source | actor (the field of that name)
    date_field: str = "date"
    label_field: str = "label"
    resamples: int = 1000  # bootstrap resamples per group
    article_field: str = "article_id"  # records sharing it are resampled together; "" resamples records
    seed: int = 0


@dataclass
class Trends:
    by: str
    labels: list[str]  # in order: alphabetical, "uncertain" last
    counts: dict[str, Counter] = field(default_factory=dict)  # group -> label -> records
    clusters: dict[str, dict[str, Counter]] = field(default_factory=dict)  # group -> article -> label -> records
    intervals: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)  # (group, label) -> 95%
    unplaced: int = 0  # records the grouping could not place
    unplaced_field: str = ""  # the field they lacked
    files: int = 0

    @property
    def groups(self) -> list[str]:
        return sorted(self.counts)

    @property
    def total(self) -> int:
        return sum(self.size(group) for group in self.counts)

    def size(self, group: str) -> int:
        return sum(self.counts[group].values())

    def cell(self, group: str, label: str) -> tuple[float, float, float]:
        """(share, low, high): the label's share of the group's records and its 95% interval."""
        return (self.counts[group][label] / self.size(group), *self.intervals[(group, label)])

    def rows(self) -> list[dict]:
        """One row per group and label: counts, share and its interval (the CSV)."""
        out = []
        for group in self.groups:
            for label in self.labels:
                share, lo, hi = self.cell(group, label)
                out.append(
                    {self.by: group, "label": label, "count": self.counts[group][label], "n": self.size(group),
                     "share": round(share, 4), "lo": round(lo, 4), "hi": round(hi, 4)}
                )  # fmt: skip
        return out


def compute_trends(spec: str | Path, o: TrendOptions) -> Trends:
    """Read every record of the prediction files in `spec` and count labels per group, then the intervals."""
    from stance.data import READERS, find_shards

    if o.by not in GROUPINGS:
        raise StanceError(f"must be one of {', '.join(GROUPINGS)}, got {o.by!r}", option="by")
    files = find_shards(spec)
    key_field = o.date_field if o.by in ("month", "week") else o.by
    trends = Trends(o.by, [], unplaced_field=key_field, files=len(files))
    for path in files:
        for number, row in READERS[path.suffix.lower()](path, o.label_field):
            label = row.get(o.label_field)
            if not isinstance(label, str) or not label:
                raise StanceError(f"missing field '{o.label_field}' (is this stance's output?)", path=path, line=number)
            group = _group(row.get(key_field), o.by)
            if group is None:
                trends.unplaced += 1
                continue
            trends.counts.setdefault(group, Counter())[label] += 1
            cluster = row.get(o.article_field) if o.article_field else None
            if cluster is not None and cluster != "":
                trends.clusters.setdefault(group, {}).setdefault(str(cluster), Counter())[label] += 1
    seen = {label for c in trends.counts.values() for label in c}
    trends.labels = sorted(seen - {UNCERTAIN}) + ([UNCERTAIN] if UNCERTAIN in seen else [])
    trends.intervals = _bootstrap(trends, o)
    return trends


def _group(value, by: str) -> str | None:
    if by in ("source", "actor"):
        if value is None or isinstance(value, (dict, list)):
            return None
        return str(value).strip() or None
    if isinstance(value, (dt.date, dt.datetime)):  # Parquet date columns arrive as dates
        day = value if not isinstance(value, dt.datetime) else value.date()
    elif isinstance(value, str):
        try:
            day = dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    else:
        return None
    if by == "month":
        return f"{day.year:04d}-{day.month:02d}"
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def _bootstrap(trends: Trends, o: TrendOptions) -> dict[tuple[str, str], tuple[float, float]]:
    """Per group: resample its articles with replacement (each resample draws as many articles as the group
    has), add a multinomial draw for the records without an article, take each label's share; the 2.5th and
    97.5th percentiles over `resamples` draws."""
    import numpy as np

    rng = np.random.default_rng(o.seed)
    out = {}
    for group in trends.groups:
        counts = np.array([trends.counts[group][label] for label in trends.labels], dtype=float)
        articles = trends.clusters.get(group, {})
        per_article = np.array([[c[label] for label in trends.labels] for c in articles.values()], dtype=float)
        per_article = per_article.reshape(len(articles), len(trends.labels))
        single = counts - per_article.sum(axis=0)  # records without an article: each its own
        draws = np.zeros((o.resamples, len(trends.labels)))
        if len(articles):
            for start in range(0, o.resamples, 100):  # 100 resamples at a time: (100 x articles) in memory
                rows = min(100, o.resamples - start)
                times = rng.multinomial(len(articles), np.full(len(articles), 1 / len(articles)), size=rows)
                draws[start : start + rows] = times @ per_article  # how often each article was drawn x its counts
        if single.sum() > 0:
            draws += rng.multinomial(int(single.sum()), single / single.sum(), size=o.resamples)
        shares = draws / draws.sum(axis=1, keepdims=True)
        lo, hi = np.percentile(shares, [2.5, 97.5], axis=0)
        for i, label in enumerate(trends.labels):
            out[(group, label)] = (float(lo[i]), float(hi[i]))
    return out


# ------------------------------------------------------------------------------------------------ rendering


def render_table(trends: Trends) -> str:
    """Shares per group as text: one row per group, one column per label (share and its interval)."""
    wide = max([10, len(trends.by), *(len(group) for group in trends.groups)])  # source names run long
    head = f"{trends.by:<{wide}} {'n':>7}  " + "  ".join(f"{label:>24}" for label in trends.labels)
    lines = [head]
    for group in trends.groups:
        cells = [f"{s:>8.1%} [{lo:5.1%},{hi:6.1%}]".rjust(24) for s, lo, hi in _cells(trends, group)]
        lines.append(f"{group:<{wide}} {trends.size(group):>7}  " + "  ".join(cells))
    lines.append(summary_line(trends))
    return "\n".join(lines)


def _cells(trends: Trends, group: str) -> list[tuple[float, float, float]]:
    return [trends.cell(group, label) for label in trends.labels]


def summary_line(trends: Trends) -> str:
    line = f"{trends.total} records in {len(trends.groups)} groups from {trends.files} files"
    if trends.unplaced:
        line += f"; {trends.unplaced} records without a usable '{trends.unplaced_field}' are not counted in them"
    return line


def write_csv(trends: Trends, fh) -> None:
    rows = trends.rows()
    writer = csv.DictWriter(fh, fieldnames=[trends.by, "label", "count", "n", "share", "lo", "hi"])
    writer.writeheader()
    writer.writerows(rows)


def png_bytes(trends: Trends) -> bytes:
    """Shares per group as lines with their 95% bands (time) or grouped bars with error bars (source, actor)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = trends.groups
    fig, ax = plt.subplots(figsize=(min(12.0, max(6.0, 0.45 * len(groups) + 3)), 4.5), dpi=110)
    x = list(range(len(groups)))
    width = 0.8 / max(1, len(trends.labels))
    for i, label in enumerate(trends.labels):
        share, lo, hi = (list(column) for column in zip(*(trends.cell(g, label) for g in groups), strict=True))
        if trends.by in ("month", "week"):
            (line,) = ax.plot(x, share, marker="o", ms=3, label=label)
            ax.fill_between(x, lo, hi, alpha=0.2, color=line.get_color())
        else:
            pos = [p + (i - (len(trends.labels) - 1) / 2) * width for p in x]
            err = [[s - a for s, a in zip(share, lo, strict=True)], [b - s for s, b in zip(share, hi, strict=True)]]
            ax.bar(pos, share, width, yerr=err, capsize=2, label=label)
    step = max(1, len(groups) // 16)  # at most ~16 tick labels, however many groups
    ax.set_xticks(
        x[::step], groups[::step], rotation=45 if len(groups) > 6 else 0, ha="right" if len(groups) > 6 else "center"
    )
    ax.set_ylabel("share of sentences")
    ax.set_ylim(0, 1)
    ax.set_title(f"Label shares by {trends.by} (95% bootstrap intervals)")
    ax.legend(fontsize=8, ncol=min(4, len(trends.labels)))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def render_html(trends: Trends) -> str:
    """A self-contained page: the chart (an embedded PNG) and the table, with every text escaped."""
    image = base64.b64encode(png_bytes(trends)).decode("ascii")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in [trends.by, "n", *trends.labels])
    body = []
    for group in trends.groups:
        cells = "".join(f"<td>{s:.1%}<small> [{lo:.1%}, {hi:.1%}]</small></td>" for s, lo, hi in _cells(trends, group))
        body.append(f"<tr><td>{html.escape(group)}</td><td>{trends.size(group)}</td>{cells}</tr>")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>stance trends by "
        f"{html.escape(trends.by)}</title><style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:75em}}"
        "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:right}"
        "td:first-child,th:first-child{text-align:left}small{color:#666}</style></head><body>"
        f"<h1>Label shares by {html.escape(trends.by)}</h1><p>{html.escape(summary_line(trends))}</p>"
        f"<img alt='label shares by {html.escape(trends.by)}' src='data:image/png;base64,{image}'>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>\n"
    )


def output_kind(path: Path) -> str:
    """csv, png or html, by the suffix; checked before the archive is read."""
    kind = {".csv": "csv", ".png": "png", ".html": "html", ".htm": "html"}.get(path.suffix.lower())
    if kind is None:
        raise StanceError("must end in .csv, .png or .html", option="output")
    return kind


def write_trends(trends: Trends, path: Path) -> None:
    """Write `path` atomically, as CSV, PNG or HTML by its suffix."""
    from stance.atomic import atomic_open

    kind = output_kind(path)
    if kind == "csv":
        with atomic_open(path, newline="") as fh:
            write_csv(trends, fh)
    elif kind == "png":
        with atomic_open(path, "wb", encoding=None) as fh:
            fh.write(png_bytes(trends))
    else:
        with atomic_open(path) as fh:
            fh.write(render_html(trends))
