"""`stance data label`: label sentences one at a time in the terminal, offline.

Keys: 1-4 (or a label's initial) choose, `s` skips, `u` undoes, `q` quits. Each answer is saved at once
(the whole file is rewritten atomically), so a second run resumes where the first stopped. Keys come from
stdin one a line, or from a scripted list, so a session runs without a terminal too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from stance.atomic import write_text
from stance.data import read_records, with_context

SKIP, UNDO, QUIT = "s", "u", "q"


def key_map(labels: list[str]) -> dict[str, str]:
    """'1'..'N' and each label's initial (when the initials are unique) -> label."""
    keys = {str(i + 1): lab for i, lab in enumerate(labels)}
    initials = [lab[0].lower() for lab in labels]
    if len(set(initials)) == len(initials) and not set(initials) & {SKIP, UNDO, QUIT}:
        keys |= {lab[0].lower(): lab for lab in labels}
    return keys


def _save(path: Path, records: list[dict]) -> None:
    write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def label_session(
    path: Path,
    labels: list[str],
    keys: Iterator[str],
    out: TextIO,
    suggest: Callable[[list[str], list[str]], list[dict]] | None = None,
    echo: bool = False,
) -> dict:
    """Run a labelling session over `path` (JSONL with `text` and `label`, null = to do).
    Returns counts: labeled, skipped, remaining."""
    records = [row for _, row in read_records(path)]
    contexts = [context for _, context in with_context(records)]  # what the model reads as the sentence before
    kmap = key_map(labels)
    help_line = "  ".join(f"[{k}] {lab}" for k, lab in kmap.items() if k.isdigit()) + "  [s]kip [u]ndo [q]uit"
    history: list[tuple[int, object, bool]] = []  # (index, previous label, previous skipped)

    def todo() -> list[int]:
        return [i for i, r in enumerate(records) if r.get("label") is None and not r.get("skipped")]

    done_here = 0
    while True:
        pending = todo()
        if not pending:
            out.write("all sentences are labeled\n")
            break
        i = pending[0]
        rec = records[i]
        out.write(f"\n[{len(records) - len(pending) + 1}/{len(records)}] {rec.get('id', i)}\n")
        _show(out, records, i, suggest and suggest([rec["text"]], [contexts[i]])[0])
        out.write(help_line + "\n> ")
        key = next(keys, None)
        if echo and key is not None:
            out.write(f"{key}\n")  # scripted or piped keys: show them as if typed
        if key is None or key.strip().lower() == QUIT:
            out.write("quit\n")
            break
        key = key.strip().lower()
        if key == UNDO:
            if not history:
                out.write("nothing to undo in this session\n")
                continue
            j, old_label, old_skipped = history.pop()
            records[j]["label"] = old_label
            records[j].pop("skipped", None)
            records[j].update({"skipped": True} if old_skipped else {})
            _save(path, records)
            done_here -= 1
            out.write(f"undid {records[j].get('id', j)}\n")
            continue
        if key != SKIP and key not in kmap:
            out.write(f"unknown key {key!r}\n")
            continue
        history.append((i, rec.get("label"), bool(rec.get("skipped"))))
        rec.pop("skipped", None)
        rec.update({"skipped": True} if key == SKIP else {"label": kmap[key]})
        _save(path, records)  # after every answer: nothing is lost if the session dies
        done_here += 1
    labeled, skipped = sum(r.get("label") is not None for r in records), sum(bool(r.get("skipped")) for r in records)
    return {"answered": done_here, "labeled": labeled, "skipped": skipped, "remaining": len(todo())}


def _show(out: TextIO, records: list[dict], i: int, suggestion: dict | None) -> None:
    """The sentence to label between its neighbours in the same article, and the model's view if any."""
    same = [j for j, r in enumerate(records) if r.get("article_id") == records[i].get("article_id")]
    pos = same.index(i)
    if pos > 0:
        out.write(f"  before: {records[same[pos - 1]]['text']}\n")
    out.write(f"  >>> {records[i]['text']}\n")
    if pos + 1 < len(same):
        out.write(f"  after:  {records[same[pos + 1]]['text']}\n")
    if suggestion:
        probs = "  ".join(f"{lab} {p:.2f}" for lab, p in suggestion["probs"].items())
        out.write(f"  model: {suggestion['label']} ({probs})\n")


def keys_from(script: str | None, stream: TextIO) -> Iterator[str]:
    if script is not None:
        yield from (k for k in script.split(",") if k.strip())
        return
    for line in stream:
        yield line.strip()
