"""Operability (issue 16), through the CLI as a user calls it: inputs with nothing in them, outputs that
cannot be written or are not plain files, train refusing to replace what is not a model dir, the precision
`auto` picks, logs that fit in a file, and interrupts. Byte-level reader cases are in test_bytes.py, the
atomic writer's own cases in test_outputs.py, fuzzing in test_fuzz.py."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import LABELS, TINY, check_user_error, sets, train_cmd, write
from typer.testing import CliRunner

from stance.cli import app

runner = CliRunner()
CSV_HEADER = "text,label,score," + ",".join(f"p_{lab}" for lab in LABELS)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- inputs with nothing in them: predict writes a valid empty output and says so, exit 0 --------------

EMPTY_INPUTS = {
    "empty.jsonl": "",
    "blank-lines.jsonl": "\n  \n\t\n",
    "header-only.csv": "id,text\n",
    "empty.csv": "",
    "empty.txt": "",
    "whitespace.txt": "  \n\n ",
    "header-no-body.txt": "id: a-b\ntitle: Nothing yet\n---\n\n",
}


@pytest.mark.parametrize("name", sorted(EMPTY_INPUTS))
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_predict_on_an_input_with_no_sentences_writes_a_valid_empty_output(tiny_model, tmp_path, name, fmt):
    path = write(tmp_path / name, EMPTY_INPUTS[name])
    out = tmp_path / f"out.{fmt}"
    result = runner.invoke(app, ["predict", str(tiny_model), "--input", str(path), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr == f"no sentences in {path}\n"
    assert out.read_text() == ("" if fmt == "jsonl" else CSV_HEADER + "\n")


def test_predict_on_empty_stdin_writes_nothing_and_says_so(tiny_model):
    result = runner.invoke(app, ["predict", str(tiny_model), "-"], input="")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "no sentences in stdin\n")


@pytest.mark.parametrize("name", ["empty.jsonl", "blank-lines.jsonl", "header-only.csv"])
def test_evaluate_and_compare_on_nothing_stop_naming_the_file(tiny_model, tmp_path, name):
    path = write(tmp_path / name, EMPTY_INPUTS[name])
    check_user_error(["evaluate", str(tiny_model), str(path)], str(path), "no labeled records")
    check_user_error(["compare", str(tiny_model), str(tiny_model), "--data", str(path)], str(path))


def test_evaluate_when_every_row_is_filtered_out(tiny_model, tmp_path):
    path = write(tmp_path / "other-labels.jsonl", '{"text": "A sentence.", "label": "weather"}\n')
    check_user_error(["evaluate", str(tiny_model), str(path), "--skip-unknown"], str(path), "no labeled records")


@pytest.mark.parametrize("name", ["empty.jsonl", "blank-lines.jsonl"])
def test_data_split_stats_and_validate_on_nothing_stop_naming_the_file(tmp_path, name):
    path = write(tmp_path / name, EMPTY_INPUTS[name])
    out = tmp_path / "splits.json"
    check_user_error(["data", "split", str(path), "-o", str(out)], str(path), output=out)
    check_user_error(["data", "stats", str(path)], str(path))
    check_user_error(["data", "validate", str(path)], str(path))


def test_train_on_an_empty_corpus_stops_naming_it(tmp_path, tiny_overrides):
    empty = write(tmp_path / "sentences.jsonl", "\n")
    out = tmp_path / "model"
    overrides = [o for o in tiny_overrides if not o.startswith("data.sentences=")] + [f"data.sentences={empty}"]
    check_user_error(["train", str(TINY), "-o", str(out), *sets(overrides)], str(empty), output=out)


def test_train_with_an_empty_validation_split_stops_before_training(tmp_path, tiny_overrides, corpus):
    sentences, splits = corpus
    only_train = write(
        tmp_path / "splits.json",
        json.dumps({"articles": dict.fromkeys(json.loads(splits.read_text())["articles"], "train")}),
    )
    out = tmp_path / "model"
    overrides = [o for o in tiny_overrides if not o.startswith("data.splits=")] + [f"data.splits={only_train}"]
    check_user_error(["train", str(TINY), "-o", str(out), *sets(overrides)], "validation", output=out)


# --- outputs that cannot be written, or are not plain files --------------------------------------------


def test_predict_output_naming_a_directory(tiny_model, tmp_path):
    check_user_error(["predict", str(tiny_model), "x", "-o", str(tmp_path)], str(tmp_path), "is a directory")


def test_predict_output_on_a_full_disk_keeps_the_earlier_file(tiny_model, tmp_path, monkeypatch):
    out = write(tmp_path / "out.jsonl", "earlier\n")
    before = digest(out)
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    check_user_error(["predict", str(tiny_model), "x", "-o", str(out)], str(out), "No space left on device")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert digest(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_predict_output_through_a_symlink_keeps_the_link(tiny_model, tmp_path):
    target = write(tmp_path / "real.jsonl", "old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    result = runner.invoke(app, ["predict", str(tiny_model), "x", "-o", str(link), "-q"])
    assert result.exit_code == 0 and link.is_symlink()
    assert json.loads(target.read_text())["text"] == "x"


def test_predict_output_to_dev_stdout_writes_through(tiny_model, tmp_path):
    """A device is written to, never replaced: `--output /dev/stdout` behaves as it does for any tool."""
    cmd = [sys.executable, "-m", "stance", "predict", str(tiny_model), "x", "-o", "/dev/stdout", "-q"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["text"] == "x" and os.path.exists("/dev/stdout")


def test_predict_output_into_a_fifo_writes_through(tiny_model, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    cmd = [sys.executable, "-m", "stance", "predict", str(tiny_model), "x", "-o", str(fifo), "-q"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    with open(fifo) as fh:
        text = fh.read()
    assert proc.wait(timeout=60) == 0 and json.loads(text)["text"] == "x"
    assert fifo.exists() and not fifo.is_file()  # still a FIFO


def test_evaluate_report_over_a_regular_file_is_refused(tiny_model, tmp_path):
    report = write(tmp_path / "report", "not a dir\n")
    check_user_error(["evaluate", str(tiny_model), "test", "--report", str(report)], "not a directory")
    assert report.read_text() == "not a dir\n"


@pytest.mark.parametrize("what", ["file", "folder", "symlink-to-file"])
def test_train_refuses_to_replace_what_is_not_a_model_dir(tmp_path, tiny_overrides, what):
    out = tmp_path / "out"
    if what == "file":
        write(out, "precious\n")
    elif what == "folder":
        out.mkdir()
        write(out / "notes.txt", "precious\n")
    else:
        out.symlink_to(write(tmp_path / "target.txt", "precious\n"))
    check_user_error(["train", str(TINY), "-o", str(out), *sets(tiny_overrides)], str(out), "refusing to replace")
    kept = out / "notes.txt" if what == "folder" else out
    assert kept.read_text() == "precious\n"


def test_train_over_an_earlier_model_dir_replaces_it_and_says_so(tmp_path, tiny_overrides, tiny_model):
    import shutil

    out = tmp_path / "model"
    shutil.copytree(tiny_model, out)
    args = ["train", str(TINY), "-o", str(out), *sets([*tiny_overrides, "train.epochs=1"])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "holds a model from an earlier run" in result.stderr
    assert json.loads((out / "stance.json").read_text())["config"]["train"]["epochs"] == 1


# --- hardware: `--precision auto` says what it chose --------------------------------------------------------


def test_precision_auto_names_its_choice_in_the_first_line(tiny_model):
    from stance.hardware import choose_precision

    result = runner.invoke(app, ["predict", str(tiny_model), "x", "--precision", "auto", "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    chosen, reason = choose_precision("auto", "bert")
    assert result.stderr.splitlines()[0] == f"precision {reason}"
    assert f"auto: {chosen}" in reason


# --- logs that fit in a file ----------------------------------------------------------------------------


def test_training_log_in_a_file_has_a_few_plain_lines(tmp_path, tiny_overrides):
    """stderr not a terminal: no progress frames (the old log had one per step), epoch lines, a summary."""
    log = tmp_path / "log"
    with open(log, "w") as fh:
        cmd = train_cmd(tmp_path / "m", tiny_overrides)
        subprocess.run([c for c in cmd if c != "--quiet"], stdout=fh, stderr=subprocess.STDOUT, check=True)
    text = log.read_text()
    assert "\r" not in text and "Traceback" not in text
    lines = text.splitlines()
    assert len(lines) <= 20, lines
    assert any(line.startswith("train: ") and "steps in" in line for line in lines)
    assert sum(line.startswith("epoch ") for line in lines) >= 1


# --- interrupts -----------------------------------------------------------------------------------------


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize(("sig", "code", "name"), [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_interrupted_predict_exits_with_one_line_and_no_output(tiny_model, tmp_path, sig, code, name):
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"text": f"The missile threat {i} is growing."}) + "\n" for i in range(400_000)))
    out = write(tmp_path / "out.jsonl", "earlier\n")
    cmd = [sys.executable, "-m", "stance", "predict", str(tiny_model), "--input", str(big), "-o", str(out)]
    # a shell without job control starts background jobs with SIGINT ignored, and Python keeps it so: give the
    # child the default disposition, as a terminal's foreground job has, whatever ran this test
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler),
    )
    _wait_for(lambda: any(p.name.startswith(".out.jsonl.") for p in tmp_path.iterdir()))  # writing has begun
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == f"interrupted ({name})" and "Traceback" not in stderr
    assert out.read_text() == "earlier\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jsonl", "out.jsonl"]


def test_terminated_training_keeps_its_checkpoint_and_says_how_to_resume(tmp_path, tiny_overrides):
    out = tmp_path / "model"
    run_dir = tmp_path / ".model.run"
    cmd = train_cmd(out, [*tiny_overrides, "train.epochs=200", "train.patience=0"])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (run_dir / "checkpoint" / "state.json").is_file())
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    (line,) = stderr.strip().splitlines()
    assert line.startswith("interrupted (SIGTERM): the last checkpoint is kept; resume with `stance train")
    assert "--resume" in line and not out.exists()
    assert (run_dir / "checkpoint" / "state.json").is_file()


def test_data_validate_quiet_counts_warnings_instead_of_listing_them(tmp_path):
    """`make demo` runs it quiet, so its log stays short; the plain run lists every warning."""
    texts = [f"Report {i} on topic w{i * 7} and item w{i * 13} here." for i in range(300)] + [
        "Report 5 on topic w35 and item w65 here."
    ]
    rows = [
        {"id": f"a{i // 10}-{i % 10}", "article_id": f"a{i // 10}", "index": i % 10, "text": t, "label": "other"}
        for i, t in enumerate(texts)
    ]
    path = write(tmp_path / "sentences.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    loud = runner.invoke(app, ["data", "validate", str(path)])
    quiet = runner.invoke(app, ["data", "validate", str(path), "-q"])
    assert loud.exit_code == quiet.exit_code == 0, loud.output
    warnings = [line for line in loud.stderr.splitlines() if line.startswith("warning:")]
    assert warnings and "warning:" not in quiet.stderr
    assert f"{len(warnings)} warnings (run without --quiet to list them)" in quiet.stdout


# --- serving: the CLI's choices (the API itself is in test_serve.py) -------------------------------------


def test_serve_warns_when_open_to_the_network_without_a_key(tiny_model, monkeypatch):
    import inference.serve as serving

    calls = []
    monkeypatch.setattr(serving, "serve", lambda model_dir, **kw: calls.append(kw))
    monkeypatch.delenv("STANCE_API_KEY", raising=False)
    open_ = runner.invoke(app, ["serve", str(tiny_model), "--host", "0.0.0.0", "--max-batch", "8"])
    assert open_.exit_code == 0, open_.output
    assert "warning: serving on 0.0.0.0 without --api-key" in open_.stderr
    assert calls[-1]["host"] == "0.0.0.0" and calls[-1]["options"].max_batch == 8
    local = runner.invoke(app, ["serve", str(tiny_model)], env={"STANCE_API_KEY": "s3cret"})
    assert local.exit_code == 0 and "warning" not in local.stderr
    assert calls[-1]["host"] == "127.0.0.1" and calls[-1]["options"].api_key == "s3cret"


def test_predict_html_report_of_several_articles(tiny_model, tmp_path):
    rows = [
        {"article_id": aid, "index": i, "text": text}
        for aid in ("a1", "a2")
        for i, text in enumerate(["The missile threat is growing.", "Officials said <script>alert(1)</script>."])
    ]
    path = write(tmp_path / "in.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["predict", str(tiny_model), "--input", str(path), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count('data-label="') == 4 and "<script>alert" not in page and "&lt;script&gt;" in page
    assert 'href="#sec-1"' in page and 'href="#sec-2"' in page  # one section per article, with contents
    assert "http://" not in page and "https://" not in page
