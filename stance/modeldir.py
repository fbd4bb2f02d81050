"""Model directories: what they hold, how they are described (stance.json), and the safety checks.

A model dir is data, never code: weights load from safetensors only, never with trust_remote_code,
and a dir holding pickle-based files (.pkl, .pickle, .bin, .pt, .pth, .joblib) is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path

from stance.errors import StanceError

META = "stance.json"
FORMAT_VERSION = 1
UNSAFE_SUFFIXES = (".pkl", ".pickle", ".bin", ".pt", ".pth", ".joblib", ".ckpt")


def read_meta(model_dir: str | Path) -> dict:
    """Check a model dir and return its stance.json."""
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise StanceError("model directory not found", path=model_dir)
    if not model_dir.is_dir():
        raise StanceError("not a model directory", path=model_dir)
    unsafe = sorted(p.name for p in model_dir.iterdir() if p.suffix.lower() in UNSAFE_SUFFIXES)
    if unsafe:
        raise StanceError(
            f"refusing to load a model dir with pickle-based files ({', '.join(unsafe)}): "
            "stance loads safetensors and JSON only",
            path=model_dir,
        )
    path = model_dir / META
    if not path.is_file():
        raise StanceError(f"no {META}: not a stance model directory (train one with `stance train`)", path=model_dir)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StanceError(f"corrupt {META} ({exc})", path=path) from None
    if not isinstance(meta, dict):
        raise StanceError(f"corrupt {META}: expected a JSON object", path=path)
    for key in ("type", "labels"):
        if key not in meta:
            raise StanceError(f"corrupt {META}: missing '{key}'", path=path)
    labels = meta["labels"]
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(lab, str) for lab in labels):
        raise StanceError(f"corrupt {META}: 'labels' must be a list of at least two names", path=path)
    from stance.model_types import MODEL_TYPES

    if meta["type"] not in MODEL_TYPES:
        raise StanceError(f"unknown model type {meta['type']!r}", path=path)
    for weights in MODEL_TYPES[meta["type"]].files:
        if not (model_dir / weights).is_file():
            raise StanceError(f"weights missing: no {weights}", path=model_dir)
    return meta


def replaces_model_dir(output: Path) -> bool:
    """Whether writing a model dir at `output` replaces one from an earlier run (True) or creates it (False).
    Anything else already there (a file, a device, a folder that is not a model dir) is refused: training
    would otherwise swap it out for a model dir and it would be lost."""
    if not os.path.lexists(output):
        return False
    if output.is_dir() and (output / META).is_file():
        return True
    what = "a folder that is not a stance model directory (no stance.json)" if output.is_dir() else "not a directory"
    raise StanceError(f"already exists and is {what}: refusing to replace it; choose another output", path=output)


def fingerprint(*paths: str | Path) -> str:
    """sha256 over the bytes of the training data files: which data a model was trained on."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return "sha256:" + h.hexdigest()


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("stance", "torch", "transformers", "datasets", "scikit-learn", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def model_card(meta: dict) -> str:
    """README.md of a model dir: intended use, labels, data, metrics, limits."""
    from stance.model_types import MODEL_TYPES

    lines = [
        f"# stance model ({meta['type']})",
        "",
        "Labels each sentence of defence and security reporting by its communicative function.",
        "",
        "## Intended use",
        "Analysts triaging press conferences, ministry releases, wire stories and speeches in English: "
        "which statements assess a threat, announce a response, or reassure. Not for decisions about "
        "people, and not a fact-checker: it labels what a sentence does, not whether it is true.",
        "",
        "## Labels",
        *[f"- `{lab}`" for lab in meta["labels"]],
        "",
        "## Training",
        f"- {MODEL_TYPES[meta['type']].describe(meta)}",
        f"- data: `{meta['config']['data']['sentences']}` ({meta.get('data_fingerprint', '?')})",
        f"- context: {'previous sentence as second segment' if meta['config']['data']['context'] else 'none'}",
        f"- training time: {meta.get('training_seconds', 0):.0f} s",
        "",
        "## Metrics",
        "",
        "`dev_real` is real reporting (paraphrased sentence by sentence from published pages, never trained on):",
        "the closest measure here of how the model reads what users will label. Intervals: 95% bootstrap.",
        "",
        "| split | n | accuracy | macro-F1 | 95% interval | " + " | ".join(meta["labels"]) + " |",
        "|---|---|---|---|---|" + "---|" * len(meta["labels"]),
    ]
    for split, m in meta.get("metrics", {}).items():
        per = m.get("per_class_f1", {})
        ci = "{:.3f}-{:.3f}".format(*m["macro_f1_ci"]) if "macro_f1_ci" in m else ""
        lines.append(
            f"| {split} | {m['n']} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {ci} | "
            + " | ".join(f"{per.get(lab, 0):.3f}" for lab in meta["labels"])
            + " |"
        )
    cal = meta.get("calibration")
    if cal:
        lines += [
            "",
            f"Calibration: temperature {cal['temperature']:.3f} fitted on the validation split "
            f"(ECE on test {cal.get('test_ece_before', float('nan')):.3f} -> "
            f"{cal.get('test_ece_after', float('nan')):.3f}).",
        ]
    lines += [
        "",
        "## Limits",
        "- Trained on an English corpus written by the stance team (see data/README.md): articles written to "
        "read like real reporting, and articles paraphrased sentence by sentence from real published pages. "
        "Real outlets still differ in style: judge the model by its dev_real score, not by test.",
        "- One label per sentence: sentences that mix functions get their main one.",
        "- A model directory is data, never code: it is loaded from safetensors and JSON only.",
        "",
    ]
    return "\n".join(lines)
