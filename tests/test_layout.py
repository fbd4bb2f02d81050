"""The architecture: generic top-level packages resolve inside this repo; dependency directions hold."""

from __future__ import annotations

import ast
import json
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
