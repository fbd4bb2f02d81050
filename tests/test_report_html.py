"""The analyst HTML view: sentence spans, escaping, uncertainty marking, legend, summary, TOC, self-containment."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

from inference.report_html import STYLE, render_document, render_fragment

LABELS = ["threat_assessment", "policy_response", "reassurance", "other"]
SPAN_RE = re.compile(r'<span class="s ([^"]*)" data-label="([^"]*)" data-score="([^"]*)"')


def rec(i: int, label: str, score: float, text: str | None = None, article: str = "a1") -> dict:
    probs = {lab: round((1 - score) / 3, 4) for lab in LABELS}
    if label in LABELS:
        probs[label] = score
    return {
        "id": f"{article}-{i:03d}",
        "article_id": article,
        "index": i,
        "text": text or f"Sentence number {i}.",
        "label": label,
        "score": score,
        "probs": probs,
    }


FIVE = [
    rec(0, "threat_assessment", 0.87),
    rec(1, "policy_response", 0.91),
    rec(2, "reassurance", 0.66),
    rec(3, "other", 0.75),
    rec(4, "uncertain", 0.41),
]


class TagCounter(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.starts: Counter[str] = Counter()
        self.ends: Counter[str] = Counter()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.starts[tag] += 1

    def handle_endtag(self, tag):
        self.ends[tag] += 1

    def handle_data(self, data):
        self.text.append(data)


def parse(doc: str) -> TagCounter:
    p = TagCounter()
    p.feed(doc)
    p.close()
    return p


def spans(doc: str) -> list[tuple[str, str, str]]:
    return SPAN_RE.findall(doc)


def test_five_sentences_have_labels_and_scores():
    doc = render_document([("Article", FIVE)], LABELS)
    found = spans(doc)
    assert len(found) == 5
    assert [label for _, label, _ in found] == [r["label"] for r in FIVE]
    assert [score for _, _, score in found] == ["0.87", "0.91", "0.66", "0.75", "0.41"]
    # the visible badge carries initials and score, not only the attribute
    assert '<span class="bd">TA 0.87</span>' in doc
    assert '<span class="bd">PR 0.91</span>' in doc
    assert '<span class="bd">R 0.66</span>' in doc
    assert '<span class="bd">O 0.75</span>' in doc
    # hover shows every probability, highest first
    assert 'title="threat_assessment 0.87 · ' in doc


def test_article_records_render_as_running_paragraph():
    frag = render_fragment(FIVE, LABELS)
    assert frag.startswith("<section") and "<html" not in frag
    assert frag.count('<p class="flow">') == 1
    loose = [{k: v for k, v in r.items() if k != "index"} for r in FIVE]
    assert "<li>" in render_fragment(loose, LABELS) and '<p class="flow">' not in render_fragment(loose, LABELS)


def test_nineteen_records_give_nineteen_spans():
    records = [rec(i, LABELS[i % 4], 0.5 + i / 100) for i in range(19)]
    assert len(spans(render_fragment(records, LABELS))) == 19
    assert len(spans(render_document([("a001", records)], LABELS))) == 19


def test_script_in_sentence_and_section_name_is_escaped():
    evil = '<script>alert(1)</script>" onmouseover="x'
    records = [rec(0, "threat_assessment", 0.9, text=evil)]
    records[0]["id"] = evil
    records[0]["probs"] = {evil: 0.9}
    doc = render_document([(evil, records), ("<b>two</b>", [])], LABELS, title=evil)
    assert "<script>alert" not in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert '" onmouseover="' not in doc
    assert "<b>two</b>" not in doc and "&lt;b&gt;two&lt;/b&gt;" in doc
    assert "<script" not in doc  # no script at all: works without JS
    # the text survives for the reader
    assert "<script>alert(1)</script>" in "".join(parse(doc).text)


def test_unknown_and_escaped_label_does_not_crash():
    records = [rec(0, "<img src=x>", 0.8), rec(1, "threat_assessment", 0.9)]
    doc = render_document([("x", records)], LABELS)
    assert "<img" not in doc and "&lt;img src=x&gt;" in doc
    classes = [cls for cls, _, _ in spans(doc)]
    assert classes == ["unk", "c0"]
    assert 'data-legend="&lt;img src=x&gt;"' in doc


def test_uncertain_records_are_marked():
    doc = render_document([("a", FIVE)], LABELS, threshold=0.7)
    marked = {label: "unc" in cls.split() for cls, label, _ in spans(doc)}
    # label "uncertain" and the below-threshold reassurance (0.66) are marked; the rest are not
    assert marked == {
        "threat_assessment": False,
        "policy_response": False,
        "reassurance": True,
        "other": False,
        "uncertain": True,
    }
    assert '<span class="bd">? 0.41</span>' in doc
    assert '<span class="bd">R? 0.66</span>' in doc
    assert 'data-uncertain-count="2"' in doc
    assert "dashed" in STYLE
    assert 'data-uncertain-count="1"' in render_document([("a", FIVE)], LABELS)


def test_legend_lists_every_label_with_initials():
    doc = render_document([("a", FIVE)], LABELS)
    legend = re.findall(r'<li data-legend="([^"]*)"><span class="key ([^"]*)"><span class="bd">([^<]*)</span>', doc)
    assert [(name, badge) for name, _, badge in legend] == [
        ("threat_assessment", "TA"),
        ("policy_response", "PR"),
        ("reassurance", "R"),
        ("other", "O"),
        ("uncertain", "?"),
    ]
    assert len({cls for _, cls, _ in legend}) == 5  # each label looks different


def test_shared_initials_are_disambiguated():
    labels = ["policy_response", "political_risk", "other"]
    records = [rec(0, "policy_response", 0.9), rec(1, "political_risk", 0.9)]
    doc = render_document([("a", records)], labels)
    assert '<span class="bd">PR 0.90</span>' in doc and '<span class="bd">PR2 0.90</span>' in doc


def test_summary_counts_match_input():
    records = [rec(i, lab, 0.9) for i, lab in enumerate(["threat_assessment"] * 3 + ["other"] * 2 + ["uncertain"])]
    doc = render_document([("a", records[:4]), ("b", records[4:])], LABELS)
    bars = dict(re.findall(r'data-bar="([^"]*)" data-count="(\d+)"', doc))
    assert bars == {
        "threat_assessment": "3",
        "policy_response": "0",
        "reassurance": "0",
        "other": "2",
        "uncertain": "1",
    }
    assert 'data-total="6"' in doc and "6 sentences" in doc
    assert 'style="width:50.0%"' in doc and "3 (50.0%)" in doc
    assert 'data-uncertain-count="1"' in doc


def test_empty_input_renders():
    doc = render_document([("empty", [])], LABELS)
    assert 'data-total="0"' in doc and "No sentences." in doc


def test_multiple_sections_have_toc_linking_to_ids():
    doc = render_document([("first", FIVE[:2]), ("second", FIVE[2:]), ("third", [])], LABELS)
    hrefs = re.findall(r'<a href="#([^"]+)">', doc)
    ids = re.findall(r'<section class="stance" id="([^"]+)">', doc)
    assert len(hrefs) == 3 and hrefs == ids and len(set(ids)) == 3
    assert "<nav" not in render_document([("only", FIVE)], LABELS)


def test_page_is_self_contained_and_accessible():
    doc = render_document([("a", FIVE), ("b", FIVE)], LABELS, title="Seed <article>")
    for needle in ("http://", "https://", "src=", "<link", "@import", "url("):
        assert needle not in doc
    assert '<html lang="en">' in doc and '<meta charset="utf-8">' in doc
    assert "<title>Seed &lt;article&gt;</title>" in doc
    assert STYLE in doc


def test_output_is_deterministic():
    sections = [("a", FIVE), ("b", [rec(0, "mystery", 0.5), rec(1, "zeta_label", 0.5)])]
    assert render_document(sections, LABELS, 0.6) == render_document(list(sections), list(LABELS), 0.6)
    assert render_fragment(FIVE, LABELS) == render_fragment(FIVE, LABELS)


def test_tags_are_balanced():
    records = FIVE + [rec(5, "other", 0.9, text="a < b & c > d </span></div>")]
    for doc in (render_document([("a", records), ("b", FIVE)], LABELS), render_fragment(records, LABELS)):
        p = parse(doc)
        for tag in ("section", "span", "div", "p", "ol", "li", "nav", "main", "html", "body", "head"):
            assert p.starts[tag] == p.ends[tag], tag
        assert p.starts["section"] >= 1 and p.starts["span"] >= 12


def test_odd_records_do_not_crash():
    odd = [
        {"text": "no score or probs", "label": "other"},
        {"text": "bad score", "label": "other", "score": "n/a", "probs": "oops"},
        {"text": "nan", "label": "threat_assessment", "score": float("nan"), "probs": {"x": None}},
    ]
    doc = render_document([("odd", odd)], LABELS, threshold=0.5)
    assert [score for _, _, score in spans(doc)] == ["–", "–", "–"]
