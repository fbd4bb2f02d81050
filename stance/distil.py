"""Teacher targets for distillation: a teacher's logits on the training sentences, stored as data.

A large teacher (mpnet) takes minutes to read the corpus on CPU, so its logits are computed once
(`stance distil-targets`) and kept in `data/teacher/` beside the corpus; training the fast student
reads them. The file records the fingerprint of the corpus it was made from: a student trained after the
corpus changed is refused with the command that makes fresh targets, never silently given stale ones.

File format (one JSON object): {"format": 1, "labels": [...], "corpus_fingerprint": "sha256:...",
"teacher": {...}, "command": "...", "logits": {sentence id: [one float per label]}}.
"""

from __future__ import annotations

import json
from pathlib import Path

from stance.atomic import atomic_open
from stance.errors import StanceError
from stance.modeldir import fingerprint

FORMAT = 1


def row_key(row: dict) -> str:
    """A training sentence's key in the targets: its id, or article and index when the corpus has no ids."""
    return str(row["id"]) if "id" in row else f"{row['article_id']}#{row.get('index', 0)}"


def corpus_fingerprint(cfg) -> str:
    """What the targets depend on: the sentences (texts, labels) and the split assignment."""
    return fingerprint(cfg.data.sentences, cfg.data.splits)


def write_targets(
    path: str | Path, logits: dict[str, list[float]], labels: list[str], cfg, teacher: dict, command: str
):
    record = {
        "format": FORMAT,
        "labels": list(labels),
        "corpus_fingerprint": corpus_fingerprint(cfg),
        "teacher": teacher,
        "command": command,
        "n": len(logits),
        "logits": {k: [round(float(x), 4) for x in v] for k, v in logits.items()},
    }
    with atomic_open(path) as f:
        json.dump(record, f, separators=(",", ":"))
        f.write("\n")


def load_targets(path: str | Path, cfg, ids: list[str]) -> list[list[float]]:
    """The teacher's logits for `ids` (the training sentences), in order, after checking they are current."""
    path = Path(path)
    if not path.is_file():
        raise StanceError("teacher targets not found (distil.targets)", path=path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StanceError(f"cannot read teacher targets ({exc})", path=path) from None
    if not isinstance(record, dict) or record.get("format") != FORMAT or not isinstance(record.get("logits"), dict):
        raise StanceError("not a teacher-targets file (format 1)", path=path)
    redo = record.get("command") or "stance distil-targets"
    if record.get("labels") != list(cfg.labels):
        raise StanceError(
            f"teacher targets are for labels {record.get('labels')}, the config has {list(cfg.labels)}", path=path
        )
    if record.get("corpus_fingerprint") != corpus_fingerprint(cfg):
        raise StanceError(
            "teacher targets are stale: the corpus (sentences or splits) changed since they were made; "
            f"regenerate them with: {redo}",
            path=path,
        )
    table = record["logits"]
    missing = [i for i in ids if i not in table]
    if missing:
        raise StanceError(
            f"teacher targets lack {len(missing)} training sentences (first: {missing[0]}); regenerate them with: {redo}",
            path=path,
        )
    rows = [table[i] for i in ids]
    if any(not isinstance(r, list) or len(r) != len(cfg.labels) for r in rows):
        raise StanceError(f"teacher targets must hold {len(cfg.labels)} logits a sentence", path=path)
    return rows
