"""Config loading: inheritance, typed overrides, and one-line errors naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stance.cli import app
from stance.config import Config, load_config, resolve_encoder
from stance.errors import StanceError

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_base_config_sets_every_field_with_a_comment():
    text = (REPO / "configs/base.yaml").read_text()
    raw = yaml.safe_load(text)
    defaults = Config().to_dict()
    for section, values in defaults.items():
        assert section in raw, section
        if isinstance(values, dict):
            assert set(raw[section]) == set(values), section
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and ":" in line and not line.rstrip().endswith(":"):
            assert "#" in line, f"setting without a comment: {line}"


def test_shipped_configs_load_and_hold_only_differences():
    for path in sorted((REPO / "configs").glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.labels == ["threat_assessment", "policy_response", "reassurance", "other"]
    assert load_config(REPO / "configs/tfidf.yaml").model.type == "tfidf"
    assert load_config(REPO / "configs/minilm-context.yaml").data.context == 1
    assert set(yaml.safe_load((REPO / "configs/tfidf.yaml").read_text())) == {"inherit", "model"}


def test_relative_paths_resolve_against_the_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(REPO / "configs/base.yaml")
    assert Path(cfg.data.sentences) == (REPO / "data/sentences.jsonl").resolve()


def test_inherit_chain_and_override(tmp_path):
    write(tmp_path / "base.yaml", "train:\n  epochs: 3\n  seed: 1\n")
    write(tmp_path / "mid.yaml", "inherit: base.yaml\ntrain:\n  epochs: 4\n")
    child = write(tmp_path / "child.yaml", "inherit: mid.yaml\nmodel:\n  max_length: 64\n")
    cfg = load_config(child)
    assert (cfg.train.epochs, cfg.train.seed, cfg.model.max_length) == (4, 1, 64)


def test_set_overrides_are_typed():
    cfg = load_config(
        None, ["train.epochs=2", "train.learning_rate=3e-5", "train.class_weights=true", "labels=[a, b, c]"]
    )
    assert cfg.train.epochs == 2 and isinstance(cfg.train.epochs, int)
    assert cfg.train.learning_rate == pytest.approx(3e-5)
    assert cfg.train.class_weights is True
    assert cfg.labels == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train:\n  epochs: 3\n  epoch: 4\n", ["unknown key 'train.epoch'", ":3:"]),
        ("trian:\n  epochs: 3\n", ["unknown key 'trian'", ":1:"]),
        ("train:\n  epochs: three\n", ["train.epochs", "expected int", ":2:"]),
        ("model:\n  type: bert\n", ["model.type", "transformer | tfidf"]),
        ("train: [1, 2]\n", ["train", "expected a section"]),
        ("labels: [a, b, a]\n", ["duplicate labels: a"]),
        ("train:\n  epochs: 0\n", ["train.epochs", "out of range"]),
        ("train:\n  epochs: [3\n", ["invalid YAML"]),
        ("inherit: nowhere.yaml\n", ["nowhere.yaml", "not found"]),
    ],
)
def test_config_errors_name_file_and_key(tmp_path, text, expected):
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(StanceError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, (part, message)
    if "nowhere" not in text:
        assert str(path) in message


def test_unknown_override_key_is_an_error():
    with pytest.raises(StanceError, match="unknown key 'train.epoks'"):
        load_config(None, ["train.epoks=3"])
    with pytest.raises(StanceError, match="section.key=value"):
        load_config(None, ["train.epochs"])


def test_unknown_key_through_cli_exit_2_one_line(tmp_path):
    path = write(tmp_path / "bad.yaml", "inherit: " + str(REPO / "configs/base.yaml") + "\ntrain:\n  speed: 9\n")
    result = runner.invoke(app, ["train", str(path), "--print-config"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: {path}:3: unknown key 'train.speed'"]


def test_print_config_dumps_resolved_values():
    result = runner.invoke(app, ["train", str(REPO / "configs/tfidf.yaml"), "--print-config", "--set", "train.seed=99"])
    assert result.exit_code == 0
    dumped = yaml.safe_load(result.stdout)
    assert dumped["model"]["type"] == "tfidf"
    assert dumped["train"]["seed"] == 99
    assert load_config(None, [f"{k}={v}" for k, v in [("train.seed", 99)]]).train.seed == 99


def test_encoder_alias_and_directory(tmp_path):
    assert (resolve_encoder("minilm") / "config.json").is_file()
    with pytest.raises(StanceError, match="unknown encoder 'no-such-model'"):
        resolve_encoder("no-such-model")
    (tmp_path / "enc").mkdir()
    with pytest.raises(StanceError, match="no config.json"):
        resolve_encoder(str(tmp_path / "enc"))


def test_base_yaml_documents_the_defaults_of_the_typed_config():
    """The defaults live in the dataclasses; configs/base.yaml repeats them for readers. The two must agree:
    a default changed in one place only fails here."""
    from stance.config import PATH_KEYS

    documented = load_config(REPO / "configs/base.yaml").to_dict()
    defaults = Config().to_dict()
    for key in PATH_KEYS:
        section, name = key.split(".")
        value = defaults[section][name]
        if value and (key != "model.encoder" or "/" in value):  # a relative default is relative to the repo
            defaults[section][name] = str((REPO / value).resolve())
    assert documented == defaults
