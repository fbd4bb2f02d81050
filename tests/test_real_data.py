"""The shipped corpus and real-text dev set: no reserved page used, the dev set separate from training."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from stance import LABELS
from stance.articles import normalise_url, url_hash
from stance.corpus import reserved_sources, validate_dev_set
from stance.errors import StanceError

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
RESERVED = REPO.parent / "shared" / "reserved-sources.sha256"
DEV = DATA / "dev_real.jsonl"
URL = re.compile(r"https?://[^\s\"'<>)\]]+")


def test_url_normalisation_matches_the_shared_readme():
    assert normalise_url("https://www.Example.org/a/b/?x=1#top") == "example.org/a/b"
    assert normalise_url("http://example.org/a/b") == normalise_url("HTTPS://WWW.EXAMPLE.ORG/a/b/")


@pytest.mark.skipif(not RESERVED.is_file(), reason="../shared/reserved-sources.sha256 is absent (a user's clone)")
def test_no_url_in_data_is_a_reserved_source():
    reserved = set(RESERVED.read_text().split())
    hits = []
    for path in DATA.rglob("*"):
        if path.is_file() and path.suffix in {".txt", ".jsonl", ".json", ".csv", ".md"}:
            for url in URL.findall(path.read_text(encoding="utf-8", errors="replace")):
                if url_hash(url) in reserved:
                    hits.append(f"{path.relative_to(REPO)}: {url}")
    assert hits == []
    assert reserved_sources([DATA / "articles", DATA / "dev_real_articles"], RESERVED) == []


def test_reserved_source_check_finds_a_listed_page(tmp_path):
    articles = tmp_path / "articles"
    articles.mkdir()
    header = "id: x1\ntitle: t\ngenre: wire_report\nregion: europe\ndate: 2025-01-01\nsource: s\n"
    (articles / "x1.txt").write_text(header + "paraphrase_of: https://www.News.example/a/?utm=1\n---\nText.\n")
    (articles / "x2.txt").write_text(header.replace("x1", "x2") + "paraphrase_of: https://news.example/b\n---\nT.\n")
    listed = tmp_path / "reserved.sha256"
    listed.write_text(hashlib.sha256(b"news.example/a").hexdigest() + "\n")
    assert [(p.name, url) for p, url in reserved_sources([articles], listed)] == [
        ("x1.txt", "https://www.News.example/a/?utm=1")
    ]


def _dev_rows() -> list[dict]:
    return [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_dev_real_is_big_enough_and_names_its_pages():
    rows = _dev_rows()
    pages = {normalise_url(r["paraphrase_of"]) for r in rows}
    assert len(rows) >= 400 and len(pages) >= 40
    assert {r["label"] for r in rows} == set(LABELS)
    assert {"id", "article_id", "index", "text", "label", "paraphrase_of"} <= set().union(*rows)


def test_dev_real_shares_no_article_page_or_sentence_with_the_corpus():
    result = validate_dev_set(DEV, DATA / "dev_real_articles", DATA / "sentences.jsonl", DATA / "articles", LABELS)
    assert result["sentences"] == len(_dev_rows())
    corpus_ids = {json.loads(line)["article_id"] for line in (DATA / "sentences.jsonl").open(encoding="utf-8")}
    assert not corpus_ids & {r["article_id"] for r in _dev_rows()}


def test_dev_check_refuses_a_page_used_for_training(tmp_path):
    """Plant one dev page as a training article's source: the check must name it."""
    row = _dev_rows()[0]
    corpus = tmp_path / "sentences.jsonl"
    corpus.write_text(
        json.dumps(
            {"id": "z1-000", "article_id": "z1", "index": 0, "text": "Another sentence entirely.", "label": "other"}
        )
        + "\n"
    )
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "z1.txt").write_text(
        "id: z1\ntitle: t\ngenre: wire_report\nregion: europe\ndate: 2025-01-01\nsource: s\n"
        f"paraphrase_of: {row['paraphrase_of'].replace('https://', 'http://www.')}\n---\nAnother sentence entirely.\n"
    )
    with pytest.raises(StanceError, match="also the source of corpus article 'z1'"):
        validate_dev_set(DEV, None, corpus, articles, LABELS)
