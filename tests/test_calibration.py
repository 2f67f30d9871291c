"""docs/calibration.md documents every number the model starts from: each config field path,
each default energy supplier and each strategy-preset parameter has a row in its calibration
table, each module-level numeric constant of the model has a row in its constants table with the
code's value, and every row names a source or states an assumption.

The calibration table is the first markdown table in the file whose header starts with
``| parameter |``; its first column holds the path in backticks (``energy.base_load_twh_per_year``,
``energy.suppliers.coal``, ``strategies.frontier_lab.markup``) and its last column the source or
assumption.

The constants table is the first whose header starts with ``| constant |``: its first column holds
the constant's dotted name in backticks (``aiecosim.markets.compute.DEMAND_SMOOTHING``), its second
the value as the code has it, and its last the source or the reason for the value. A constant is
an UPPER_CASE name bound at module level to an int or a float in a module of the model's layers
(``aiecosim``, ``aiecosim.markets``, ``aiecosim.agents``; the views and experiments are tools
around the model, not part of it). Adding one without a row, or changing a value without its row,
fails here.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import numbers
import re
from pathlib import Path

import aiecosim
import aiecosim.agents
import aiecosim.markets
import pytest
from aiecosim.agents.strategy import PRESETS, Strategy
from aiecosim.config import SimConfig, _default_suppliers
from pydantic import BaseModel

DOC = Path(__file__).resolve().parents[1] / "docs" / "calibration.md"

# The supplier list is documented one row per default supplier, by name.
SUPPLIERS_PATH = "energy.suppliers"
# Strategy fields that say what a preset is rather than parameterise it.
STRATEGY_LABELS = {"name", "archetype", "description"}

_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_PATH = re.compile(r"^`([^`]+)`$")


def _config_paths(model: type[BaseModel] = SimConfig, prefix: str = "") -> set[str]:
    """Every field path of the schema, nested sections walked; the supplier list by name."""
    paths: set[str] = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths |= _config_paths(annotation, f"{path}.")
        elif path == SUPPLIERS_PATH:
            paths |= {f"{SUPPLIERS_PATH}.{s.name}" for s in _default_suppliers()}
        else:
            paths.add(path)
    return paths


def _strategy_paths() -> set[str]:
    return {
        f"strategies.{preset}.{field.name}"
        for preset in PRESETS
        for field in dataclasses.fields(Strategy)
        if field.name not in STRATEGY_LABELS
    }


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in _CELL_SPLIT.split(line.strip())[1:-1]]


def _table_rows(first_header: str) -> list[list[str]]:
    """Rows (lists of cells) of the first table whose header starts with `first_header`, header
    and separator left out."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    header = next(
        (
            i
            for i, line in enumerate(lines)
            if line.lstrip().startswith("|") and _cells(line)[:1] == [first_header]
        ),
        None,
    )
    if header is None:
        pytest.fail(f"{DOC}: no table whose header starts with '| {first_header} |'")
    rows = []
    for line in lines[header + 2 :]:
        if not line.lstrip().startswith("|"):
            break
        rows.append(_cells(line))
    return rows


def _calibration_rows() -> list[list[str]]:
    return _table_rows("parameter")


def _by_path(rows: list[list[str]]) -> dict[str, list[str]]:
    """Path -> the row's cells; every first cell must be one backticked path, each path once."""
    by_path: dict[str, list[str]] = {}
    for cells in rows:
        match = _PATH.match(cells[0]) if cells else None
        assert match, f"first cell is not a `backticked.path`: {cells[:1]}"
        path = match.group(1)
        assert path not in by_path, f"{path} has two rows"
        by_path[path] = cells
    return by_path


@pytest.fixture(scope="module")
def documented() -> dict[str, list[str]]:
    return _by_path(_calibration_rows())


def test_every_config_field_and_default_supplier_has_a_row(documented):
    missing = sorted(_config_paths() - set(documented))
    assert not missing, f"docs/calibration.md has no row for: {', '.join(missing)}"


def test_every_strategy_preset_parameter_has_a_row(documented):
    missing = sorted(_strategy_paths() - set(documented))
    assert not missing, f"docs/calibration.md has no row for: {', '.join(missing)}"


def test_every_row_names_a_source_or_an_assumption(documented):
    empty = sorted(
        path
        for path, cells in documented.items()
        if len(cells) < 2 or cells[-1].strip(" -–—") == ""
    )
    assert not empty, f"rows without a source or assumption: {', '.join(empty)}"


def test_no_row_documents_a_parameter_that_does_not_exist(documented):
    stale = sorted(set(documented) - _config_paths() - _strategy_paths())
    assert not stale, f"rows for paths the schema and presets do not have: {', '.join(stale)}"


# ---------------------------------------------------------------- module-level constants
# The model's layers: every module directly in these packages (aiecosim's own folder holds the
# core; its subpackages views and experiments are not walked).
MODEL_PACKAGES = (aiecosim, aiecosim.markets, aiecosim.agents)
_CONSTANT_NAME = re.compile(r"^_?[A-Z][A-Z0-9_]*$")


def _assigned_names(tree: ast.Module) -> list[str]:
    """Names bound at module level (`X = ...`, `X: T = ...`, `A, B = ...`)."""
    names = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        for target in targets:
            elts = target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
            names += [t.id for t in elts if isinstance(t, ast.Name)]
    return names


def model_constants() -> dict[str, float]:
    """`module.NAME` -> value of every UPPER_CASE name a model module binds to a number (bools,
    tuples, dicts and names imported from elsewhere left out)."""
    found: dict[str, float] = {}
    for package in MODEL_PACKAGES:
        folder = Path(package.__file__).parent
        for source in sorted(folder.glob("*.py")):
            stem = source.stem
            name = package.__name__ if stem == "__init__" else f"{package.__name__}.{stem}"
            module = importlib.import_module(name)
            tree = ast.parse(source.read_text(encoding="utf-8"))
            for const in _assigned_names(tree):
                value = getattr(module, const, None)
                if (
                    _CONSTANT_NAME.match(const)
                    and isinstance(value, numbers.Real)
                    and not isinstance(value, bool)
                ):
                    found[f"{name}.{const}"] = value
    return found


def _number(cell: str) -> float | None:
    """A value cell as a number: `0.5`, `1e30`, `8,760`, `-1` (backticks allowed); None if not."""
    text = cell.strip().strip("`").replace(",", "").replace("\u2212", "-")
    try:
        return float(text)
    except ValueError:
        return None


@pytest.fixture(scope="module")
def constants_documented() -> dict[str, list[str]]:
    return _by_path(_table_rows("constant"))


def test_the_constant_scan_finds_constants_in_every_layer():
    """The scan itself: it sees constants of the core, the markets and the agents, follows
    tuple assignments, and leaves out non-numbers and the views and experiments."""
    found = model_constants()
    assert found["aiecosim.markets.compute.DEMAND_SMOOTHING"] == 0.5
    assert found["aiecosim.agents.energy.INVESTMENT_RESPONSE"] == 3.0
    assert "aiecosim.markets.valuation.G_MAX" in found  # bound as `G_MIN, G_MAX = ...`
    assert "aiecosim.bounds.MAX_MAGNITUDE" in found
    assert "aiecosim.agents.strategy.ARCHETYPES" not in found  # a tuple of names
    assert not any(k.startswith(("aiecosim.views.", "aiecosim.experiments.")) for k in found)


def test_every_model_constant_has_a_row(constants_documented):
    missing = sorted(set(model_constants()) - set(constants_documented))
    assert not missing, "docs/calibration.md (Model constants) has no row for: " + ", ".join(
        missing
    )


def test_every_constant_row_gives_the_codes_value(constants_documented):
    constants = model_constants()
    wrong = []
    for path, cells in constants_documented.items():
        if path not in constants:
            continue
        documented_value = _number(cells[1]) if len(cells) > 1 else None
        if documented_value is None or documented_value != float(constants[path]):
            wrong.append(f"{path}: row says {cells[1:2]}, code has {constants[path]!r}")
    assert not wrong, "constant rows out of date: " + "; ".join(wrong)


def test_every_constant_row_says_what_it_means_and_why(constants_documented):
    bare = sorted(
        path
        for path, cells in constants_documented.items()
        if len(cells) < 5 or any(c.strip(" -–—") == "" for c in (cells[3], cells[-1]))
    )
    assert not bare, f"constant rows without a meaning or a source or reason: {', '.join(bare)}"


def test_no_row_documents_a_constant_that_does_not_exist(constants_documented):
    stale = sorted(set(constants_documented) - set(model_constants()))
    assert not stale, f"rows for constants the code does not have: {', '.join(stale)}"
