"""The architecture: generic top-level packages resolve inside this repo; dependency directions hold."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


CODE = (
    "import json, training, inference, stance\nprint(json.dumps([m.__file__ for m in (training, inference, stance)]))"
)


def _resolved(args: list[str], cwd: Path) -> list[Path]:
    out = subprocess.run(args, capture_output=True, text=True, cwd=cwd, check=True)
    return [Path(p).resolve() for p in json.loads(out.stdout)]


def test_packages_resolve_inside_repo_from_foreign_cwd(tmp_path):
    for path in _resolved([sys.executable, "-c", CODE], tmp_path):
        assert path.is_relative_to(REPO), path


def test_decoy_packages_in_cwd_do_not_shadow_ours(tmp_path):
    """`training` and `inference` are generic names: a folder of that name where the user works must not
    replace ours when stance runs (the console script and `python -I` do not put the cwd on sys.path)."""
    for name in ("training", "inference"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("DECOY = True\n")
    for path in _resolved([sys.executable, "-I", "-c", CODE], tmp_path):
        assert path.is_relative_to(REPO), path
        assert path.name == "__init__.py"


def _imports(package: str) -> set[str]:
    names = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_dependency_directions():
    assert "inference" not in _imports("training")
    assert "training" not in _imports("inference")


def test_stance_core_imports_nothing_heavy():
    code = (
        "import sys, json, stance, stance.cli, stance.config, stance.data, stance.corpus, stance.metrics, "
        "stance.modeldir, stance.model_types, stance.sentences\n"
        "print(json.dumps([m for m in ('torch', 'transformers', 'datasets', 'sklearn') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_no_pickle_in_the_code():
    for package in ("stance", "training", "inference"):
        assert not _imports(package) & {"pickle", "joblib", "dill", "cloudpickle", "shelve"}, package
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text()
            assert "torch.save(" not in text and "torch.load(" not in text, path


def test_stance_core_imports_neither_training_nor_inference():
    """stance/ is the core both sides build on; only the CLI reaches up, lazily, inside its commands."""
    for path in (REPO / "stance").rglob("*.py"):
        if path.name == "cli.py":
            continue
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        assert not names & {"training", "inference"}, path


def _functions():
    for package in ("stance", "training", "inference"):
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield path, node


def test_functions_are_short_and_take_few_parameters():
    """No function over 60 lines; no public function with more than 6 parameters (options objects instead),
    except the Typer commands, whose parameters are the command line."""
    long, wide = [], []
    for path, fn in _functions():
        if fn.end_lineno - fn.lineno + 1 > 60:
            long.append(f"{path.name}:{fn.name}")
        a = fn.args
        params = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs if x.arg not in ("self", "cls")]
        command = any("command" in ast.unparse(d) for d in fn.decorator_list)
        if len(params) > 6 and not fn.name.startswith("_") and not command:
            wide.append(f"{path.name}:{fn.name}")
    assert long == [] and wide == []


def test_only_the_cli_names_its_flags():
    """Library messages name parameters (threshold), the CLI turns them into flags (--threshold)."""
    cli = (REPO / "stance" / "cli.py").read_text()
    flags = set(re.findall(r'"(--[a-z][a-z-]+)"', cli))
    assert {"--threshold", "--precision", "--resume", "--set", "--output"} <= flags
    offenders = []
    for package in ("stance", "training", "inference"):
        for path in (REPO / package).rglob("*.py"):
            if path.name == "cli.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    used = set(re.findall(r"--[a-z][a-z-]+", node.value)) & flags
                    offenders += [f"{path.name}: {flag}" for flag in used]
    assert offenders == []
