"""A self-contained HTML view of labeled sentences, for analysts (`stance predict` in HTML, and the page `stance serve` shows).

Standard library only, and nothing fetched: the page must open offline, from a file or an air-gapped server.
Every string that comes from records or section names is escaped, because articles are untrusted input.
Output is deterministic (no timestamps, stable ordering), so two runs on the same input give the same bytes.

Design: each sentence is a tinted <span> in running text, with a small badge after it ("TA 0.87": the
label's initials and its calibrated probability); hovering shows every probability (`title`). Colours are
Okabe-Ito, and each label also has its own underline style and badge, so nothing relies on colour alone.
Uncertain sentences get a dashed outline and a "?" badge. The page opens with a bar chart of label counts.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from itertools import groupby

__all__ = ["STYLE", "render_document", "render_fragment"]

UNCERTAIN = "uncertain"
# Okabe-Ito without black: stays distinguishable under the common colour-vision deficiencies.
_PALETTE = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")
# The non-colour cue per slot: an underline style, so labels differ in greyscale print too.
_LINES = ("3px solid", "4px double", "3px dotted", "1px solid", "2px dashed", "6px double", "2px dotted")


def _slot_css(i: int, colour: str, line: str) -> str:
    # "2e" alpha keeps the tint light, so dark text on it keeps a high contrast ratio.
    return (
        f".c{i}{{background:{colour}2e;border-bottom:{line} {colour}}}"
        f".c{i} .bd{{border-color:{colour}}}.fill.c{i}{{background:{colour}}}\n"
    )


STYLE = (
    "body{font:16px/1.7 system-ui,sans-serif;color:#1a1a1a;background:#fff;margin:0}"
    "main{max-width:60rem;margin:auto;padding:1rem 1.5rem}h2 small{font-weight:400;color:#555}\n"
    ".s{padding:.1em .15em;border-radius:.2em;box-decoration-break:clone;-webkit-box-decoration-break:clone}\n"
    ".s:hover{outline:2px solid #1a1a1a}.flow{margin:0 0 1em}.rows li{margin:.3em 0}\n"
    ".bd{display:inline-block;font-size:.7em;line-height:1.3;font-weight:700;padding:0 .3em;margin-left:.2em;"
    "border:1px solid #555;border-radius:.3em;background:#fff;color:#1a1a1a;vertical-align:.15em}\n"
    + "".join(_slot_css(i, c, line) for i, (c, line) in enumerate(zip(_PALETTE, _LINES, strict=True)))
    + ".unk{background:#e4e4e4;border-bottom:2px solid #8a8a8a}.fill.unk{background:#8a8a8a}\n"
    ".cu{background:#f2f2f2}.fill.cu{background:repeating-linear-gradient(45deg,#999 0 4px,#ddd 4px 8px)}\n"
    ".unc{outline:2px dashed #444;outline-offset:1px}.unc .bd{border-style:dashed}\n"
    ".summary,.legend,.toc{border:1px solid #ccc;border-radius:.4em;padding:.5em 1em;margin:0 0 1em}\n"
    ".bar{display:grid;grid-template-columns:16rem 1fr 8rem;gap:.6em;align-items:center}\n"
    ".track{background:#f0f0f0;height:1em;border-radius:.2em}.fill{height:100%;border-radius:.2em}\n"
    ".ct{font-variant-numeric:tabular-nums}.legend ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1.5em}\n"
    ".key{padding:0 .3em}\n"
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: object) -> float | None:
    """A finite float, or None: records come from files and may hold anything."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _label(rec: dict) -> str:
    return str(rec.get("label", ""))


def _is_unsure(rec: dict, threshold: float) -> bool:
    score = _num(rec.get("score"))
    return _label(rec) == UNCERTAIN or (score is not None and score < threshold)


def _initials(name: str) -> str:
    return "".join(w[0] for w in name.split("_") if w).upper()


def _styles(labels: list[str], records: list[dict]) -> dict[str, tuple[str, str]]:
    """label -> (css class, badge). Badges are made unique, since they are the non-colour cue."""
    unknown = sorted({_label(r) for r in records} - set(labels) - {UNCERTAIN})
    styles, used = {UNCERTAIN: ("cu", "?")}, {"?"}
    for i, name in enumerate(labels + unknown):
        base = _initials(name) or "X"
        badge, n = base, 1
        while badge in used:  # e.g. policy_response and political_risk both start "PR": PR, PR2
            n += 1
            badge = f"{base}{n}"
        used.add(badge)
        styles[name] = (f"c{i % len(_PALETTE)}" if i < len(labels) else "unk", badge)
    return styles


def _tooltip(rec: dict, label: str) -> str:
    probs = rec.get("probs") if isinstance(rec.get("probs"), dict) else {}
    pairs = [(str(k), _num(v)) for k, v in probs.items()]
    pairs = sorted(((k, v) for k, v in pairs if v is not None), key=lambda kv: (-kv[1], kv[0]))
    text = " · ".join(f"{k} {v:.2f}" for k, v in pairs) or label
    return f"uncertain: {text}" if label == UNCERTAIN else text


def _sentence(rec: dict, styles: dict[str, tuple[str, str]], threshold: float) -> str:
    label, score = _label(rec), _num(rec.get("score"))
    cls, badge = styles.get(label, ("unk", "?"))
    if _is_unsure(rec, threshold):
        cls, badge = cls + " unc", badge if badge == "?" else badge + "?"
    shown = "–" if score is None else f"{score:.2f}"
    rid = f' data-id="{_e(rec["id"])}"' if "id" in rec else ""
    return (
        f'<span class="s {cls}" data-label="{_e(label)}" data-score="{shown}"{rid} title="{_e(_tooltip(rec, label))}">'
        f'{_e(rec.get("text", ""))}<span class="bd">{_e(badge)} {shown}</span></span>'
    )


def _body(records: list[dict], styles: dict[str, tuple[str, str]], threshold: float) -> str:
    if not records:
        return '<p class="empty">No sentences.</p>'
    if all("index" in r for r in records):
        # Sentences of an article: running text, one paragraph per article (predict writes them in order).
        groups = groupby(records, key=lambda r: str(r.get("article_id", "")))
        paras = ("\n".join(_sentence(r, styles, threshold) for r in g) for _, g in groups)
        return "\n".join(f'<p class="flow">\n{p}\n</p>' for p in paras)
    items = "\n".join(f"<li>{_sentence(r, styles, threshold)}</li>" for r in records)
    return f'<ol class="rows">\n{items}\n</ol>'


def _section(records: list[dict], styles: dict, threshold: float, name: str | None = None, sid: str = "") -> str:
    head = f"<h2>{_e(name)} <small>({len(records)} sentences)</small></h2>\n" if name is not None else ""
    ident = f' id="{sid}"' if sid else ""
    return f'<section class="stance"{ident}>\n{head}{_body(records, styles, threshold)}\n</section>\n'


def render_fragment(records: list[dict], labels: list[str], threshold: float = 0.0) -> str:
    """The highlighted view of one article/text: a <section> (no <html>), each sentence a <span> coloured by its label."""
    labels = [x for x in labels if x != UNCERTAIN]
    return _section(records, _styles(labels, records), threshold)


def _key(name: str, styles: dict[str, tuple[str, str]]) -> str:
    """A sample chip, styled exactly as a sentence of that label, for the legend and the bars."""
    cls, badge = styles[name]
    unc = " unc" if name == UNCERTAIN else ""
    return f'<span class="key {cls}{unc}"><span class="bd">{_e(badge)}</span></span> {_e(name)}'


def _order(labels: list[str], styles: dict[str, tuple[str, str]]) -> list[str]:
    # Known labels in the caller's order, then unknown ones (sorted in _styles), uncertain last.
    return labels + [k for k in styles if k not in labels and k != UNCERTAIN] + [UNCERTAIN]


def _bar(name: str, count: int, total: int, styles: dict[str, tuple[str, str]]) -> str:
    pct = 100.0 * count / total if total else 0.0
    return (
        f'<div class="bar" data-bar="{_e(name)}" data-count="{count}"><span class="nm">{_key(name, styles)}</span>'
        f'<div class="track"><div class="fill {styles[name][0]}" style="width:{pct:.1f}%"></div></div>'
        f'<span class="ct">{count} ({pct:.1f}%)</span></div>\n'
    )


def _summary(records: list[dict], labels: list[str], styles: dict, threshold: float) -> str:
    # Bars partition sentences by their written label; "marked uncertain" also counts those under threshold.
    counts, total = Counter(_label(r) for r in records), len(records)
    unsure = sum(_is_unsure(r, threshold) for r in records)
    bars = "".join(_bar(name, counts[name], total, styles) for name in _order(labels, styles))
    return (
        '<div class="summary"><h2>Summary</h2>\n'
        f'<p><span data-total="{total}">{total} sentences</span> · '
        f'<span data-uncertain-count="{unsure}">{unsure} marked uncertain</span></p>\n{bars}</div>\n'
    )


def _legend(labels: list[str], styles: dict[str, tuple[str, str]]) -> str:
    items = "".join(f'<li data-legend="{_e(n)}">{_key(n, styles)}</li>' for n in _order(labels, styles))
    note = "Hover a sentence for every probability; dashed outline and ? = uncertain or below threshold."
    return f'<div class="legend"><h2>Legend</h2><ul>{items}</ul><p>{note}</p></div>\n'


def _toc(sections: list[tuple[str, list[dict]]]) -> str:
    links = "".join(
        f'<li><a href="#sec-{i}">{_e(name)}</a> ({len(recs)})</li>' for i, (name, recs) in enumerate(sections, 1)
    )
    return f'<nav class="toc"><h2>Contents</h2><ol>{links}</ol></nav>\n'


def render_document(
    sections: list[tuple[str, list[dict]]], labels: list[str], threshold: float = 0.0, title: str = "stance"
) -> str:
    """A whole self-contained HTML page: inline style, summary bars, legend, a TOC when several, then the sections."""
    labels = [x for x in labels if x != UNCERTAIN]
    every = [r for _, recs in sections for r in recs]
    styles = _styles(labels, every)  # one mapping for the whole page, so colours match across sections
    parts = [
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{_e(title)}</title>\n'
        f"<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{_e(title)}</h1>\n",
        _summary(every, labels, styles, threshold),
        _legend(labels, styles),
        _toc(sections) if len(sections) > 1 else "",
    ]
    parts += [_section(recs, styles, threshold, name, f"sec-{i}") for i, (name, recs) in enumerate(sections, 1)]
    return "".join(parts) + "</main>\n</body>\n</html>\n"
