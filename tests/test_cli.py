"""The CLI surface: help, version, lazy imports, error handling."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from stance import __version__
from stance.cli import app

runner = CliRunner()
HEAVY = ("torch", "transformers", "datasets", "sklearn")


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("train", "predict", "evaluate", "compare", "data"):
        assert command in result.output


def test_data_help_lists_tools():
    result = runner.invoke(app, ["data", "--help"])
    assert result.exit_code == 0
    for command in ("sentences", "validate", "stats", "split", "label", "suggest", "audit"):
        assert command in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"stance {__version__}"


def test_command_help_comes_from_docstrings():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    assert "Train a model from a config" in result.output
    assert "--resume" in result.output


def test_help_imports_no_heavy_library():
    """`stance --help` and `stance data --help` must not import torch, transformers, datasets or sklearn."""
    code = (
        "import sys, json\n"
        "from stance.cli import app\n"
        "for args in (['--help'], ['data', '--help'], ['train', '--help']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "stance", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.strip() == f"stance {__version__}"


def test_user_error_is_one_line_exit_2(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ") and "missing.yaml" in lines[0] and "not found" in lines[0]
    assert "Traceback" not in result.output


def test_debug_shows_traceback(tmp_path):
    result = runner.invoke(app, ["--debug", "train", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
