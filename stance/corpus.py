"""The `stance data` tools over a labeled corpus: validate, stats, split."""

from __future__ import annotations

import json
import math
import random
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from stance.articles import GENRES, REGIONS, normalise_url, read_article, url_hash
from stance.atomic import write_json
from stance.data import SPLITS, load_splits, read_records
from stance.errors import StanceError

NEAR_DUP_JACCARD = 0.8  # normalised-token Jaccard at or above which two sentences are near-duplicates
NEAR_DUP_MAX_SHARE = 0.01  # at most this share of sentences may sit in a near-duplicate pair
MIN_TOKENS_FOR_DUP = 4  # "Thank you." twice in two transcripts is not a template


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def near_duplicates(texts: list[str], threshold: float = NEAR_DUP_JACCARD) -> list[tuple[int, int, float]]:
    """All pairs (i, j, jaccard) with token-set Jaccard >= threshold, by exact prefix filtering:
    two sets can reach the threshold only if they share a token among their rarest few."""
    sets = [set(tokens(t)) for t in texts]
    freq = Counter(tok for s in sets for tok in s)
    index: dict[str, list[int]] = defaultdict(list)
    pairs = []
    for i, s in enumerate(sets):
        if len(s) < MIN_TOKENS_FOR_DUP:
            continue
        ordered = sorted(s, key=lambda tok: (freq[tok], tok))
        prefix = len(s) - math.ceil(threshold * len(s)) + 1
        candidates = {j for tok in ordered[:prefix] for j in index[tok]}
        for j in sorted(candidates):
            other = sets[j]
            jac = len(s & other) / len(s | other)
            if jac >= threshold:
                pairs.append((j, i, jac))
        for tok in ordered[:prefix]:
            index[tok].append(i)
    return pairs


def validate(
    sentences: Path,
    splits_path: Path | None,
    articles_dir: Path | None,
    labels: list[str],
    text_field: str = "text",
    label_field: str = "label",
) -> dict:
    """Check a labeled corpus; raise StanceError naming file:line on the first hard error.
    Returns a summary with counts, warnings, and the rows read ((line, record) pairs, read once)."""
    rows = list(read_records(sentences, text_field))
    if not rows:
        raise StanceError("no records", path=sentences)
    warnings: list[str] = []
    by_article = _check_rows(sentences, rows, labels, (text_field, label_field), warnings)
    if splits_path is not None:
        _check_splits(sentences, rows, by_article, splits_path, text_field)
    texts = [row[text_field] for _, row in rows]
    pairs = near_duplicates(texts)
    in_pairs = {i for i, j, _ in pairs} | {j for i, j, _ in pairs}
    for i, j, jac in pairs[:20]:
        warnings.append(f"{sentences}:{rows[j][0]}: near-duplicate of line {rows[i][0]} (Jaccard {jac:.2f})")
    if len(in_pairs) > NEAR_DUP_MAX_SHARE * len(rows):
        raise StanceError(
            f"{len(in_pairs)} sentences ({len(in_pairs) / len(rows):.1%}) are in near-duplicate pairs "
            f"(max {NEAR_DUP_MAX_SHARE:.0%}); first: line {rows[pairs[0][1]][0]}",
            path=sentences,
        )
    if articles_dir is not None:
        _check_article_files(sentences, by_article, articles_dir)
    return {
        "sentences": len(rows),
        "articles": len(by_article),
        "near_duplicate_sentences": len(in_pairs),
        "warnings": warnings,
        "rows": rows,
    }


def _check_rows(sentences: Path, rows: list, labels: list[str], fields: tuple[str, str], warnings: list[str]) -> dict:
    """Schema, labels, unique ids, same text with two labels, indexes 0..n-1 per article.
    Returns article_id -> [(index, line)]."""
    text_field, label_field = fields
    seen_ids: dict[str, int] = {}
    by_text: dict[str, tuple[int, str]] = {}
    by_article: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for number, row in rows:
        for key in ("id", "article_id", "index", label_field):
            if key not in row:
                raise StanceError(f"missing field '{key}'", path=sentences, line=number)
        if not isinstance(row["id"], (str, int)) or isinstance(row["id"], bool):
            raise StanceError("field 'id' must be a string", path=sentences, line=number)
        if not isinstance(row["index"], int) or isinstance(row["index"], bool) or row["index"] < 0:
            raise StanceError("field 'index' must be a non-negative integer", path=sentences, line=number)
        label = row[label_field]
        if label not in labels:
            raise StanceError(f"unknown label {label!r} (allowed: {', '.join(labels)})", path=sentences, line=number)
        if row["id"] in seen_ids:
            raise StanceError(
                f"duplicate id {row['id']!r} (first on line {seen_ids[row['id']]})", path=sentences, line=number
            )
        seen_ids[row["id"]] = number
        norm = " ".join(tokens(row[text_field]))
        if norm in by_text and len(norm.split()) >= MIN_TOKENS_FOR_DUP:
            first_line, first_label = by_text[norm]
            if first_label != label:
                raise StanceError(
                    f"same text as line {first_line} but a different label ({first_label} vs {label})",
                    path=sentences,
                    line=number,
                )
            warnings.append(f"{sentences}:{number}: duplicate text of line {first_line}")
        by_text.setdefault(norm, (number, label))
        by_article[str(row["article_id"])].append((row["index"], number))
    for article_id, items in by_article.items():
        indexes = sorted(i for i, _ in items)
        if indexes != list(range(len(indexes))):
            line = min(n for _, n in items)
            raise StanceError(
                f"article '{article_id}': sentence indexes are not 0..{len(indexes) - 1}", path=sentences, line=line
            )
    return by_article


def _check_splits(sentences: Path, rows: list, by_article: dict, splits_path: Path, text_field: str) -> None:
    """Every article has a split, every split article has sentences, and no text sits in two splits."""
    splits = load_splits(splits_path)
    for article_id, items in by_article.items():
        if article_id not in splits:
            raise StanceError(
                f"article '{article_id}' has no split in {splits_path}", path=sentences, line=min(n for _, n in items)
            )
    missing = sorted(set(splits) - set(by_article))
    if missing:
        raise StanceError(f"split lists articles with no sentences: {', '.join(missing[:5])}", path=splits_path)
    split_of_text: dict[str, tuple[str, int]] = {}  # leakage: the same (long enough) text in two splits
    for number, row in rows:
        norm = " ".join(tokens(row[text_field]))
        if len(norm.split()) < MIN_TOKENS_FOR_DUP:
            continue
        split = splits[str(row["article_id"])]
        if norm in split_of_text and split_of_text[norm][0] != split:
            raise StanceError(
                f"split leakage: same text in {split_of_text[norm][0]} (line {split_of_text[norm][1]}) and {split}",
                path=sentences,
                line=number,
            )
        split_of_text.setdefault(norm, (split, number))


def _check_article_files(sentences: Path, by_article: dict, articles_dir: Path) -> None:
    for article_id, items in by_article.items():
        path = articles_dir / f"{article_id}.txt"
        if not path.is_file():
            raise StanceError(
                f"article '{article_id}' has no file {path}", path=sentences, line=min(n for _, n in items)
            )
        meta = read_article(path).meta
        if meta.get("genre") not in GENRES:
            raise StanceError(f"unknown genre {meta.get('genre')!r}", path=path, field="genre")
        if meta.get("region") not in REGIONS:
            raise StanceError(f"unknown region {meta.get('region')!r}", path=path, field="region")


SPLIT_RATIOS = (0.70, 0.15, 0.15)  # train, validation, test shares of the sentences
SPLIT_TOLERANCE = 0.03  # a split's label shares may differ from the corpus's by at most this much ...
SPLIT_TRIES = 5000  # ... in the first of this many shuffles that manages it (else the best one)


def make_splits(
    sentences: Path, out: Path, seed: int = 13, keep: dict[str, str] | None = None, label_field: str = "label"
) -> dict:
    """Article-grouped train/validation/test split, deterministic from `seed`: shuffle articles, cut at the
    sentence-count ratios, keep the first shuffle whose label shares are all within SPLIT_TOLERANCE of the corpus.

    `keep` (article -> split, from an existing splits file) extends a split instead of remaking it: those
    articles stay where they are and only the new ones are shuffled and cut, so a test split that others
    report on only ever gains articles."""
    rows = [row for _, row in read_records(sentences)]
    if not rows:
        raise StanceError("no records to split", path=sentences)
    per_article: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        per_article[str(row["article_id"])][row[label_field]] += 1
    keep = {a: s for a, s in (keep or {}).items() if a in per_article}
    total = Counter()
    for c in per_article.values():
        total.update(c)
    n = sum(total.values())
    shares = {lab: total[lab] / n for lab in total}
    articles = sorted(a for a in per_article if a not in keep)
    n_new = sum(sum(per_article[a].values()) for a in articles)
    best = None
    ratios = SPLIT_RATIOS
    for attempt in range(SPLIT_TRIES):
        order = articles[:]
        random.Random(seed * 100_003 + attempt).shuffle(order)
        assign, counts, done = dict(keep), {s: Counter() for s in SPLITS}, 0
        for article_id, split in keep.items():
            counts[split].update(per_article[article_id])
        for article_id in order:
            frac = done / max(n_new, 1)
            split = "train" if frac < ratios[0] else "validation" if frac < ratios[0] + ratios[1] else "test"
            assign[article_id] = split
            counts[split].update(per_article[article_id])
            done += sum(per_article[article_id].values())
        worst = max(
            abs(counts[s][lab] / max(sum(counts[s].values()), 1) - shares[lab]) for s in SPLITS for lab in shares
        )
        if best is None or worst < best[0]:
            best = (worst, attempt, assign, counts)
        if worst <= SPLIT_TOLERANCE:
            break
    worst, attempt, assign, counts = best
    result = {
        "seed": seed,
        "attempt": attempt,
        **({"kept": len(keep)} if keep else {}),
        "ratios": dict(zip(SPLITS, ratios, strict=True)),
        "max_label_share_gap": round(worst, 4),
        "sizes": {s: sum(counts[s].values()) for s in SPLITS},
        "articles": dict(sorted(assign.items())),
    }
    write_json(out, result)
    return result


def stats(
    sentences: Path, splits_path: Path | None, articles_dir: Path | None, labels: list[str], label_field: str = "label"
) -> str:
    """Plain-text tables: label x split, genre, region, domain, speakers, sentence lengths."""
    rows = [row for _, row in read_records(sentences)]
    if not rows:
        raise StanceError("no records", path=sentences)
    splits = load_splits(splits_path) if splits_path and splits_path.is_file() else {}
    metas = {}
    if articles_dir is not None and articles_dir.is_dir():
        for aid in {str(r["article_id"]) for r in rows}:
            p = articles_dir / f"{aid}.txt"
            if p.is_file():
                metas[aid] = read_article(p).meta
    out: list[str] = []
    cols = [*SPLITS, "all"] if splits else ["all"]
    table = {lab: Counter() for lab in labels}
    for row in rows:
        split = splits.get(str(row["article_id"]), "unsplit")
        table.setdefault(row[label_field], Counter())[split] += 1
        table[row[label_field]]["all"] += 1
    out.append(_table("label", cols, [[lab, *[table[lab][c] for c in cols]] for lab in table], total=True))
    n_articles = Counter(splits.get(a, "unsplit") for a in {str(r["article_id"]) for r in rows})
    out.append(
        f"articles: {sum(n_articles.values())} ("
        + ", ".join(f"{s} {n_articles[s]}" for s in SPLITS if s in n_articles)
        + ")"
    )
    if metas:
        sent_per_article = Counter(str(r["article_id"]) for r in rows)
        for key in ("genre", "region", "domains"):
            arts, sents = Counter(), Counter()
            for aid, meta in metas.items():
                values = meta.get(key) or ["?"]
                for v in values if isinstance(values, list) else [values]:
                    arts[v] += 1
                    sents[v] += sent_per_article[aid]
            out.append(
                _table(
                    key,
                    ["articles", "sentences"],
                    [[k, arts[k], sents[k]] for k in sorted(arts, key=lambda k: -arts[k])],
                )
            )
        speakers = {s for m in metas.values() for s in (m.get("speakers") or [])}
        out.append(f"distinct speakers/subjects (countries, organisations): {len(speakers)}")
    lengths = sorted(len(tokens(r["text"])) for r in rows)
    q = statistics.quantiles(lengths, n=10) if len(lengths) > 1 else [lengths[0]] * 9
    out.append(
        f"sentence length (tokens): min {lengths[0]}, p10 {q[0]:.0f}, median {statistics.median(lengths):.0f}, "
        f"mean {statistics.mean(lengths):.1f}, p90 {q[8]:.0f}, max {lengths[-1]}"
    )
    return "\n\n".join(out)


def _table(first: str, cols: list[str], rows: list[list], total: bool = False) -> str:
    if total:
        rows = rows + [["total", *[sum(r[i + 1] for r in rows) for i in range(len(cols))]]]
    width = max(len(first), *(len(str(r[0])) for r in rows))
    head = f"{first:<{width}}  " + "  ".join(f"{c:>10}" for c in cols)
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r[0]!s:<{width}}  " + "  ".join(f"{v:>10}" for v in r[1:]))
    return "\n".join(lines)


def sentences_jsonl(article_path: Path) -> list[str]:
    return [json.dumps(rec, ensure_ascii=False) for rec in read_article(article_path).sentences()]


def article_sources(articles_dir: Path, article_ids) -> dict[str, str]:
    """article_id -> normalised `paraphrase_of` URL, for the articles that record one."""
    out = {}
    for aid in article_ids:
        path = articles_dir / f"{aid}.txt"
        if path.is_file():
            url = read_article(path).meta.get("paraphrase_of")
            if url:
                out[aid] = normalise_url(str(url))
    return out


def validate_dev_set(
    dev: Path,
    dev_articles: Path | None,
    corpus: Path,
    corpus_articles: Path | None,
    labels: list[str],
    corpus_rows: list[dict] | None = None,
) -> dict:
    """Check the real-text dev set on its own (as `validate` does a corpus) and against the training corpus:
    every row names its `paraphrase_of` page, and no article, source page or sentence text is shared with the
    corpus, so a score on it is a score on text no model was trained on. `corpus_rows`: the corpus's records when
    already read (by `validate`), so it is not read twice."""
    text_field = "text"
    result = validate(dev, None, dev_articles, labels, text_field)
    numbers, rows = [n for n, _ in result["rows"]], [row for _, row in result["rows"]]
    if corpus_rows is None:
        corpus_rows = [row for _, row in read_records(corpus, text_field)]
    corpus_ids = {str(r["article_id"]) for r in corpus_rows}
    corpus_sources = article_sources(corpus_articles, corpus_ids) if corpus_articles else {}
    source_owner = {url: aid for aid, url in corpus_sources.items()}
    corpus_texts = {" ".join(tokens(r[text_field])) for r in corpus_rows}
    for number, row in zip(numbers, rows, strict=True):
        url = row.get("paraphrase_of")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise StanceError("field 'paraphrase_of' must be the URL of the page paraphrased", path=dev, line=number)
        if str(row["article_id"]) in corpus_ids:
            raise StanceError(f"article '{row['article_id']}' is also in {corpus}", path=dev, line=number)
        owner = source_owner.get(normalise_url(url))
        if owner:
            raise StanceError(f"page {url} is also the source of corpus article '{owner}'", path=dev, line=number)
        norm = " ".join(tokens(row[text_field]))
        if len(norm.split()) >= MIN_TOKENS_FOR_DUP and norm in corpus_texts:
            raise StanceError(f"same text as a sentence of {corpus}", path=dev, line=number)
    if dev_articles is not None:
        headers = article_sources(dev_articles, {str(r["article_id"]) for r in rows})
        for number, row in zip(numbers, rows, strict=True):
            header = headers.get(str(row["article_id"]))
            if header is not None and header != normalise_url(row["paraphrase_of"]):
                raise StanceError(f"paraphrase_of differs from the article header's ({header})", path=dev, line=number)
    result["pages"] = len({normalise_url(r["paraphrase_of"]) for r in rows})
    return result


def reserved_sources(articles_dirs: list[Path], reserved: Path) -> list[tuple[Path, str]]:
    """(article file, URL) for every `paraphrase_of` URL whose hash is listed in `reserved` (one SHA-256 of a
    normalised URL a line): pages kept back for evaluating the model on text nobody on the team has seen."""
    listed = set(reserved.read_text(encoding="utf-8").split())
    hits = []
    for folder in articles_dirs:
        for path in sorted(folder.glob("*.txt")):
            url = read_article(path).meta.get("paraphrase_of")
            if url and url_hash(str(url)) in listed:
                hits.append((path, str(url)))
    return hits


def check_data(
    sentences: Path,
    splits: Path | None,
    articles: Path | None,
    dev: Path | None,
    reserved: Path | None,
    labels: list[str],
) -> tuple[list[str], list[str]]:
    """Everything `stance data validate` checks, with the layout's defaults: splits.json, articles/ and
    dev_real.jsonl (with dev_real_articles/) beside the corpus, each when present. Raises StanceError on the
    first error; returns (warnings, one summary line per check)."""
    splits = splits or sentences.parent / "splits.json"
    articles = articles or sentences.parent / "articles"
    articles = articles if articles.is_dir() else None
    result = validate(sentences, splits if splits.exists() else None, articles, labels)
    warnings = result["warnings"]
    lines = [
        f"ok: {result['sentences']} sentences in {result['articles']} articles; "
        f"{result['near_duplicate_sentences']} sentences in near-duplicate pairs"
    ]
    folders = [articles] if articles else []
    dev = dev or (sentences.parent / "dev_real.jsonl" if (sentences.parent / "dev_real.jsonl").is_file() else None)
    if dev is not None:
        dev_articles = dev.parent / f"{dev.stem}_articles"
        dev_articles = dev_articles if dev_articles.is_dir() else None
        corpus_rows = [row for _, row in result["rows"]]
        res = validate_dev_set(dev, dev_articles, sentences, articles, labels, corpus_rows)
        warnings += res["warnings"]
        lines.append(
            f"ok: dev set {dev}: {res['sentences']} sentences in {res['articles']} articles from {res['pages']} "
            f"pages; no article, page or sentence shared with {sentences}"
        )
        folders += [dev_articles] if dev_articles else []
    if reserved is not None:
        if not reserved.is_file():
            raise StanceError("reserved-source list not found", path=reserved)
        hits = reserved_sources(folders, reserved)
        if hits:
            first, url = hits[0]
            raise StanceError(f"paraphrases a reserved page ({url}); {len(hits)} such article(s)", path=first)
        lines.append(f"ok: no article paraphrases a page listed in {reserved}")
    return warnings, lines
