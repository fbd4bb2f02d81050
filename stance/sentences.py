"""Rule-based sentence splitter for news text.

Handles: abbreviations and titles (U.S., Gen., Dr., Jan., No.), decimals and version numbers,
initials, acronyms with slashes (SAMP/T), quotations that span sentences, headlines and breadcrumbs
without final punctuation (each line its own unit), bullet lists, and hard-wrapped paragraphs.
No model, no downloads: the rules are below and tested in tests/test_sentences.py.
"""

from __future__ import annotations

import re

# Abbreviations that are (almost) never the end of a sentence: titles and ranks, months, and the like.
_NEVER_FINAL = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "gen",
    "lt",
    "col",
    "maj",
    "capt",
    "cpt",
    "adm",
    "sgt",
    "cmdr",
    "cdr",
    "brig",
    "gov",
    "sen",
    "rep",
    "rev",
    "hon",
    "pres",
    "amb",
    "st",
    "sr",
    "jr",
    "no",
    "nos",
    "vol",
    "art",
    "fig",
    "vs",
    "approx",
    "ca",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "mt",
    "ft",
    "dept",
    "est",
    "cf",
    "e.g",
    "i.e",
    "pp",
    "para",
    "sec",
    "ch",
    "incl",
}
# Dotted initialisms (U.S., U.N.) end a sentence only when a typical sentence opener follows.
_OPENERS = {
    "the",
    "a",
    "an",
    "it",
    "he",
    "she",
    "they",
    "we",
    "i",
    "this",
    "that",
    "these",
    "those",
    "in",
    "on",
    "but",
    "and",
    "however",
    "meanwhile",
    "officials",
    "there",
    "his",
    "her",
    "their",
    "our",
    "its",
    "at",
    "as",
    "after",
    "before",
    "when",
    "while",
    "if",
    "for",
    "last",
    "earlier",
    "later",
    "some",
    "many",
}
_TERMINAL = ".!?…"
_CLOSERS = "\"'”’»)]"
_OPENERS_PUNCT = "\"'“‘«(["
_BULLET = re.compile(r"^\s*(?:[-*•·▪–—]|\d{1,3}[.)]|[a-z][.)])\s+")
_CANDIDATE = re.compile(r"([.!?…]+)([\"'”’»)\]]*)(\s+)(?=[\"'“‘«(\[]?[A-Z0-9À-Ý])")


def _last_token(text: str) -> str:
    match = re.search(r"([A-Za-z][A-Za-z.]*)$", text)
    return match.group(1) if match else ""


def _is_boundary(before: str, punct: str, after: str) -> bool:
    if punct != ".":
        return True  # ?, !, … and runs of them end a sentence when a capital follows
    token = _last_token(before)
    low = token.lower().rstrip(".")
    if not token:
        return True
    if low in _NEVER_FINAL:
        return False
    if len(token) == 1 and token.isupper():
        return False  # an initial: "John F. Kennedy"
    if "." in token:  # a dotted initialism such as U.S or U.N
        nxt = re.match(r"[\"'“‘«(\[]?([A-Za-z]+)", after)
        return bool(nxt) and nxt.group(1).lower() in _OPENERS
    return True


def split_paragraph(text: str) -> list[str]:
    """Split one paragraph (no line structure) into sentences."""
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        return []
    out, start = [], 0
    for match in _CANDIDATE.finditer(text):
        end = match.end(2)
        if _is_boundary(text[start : match.start(1)], match.group(1), text[match.end(3) :]):
            sentence = text[start:end].strip()
            if sentence:
                out.append(sentence)
            start = match.end(3)
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def _ends_sentence(line: str) -> bool:
    stripped = line.rstrip().rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _TERMINAL + ":;"


def _blocks(text: str) -> list[str]:
    """Group lines into units: a blank line ends a paragraph; a headline, breadcrumb or bullet is its own unit;
    a line that stops mid-sentence and is followed by a lowercase continuation is joined to it."""
    blocks: list[str] = []
    current: list[str] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for raw in lines:
        line = raw.strip()
        if not line:
            if current:
                blocks.append(" ".join(current))
                current = []
            continue
        bullet = _BULLET.match(line)
        if bullet:
            if current:
                blocks.append(" ".join(current))
            current = [line[bullet.end() :].strip()]
            continue
        if current:
            prev = current[-1]
            if not _ends_sentence(prev) and line[:1].islower():
                current.append(line)  # a hard-wrapped line that continues the sentence
                continue
            blocks.append(" ".join(current))
            current = []
        current = [line]
    if current:
        blocks.append(" ".join(current))
    return blocks


def split_sentences(text: str) -> list[str]:
    """Split an article (or any text) into sentences, in order."""
    text = text.lstrip("\ufeff")
    out: list[str] = []
    for block in _blocks(text):
        out.extend(split_paragraph(block))
    return out
