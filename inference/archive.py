"""Label an archive: many input shards (a folder, a glob, or one file) -> one output shard each, in a folder.

`stance predict` with a folder or a glob as input (or the ray engine) comes here.

The unit of work is a shard. Each is labelled whole by one worker with the reader, context rule and writer of a
single-file `stance predict` (`label_shard`), so a shard's output is the same whichever engine ran it and
however many workers there were. Engines:
- local: shards one after another in this process (the model's own threads score batches side by side).
- ray: Ray Data over the list of pending shards, `map_batches` with a callable class (`ShardLabeler`) in an
  actor pool: one model load per actor, one shard per call; by default one actor per node on all its cores
  (`_pool_shape`).
  `ray_address` joins an existing cluster (whose workers must see the shard paths and have stance installed);
  without it Ray starts here with this machine's cores. Ray is imported only by this engine.

Resumable per shard: every output shard is written atomically, and after each one `_manifest.json` in the
output folder records the input's SHA-256, the output's size and record count, and the run's key (model
fingerprint, threshold, precision, text field, format). A rerun skips shards whose entry matches, so a crash
costs the shards in flight, not the archive. A different model or setting makes every shard due again.
"""

from __future__ import annotations

import glob
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inference.labeling import check_numbers
from stance.atomic import write_json
from stance.data import find_shards
from stance.encoders import sha256_file
from stance.errors import StanceError

MANIFEST = "_manifest.json"
OUTPUT_FORMATS = ("jsonl", "csv", "parquet")
_FORMAT_OF = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}  # every other input -> jsonl


@dataclass
class ArchiveOptions:
    input: str  # a folder (its shards), a glob, or one file
    output: Path  # a folder: one output shard per input shard, and the manifest
    text_field: str = "text"
    fmt: str | None = None  # jsonl | csv | parquet; None: each shard's own kind (.txt/.md articles -> jsonl)
    threshold: float = 0.0
    precision: str = "fp32"
    batch_size: int = 64
    engine: str = "local"  # local | ray
    actors: int | None = None  # ray: actors in the pool; None: one per node (all its cores), at most one per shard
    ray_address: str | None = None  # ray: join this cluster; None: start Ray here
    quiet: bool = False


@dataclass
class Shard:
    source: Path
    target: Path
    sha256: str  # of the input file


@dataclass
class ArchiveResult:
    labelled: int  # shards labelled by this run
    skipped: int  # shards complete from an earlier run
    sentences: int  # sentences labelled by this run
    seconds: float
    engine: str


def is_archive(input: str, engine: str) -> bool:
    """Shards to label into a folder: a folder or a glob as input, or any input with the ray engine."""
    return engine != "local" or Path(input).is_dir() or glob.has_magic(input)


def output_format(source: Path, fmt: str | None) -> str:
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        raise StanceError(f"must be one of {', '.join(OUTPUT_FORMATS)} for an output folder, got {fmt!r}", option="fmt")
    return fmt or _FORMAT_OF.get(source.suffix.lower(), "jsonl")


def plan(model_dir: Path, o: ArchiveOptions) -> tuple[list[Shard], list[Shard], dict]:
    """(shards to label, shards already complete, the manifest to extend)."""
    from stance.modeldir import fingerprint, read_meta

    sources = find_shards(o.input)
    targets: dict[Path, Path] = {}
    for source in sources:
        target = o.output / f"{source.stem}.{output_format(source, o.fmt)}"
        if target in targets:
            raise StanceError(f"two input shards would both write {target.name}: {targets[target]}", path=source)
        targets[target] = source
    if o.output.exists() and not o.output.is_dir():
        raise StanceError("must be a folder when labelling shards", path=o.output)
    meta = read_meta(model_dir)
    weights = [Path(model_dir) / name for name in sorted(os.listdir(model_dir)) if name.endswith(".safetensors")]
    key = {
        "model": fingerprint(Path(model_dir) / "stance.json", *weights),
        "labels": meta["labels"],
        "threshold": o.threshold,
        "precision": o.precision,
        "text_field": o.text_field,
        "format": o.fmt,
    }
    manifest = _read_manifest(o.output)
    if manifest.get("key") != key:  # another model or setting: nothing earlier counts
        manifest = {"version": 1, "key": key, "shards": {}}
    todo, done = [], []
    for target, source in targets.items():
        shard = Shard(source, target, sha256_file(source))
        entry = manifest["shards"].get(target.name)
        complete = (
            entry is not None
            and entry.get("sha256") == shard.sha256
            and target.is_file()
            and target.stat().st_size == entry.get("bytes")
        )
        (done if complete else todo).append(shard)
    return todo, done, manifest


def label_archive(model_dir: Path, o: ArchiveOptions, on_shard: Callable[[dict], None] | None = None) -> ArchiveResult:
    """Label every pending shard of `o.input` into `o.output` (see the module docstring). `on_shard(entry)` is
    called after each shard is written and recorded."""
    if o.engine not in ENGINES:
        raise StanceError(f"must be one of {', '.join(ENGINES)}, got {o.engine!r}", option="engine")
    check_numbers(o.threshold, o.batch_size)  # before any shard is read or the model loads
    if o.actors is not None and o.actors < 1:
        raise StanceError(f"must be at least 1, got {o.actors}", option="actors")
    todo, done, manifest = plan(model_dir, o)
    o.output.mkdir(parents=True, exist_ok=True)
    for shard in todo:  # temp files a killed run left behind
        for stray in o.output.glob(f".{glob.escape(shard.target.name)}.*.tmp"):
            stray.unlink(missing_ok=True)
    start = time.perf_counter()
    sentences = 0

    def record(shard: Shard, records: int, started: float, seconds: float) -> None:
        nonlocal sentences
        sentences += records
        entry = {
            "source": str(shard.source),
            "sha256": shard.sha256,
            "output": shard.target.name,
            "records": records,
            "bytes": shard.target.stat().st_size,
            "started": round(started, 3),  # Unix time the worker began this shard
            "seconds": round(seconds, 3),  # how long it took
        }
        manifest["shards"][shard.target.name] = entry
        write_json(o.output / MANIFEST, manifest)
        if on_shard is not None:
            on_shard(entry)

    if todo:
        ENGINES[o.engine](model_dir, todo, o, record)
    return ArchiveResult(len(todo), len(done), sentences, time.perf_counter() - start, o.engine)


def label_shard(predictor, source: Path, target: Path, settings: dict) -> tuple[int, float, float]:
    """Label one shard into `target` (atomically), exactly as a single-file `stance predict` from `source` to
    `target` does (the same function labels both); (records written, Unix start time, seconds taken)."""
    from inference.labeling import PredictOptions, label_with

    started, clock = time.time(), time.perf_counter()
    fmt = output_format(source, settings["fmt"])
    o = PredictOptions(input=source, output=target, quiet=True, **{**settings, "fmt": fmt})
    return label_with(predictor, o).sentences, started, time.perf_counter() - clock


def _settings(o: ArchiveOptions) -> dict:
    return {"text_field": o.text_field, "fmt": o.fmt, "threshold": o.threshold, "batch_size": o.batch_size}


def _run_local(model_dir: Path, todo: list[Shard], o: ArchiveOptions, record) -> None:
    from inference.predictor import Predictor
    from stance.progress import Progress

    predictor = Predictor.load(model_dir, precision=o.precision)
    with Progress("predict", total=len(todo), unit="shard", quiet=o.quiet) as bar:
        for shard in todo:
            record(shard, *label_shard(predictor, shard.source, shard.target, _settings(o)))
            bar.update(1)


class ShardLabeler:
    """Ray Data's callable class: loads the model once per actor, then labels one shard per call."""

    def __init__(self, model_dir: str, precision: str, threads: int, settings: dict):
        import torch

        from inference.predictor import Predictor

        torch.set_num_threads(threads)
        self.predictor = Predictor.load(model_dir, precision=precision)
        self.settings = settings

    def __call__(self, batch: dict) -> dict:
        done = [
            label_shard(self.predictor, Path(source), Path(target), self.settings)
            for source, target in zip(batch["source"], batch["target"], strict=True)
        ]
        records, started, seconds = (list(column) for column in zip(*done, strict=True))
        return {"target": list(batch["target"]), "records": records, "started": started, "seconds": seconds}


def _run_ray(model_dir: Path, todo: list[Shard], o: ArchiveOptions, record) -> None:
    # Ray Data's own log lines (per-operator progress, the abbreviated user traceback) stay in Ray's log
    # files; progress is ours (a bar on a terminal, a few lines in a log), errors come back as exceptions.
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "CRITICAL")
    from stance.progress import Progress

    try:
        import ray
    except ImportError:
        raise StanceError("the ray engine needs Ray: pip install '.[ray]' (or make setup-ray)") from None
    per_node = os.cpu_count() or 1  # nodes are taken to be like this one
    if not ray.is_initialized():
        ray.init(
            address=o.ray_address,
            num_cpus=None if o.ray_address else per_node,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
            configure_logging=False,
        )
    actors, threads = _pool_shape(int(ray.cluster_resources().get("CPU", per_node)), per_node, len(todo), o.actors)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_options.preserve_order = False  # shards are recorded as they finish
    items = [{"source": str(s.source.resolve()), "target": str(s.target.resolve())} for s in todo]
    by_target = {item["target"]: shard for item, shard in zip(items, todo, strict=True)}
    ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        ShardLabeler,
        fn_constructor_kwargs={
            "model_dir": str(Path(model_dir).resolve()),
            "precision": o.precision,
            "threads": threads,
            "settings": _settings(o),
        },
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=threads,
    )
    try:
        with Progress("predict", total=len(todo), unit="shard", quiet=o.quiet) as bar:
            for row in ds.iter_rows():
                shard = by_target[str(row["target"])]
                record(shard, int(row["records"]), float(row["started"]), float(row["seconds"]))
                bar.update(1)
    except Exception as exc:
        raise _user_error(exc) or exc from None


def _pool_shape(cores: int, per_node: int, shards: int, actors: int | None) -> tuple[int, int]:
    """(actors, torch threads each). Default: one actor per node using all its cores, since the model's own
    threads score batches side by side as fast as separate actors would (docs/scaling.md), with one copy of
    torch and the model per node instead of one per core; never more actors than shards."""
    if actors is None:
        actors = max(1, min(shards, cores // per_node))
    return actors, max(1, min(per_node, cores // actors))


def _user_error(exc: BaseException) -> StanceError | None:
    """The StanceError (a bad line in a shard, say) inside what Ray raised, if there is one. Ray keeps the
    actor's exception only as text in the remote traceback, so the message is read from there."""
    found = re.findall(r"stance\.errors\.StanceError: (.+)", str(exc))
    return StanceError(found[-1].strip()) if found else None


def _read_manifest(folder: Path) -> dict:
    """The manifest of an earlier run into `folder`, or {} (none, or unreadable: then every shard is due)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("shards"), dict) else {}


ENGINES = {"local": _run_local, "ray": _run_ray}
