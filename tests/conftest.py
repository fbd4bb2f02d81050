"""Shared fixtures: a tiny offline BERT, a small synthetic corpus, and configs that use them."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LABELS = ["threat_assessment", "policy_response", "reassurance", "other"]
TINY = REPO / "configs/tiny.yaml"  # the tiny-BERT training config

# Synthetic sentences for tests only (the real corpus is data/): each label has its own vocabulary,
# so a tiny model can learn them in a few steps, and the tests check the machinery, not the model.
_PARTS = {
    "threat_assessment": (
        ["The missile threat", "Russia's new drone", "The cyber attack", "The nuclear arsenal"],
        ["is dangerous and growing", "could reach our cities", "is a serious risk", "warned of escalation"],
    ),
    "policy_response": (
        ["The ministry", "NATO allies", "The government", "The army"],
        [
            "agreed to buy new air defence",
            "announced sanctions and funding",
            "will deploy troops",
            "plan new exercises",
        ],
    ),
    "reassurance": (
        ["The minister", "The secretary general", "Officials", "The president"],
        [
            "said citizens are safe and calm",
            "offered dialogue and restraint",
            "said there is no panic",
            "said the danger is contained",
        ],
    ),
    "other": (
        ["Reporting by", "Home / News /", "The meeting on Thursday", "A press conference on Monday"],
        ["the desk editor", "Defence", "was held in Brussels", "followed the talks"],
    ),
}


def _rows(prefix: str, articles: int, per_article: int, rng: random.Random) -> list[dict]:
    rows = []
    for a in range(articles):
        aid = f"{prefix}{a:02d}"
        for i in range(per_article):
            label = LABELS[(a + i) % len(LABELS)]
            subj, pred = _PARTS[label]
            text = f"{rng.choice(subj)} {rng.choice(pred)} ({prefix}{a}.{i})."
            rows.append({"id": f"{aid}-{i:03d}", "article_id": aid, "index": i, "text": text, "label": label})
    return rows


def make_dev_set(folder: Path, articles: int = 3, per_article: int = 8, seed: int = 1) -> Path:
    """Write dev_real.jsonl into `folder`: articles of their own, each row naming the page it paraphrases."""
    rows = _rows("d", articles, per_article, random.Random(seed))
    for row in rows:
        row["paraphrase_of"] = f"https://news.example.org/{row['article_id']}"
    folder.mkdir(parents=True, exist_ok=True)
    dev = folder / "dev_real.jsonl"
    dev.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return dev


def make_corpus(folder: Path, articles: int = 12, per_article: int = 8, seed: int = 0) -> tuple[Path, Path]:
    """Write sentences.jsonl and splits.json (article-grouped 8/2/2) into `folder`, and a small real-text dev
    set (dev_real.jsonl) beside them."""
    rows = _rows("t", articles, per_article, random.Random(seed))
    make_dev_set(folder)  # creates `folder`
    sentences = folder / "sentences.jsonl"
    sentences.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    names = [f"t{a:02d}" for a in range(articles)]
    split = {n: "train" for n in names[:8]} | {n: "validation" for n in names[8:10]} | {n: "test" for n in names[10:]}
    splits = folder / "splits.json"
    splits.write_text(json.dumps({"articles": split}), encoding="utf-8")
    return sentences, splits


def sets(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


def weights_digest(model_dir: Path) -> str:
    import hashlib

    from safetensors.torch import load_file

    h = hashlib.sha256()
    for name, tensor in sorted(load_file(model_dir / "model.safetensors").items()):
        h.update(name.encode())
        h.update(tensor.numpy().tobytes())
    return h.hexdigest()


def train_cmd(out: Path, overrides: list[str], *extra: str, launcher: tuple[str, ...] = ()) -> list[str]:
    """`python [-m launcher ...] -m stance train configs/tiny.yaml --output OUT --quiet --set ...`"""
    return [
        sys.executable,
        *launcher,
        "-m",
        "stance",
        "train",
        str(TINY),
        "--output",
        str(out),
        "--quiet",
        *sets(overrides),
        *extra,
    ]


def check_user_error(args: list[str], *expected: str, output: Path | None = None, input: str | None = None):
    """Run the CLI: exit 2, exactly one `error:` line holding every `expected` part, no traceback, and no
    `output` (nor a temp file of it) left behind. Returns the error line."""
    from typer.testing import CliRunner

    from stance.cli import app

    result = CliRunner().invoke(app, args, input=input)
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, lines
    for part in expected:
        assert part in errors[0], (part, errors[0])
    assert "Traceback" not in result.output
    if output is not None:
        assert not output.exists()
        leftovers = (
            [p.name for p in output.parent.iterdir() if p.name.startswith(f".{output.name}")]
            if output.parent.is_dir()
            else []
        )
        assert leftovers == []
    return errors[0]


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    import sys

    sys.path.insert(0, str(REPO / "tests"))
    from tiny_bert import build

    return build(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tiny_overrides(tiny_bert, corpus) -> list[str]:
    """--set overrides that point configs/tiny.yaml at the tiny BERT and the synthetic corpus."""
    sentences, splits = corpus
    return [
        f"model.encoder={tiny_bert}",
        f"data.sentences={sentences}",
        f"data.splits={splits}",
        f"data.dev_real={sentences.parent / 'dev_real.jsonl'}",
    ]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_overrides) -> Path:
    """A transformer model dir trained once per session with configs/tiny.yaml."""
    from stance.config import load_config
    from training import train_model

    out = tmp_path_factory.mktemp("models") / "tiny"
    train_model(load_config(REPO / "configs/tiny.yaml", tiny_overrides), out, quiet=True)
    return out


@pytest.fixture(scope="session")
def tfidf_model(tmp_path_factory, corpus) -> Path:
    from stance.config import load_config
    from training import train_model

    sentences, splits = corpus
    out = tmp_path_factory.mktemp("models") / "tfidf"
    cfg = load_config(
        REPO / "configs/tfidf.yaml",
        [
            f"data.sentences={sentences}",
            f"data.splits={splits}",
            f"data.dev_real={sentences.parent / 'dev_real.jsonl'}",
        ],
    )
    train_model(cfg, out, quiet=True)
    return out
