"""docs/calibration.md documents every default: each config field path, each default energy
supplier and each strategy-preset parameter has a row in its calibration table, and every row
names a source or states an assumption.

The calibration table is the first markdown table in the file whose header starts with
``| parameter |``; its first column holds the path in backticks (``energy.base_load_twh_per_year``,
``energy.suppliers.coal``, ``strategies.frontier_lab.markup``) and its last column the source or
assumption.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

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


def _calibration_rows() -> list[list[str]]:
    """Rows (lists of cells) of the calibration table, header and separator left out."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    header = next(
        (
            i
            for i, line in enumerate(lines)
            if line.lstrip().startswith("|") and _cells(line)[:1] == ["parameter"]
        ),
        None,
    )
    if header is None:
        pytest.fail(f"{DOC}: no table whose header starts with '| parameter |'")
    rows = []
    for line in lines[header + 2 :]:
        if not line.lstrip().startswith("|"):
            break
        rows.append(_cells(line))
    return rows


@pytest.fixture(scope="module")
def documented() -> dict[str, list[str]]:
    """Path -> the row's cells; every first cell must be one backticked path, each path once."""
    by_path: dict[str, list[str]] = {}
    for cells in _calibration_rows():
        match = _PATH.match(cells[0]) if cells else None
        assert match, f"first cell is not a `backticked.path`: {cells[:1]}"
        path = match.group(1)
        assert path not in by_path, f"{path} has two rows"
        by_path[path] = cells
    return by_path


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
