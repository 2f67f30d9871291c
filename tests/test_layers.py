"""The layers: markets <- agents <- model <- experiments <- views, checked by import-linter.

The contract lives in pyproject.toml ([tool.importlinter]). import-linter reads a package from
disk, and ours is assembled from three folders (sim/, agents/, experiments/), so the check runs
on a copy laid out as a wheel installs it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _as_installed(tmp_path: Path) -> Path:
    """aiecosim/ as a wheel holds it: sim/ with agents/ and experiments/ inside."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "sim", tmp_path / "aiecosim", ignore=skip)
    shutil.copytree(ROOT / "agents", tmp_path / "aiecosim" / "agents", ignore=skip)
    shutil.copytree(ROOT / "experiments", tmp_path / "aiecosim" / "experiments", ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "pyproject.toml"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def test_imports_flow_one_way(tmp_path):
    done = _lint(_as_installed(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout


def test_a_market_importing_the_model_breaks_the_contract(tmp_path):
    """The check can fail: a mechanism that reaches up into the model is caught."""
    tree = _as_installed(tmp_path)
    capability = tree / "aiecosim" / "markets" / "capability.py"
    capability.write_text(capability.read_text() + "\nfrom aiecosim import model  # noqa\n")
    done = _lint(tree)
    assert done.returncode != 0
    assert "aiecosim.markets is not allowed to import aiecosim.model" in done.stdout


def test_no_module_is_left_out_of_the_layers():
    """Every module of the core package sits in a layer (a new one must be placed)."""
    import tomllib

    layers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    named = {
        name.strip()
        for layer in layers["contracts"][0]["layers"]
        for name in layer.replace("|", ":").split(":")
    }
    core = {f"aiecosim.{p.stem}" for p in (ROOT / "sim").glob("*.py") if p.stem != "__init__"}
    packages = {
        f"aiecosim.{p.name}" for p in (ROOT / "sim").iterdir() if (p / "__init__.py").exists()
    }
    assert core | packages | {"aiecosim.agents", "aiecosim.experiments"} <= named
