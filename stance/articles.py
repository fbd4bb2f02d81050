"""Article files: a small `key: value` header, a `---` line, then the text as published.

A file without a header (plain text, like the seed article) is an article too; its id is the file name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from stance.errors import StanceError, line_number
from stance.sentences import split_sentences

HEADER_KEYS = ("id", "title", "genre", "region", "date", "source", "speakers", "domains", "paraphrase_of")
LIST_KEYS = ("speakers", "domains")
OPTIONAL_KEYS = ("paraphrase_of",)  # the real page an article was paraphrased from, sentence by sentence
GENRES = (
    "wire_report",
    "press_release",
    "press_conference",
    "speech",
    "op_ed",
    "parliamentary_debate",
    "think_tank_brief",
    "live_blog",
    "interview",
    "news_analysis",
    "communique",
)
REGIONS = ("europe", "americas", "asia_pacific", "middle_east", "africa", "global")
_ID = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass
class Article:
    id: str
    text: str
    meta: dict[str, object] = field(default_factory=dict)

    def sentences(self) -> list[dict]:
        """Records ready to label: id, article_id, index, text, label=None."""
        return [
            {"id": sentence_id(self.id, i), "article_id": self.id, "index": i, "text": s, "label": None}
            for i, s in enumerate(split_sentences(self.text))
        ]


def normalise_url(url: str) -> str:
    """A page's URL as the reserved-source list hashes it (../shared/README.md): lower case, without scheme,
    leading `www.`, query, fragment and trailing `/`. Two spellings of one page normalise alike."""
    u = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.strip().lower())
    u = re.sub(r"^www\.", "", u)
    return u.split("#")[0].split("?")[0].rstrip("/")


def url_hash(url: str) -> str:
    """SHA-256 (hex) of the normalised URL: how ../shared/reserved-sources.sha256 lists a page."""
    import hashlib

    return hashlib.sha256(normalise_url(url).encode()).hexdigest()


def sentence_id(article_id: str, index: int) -> str:
    return f"{article_id}-{index:03d}"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "article"


def _text_lines(path: Path) -> list[str]:
    """The lines of an article file. A BOM and \\r\\n or \\r line ends are fine; bytes that are not text
    (invalid UTF-8, NUL) are errors naming their line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StanceError("article file not found", path=path) from None
    except IsADirectoryError:
        raise StanceError("expected an article file, got a directory", path=path) from None
    except OSError as exc:
        raise StanceError(f"cannot read the article file ({exc.strerror})", path=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StanceError("not valid UTF-8 text", path=path, line=line_number(raw, exc.start)) from None
    if "\x00" in text:  # no text format has one: a binary file (and the sentence splitter would keep it)
        raise StanceError(
            "NUL byte in the line (is this a binary file?)", path=path, line=line_number(raw, raw.find(b"\x00"))
        )
    return _unix_lines(text).split("\n")


def _unix_lines(text: str) -> str:
    """\r\n and a lone \r become \n, so files and pasted text split and number lines alike."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def article_from_text(text: str, article_id: str) -> Article:
    """An article given as text (pasted, say), as published: no header; line ends and a BOM as in a file."""
    return Article(id=article_id, text=_unix_lines(text.lstrip("\ufeff")).strip("\n"))


def read_article(path: str | Path) -> Article:
    path = Path(path)
    lines = _text_lines(path)
    text = "\n".join(lines)
    meta: dict[str, object] = {}
    if "---" in lines[: len(HEADER_KEYS) + 2] and re.match(r"^\w+:", lines[0] or ""):
        sep = lines.index("---")
        for number, line in enumerate(lines[:sep], 1):
            key, colon, value = line.partition(":")
            key = key.strip()
            if not colon or key not in HEADER_KEYS:
                raise StanceError(f"bad header line (expected one of {', '.join(HEADER_KEYS)})", path=path, line=number)
            value = value.strip()
            meta[key] = [v.strip() for v in value.split(";") if v.strip()] if key in LIST_KEYS else value
        text = "\n".join(lines[sep + 1 :])
    article_id = str(meta.get("id") or _slug(path.stem))
    if not _ID.fullmatch(article_id):
        raise StanceError(f"article id must be lowercase letters, digits and '-': {article_id!r}", path=path)
    meta["id"] = article_id
    return Article(id=article_id, text=text.strip("\n"), meta=meta)
