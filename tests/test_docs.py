"""The documentation agrees with the code.

- docs/odd.md: the ODD description keeps its sections in the protocol's order (Grimm et al.
  2020). Every state variable in its section-2 tables exists on the class the table's header
  names: it is set on a real instance after a short run, or, for one set only lazily, assigned
  or defined in the class's source. Its links point at files and headings that exist.
- docs/outputs.md: every column of the model, firm and strategy tables and every key of run.json
  is documented, and every documented name still exists. A family of columns may be documented
  once with placeholders (`spend_usd_<size>_<archetype>`).

A state-variable table is a markdown table in section 2 of docs/odd.md whose first header cell
names the class in backticks (``| `ModelBuilder` (agents/builders.py) | unit | meaning |``).
Each row's first cell holds the attribute's name in backticks.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest
from aiecosim.agents.builders import ModelBuilder, ReleasedModel, TrainingRun
from aiecosim.agents.energy import EnergySupplier
from aiecosim.agents.enterprises import SIZE_CLASSES, EnterprisePopulation, Offers
from aiecosim.agents.investors import Investor
from aiecosim.agents.parents import Parent
from aiecosim.agents.strategy import ARCHETYPES, Strategy
from aiecosim.config import load_config
from aiecosim.ledger import Account, Ledger, OutsideWorld
from aiecosim.markets.capital import CapitalMarket
from aiecosim.markets.compute import ComputeMarket
from aiecosim.markets.energy import EnergyClearing, EnergyMarket
from aiecosim.markets.network import AdoptionNetwork
from aiecosim.model import AIEcosystemModel
from aiecosim.outputs import run_model, write_run

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ODD = DOCS / "odd.md"
OUTPUTS = DOCS / "outputs.md"

OVERRIDES = ["run.steps=3", "run.enterprises=300"]
STEPS = 3

#: The classes a state-variable table may name, and where their instances live in a model.
CLASSES: dict[str, type] = {
    c.__name__: c
    for c in (
        AIEcosystemModel,
        ModelBuilder,
        Strategy,
        ReleasedModel,
        TrainingRun,
        EnterprisePopulation,
        AdoptionNetwork,
        Offers,
        EnergySupplier,
        EnergyMarket,
        EnergyClearing,
        Investor,
        Parent,
        ComputeMarket,
        CapitalMarket,
        Ledger,
        Account,
        OutsideWorld,
    )
}

#: The entities every ODD description of this model must tabulate.
REQUIRED_ENTITIES = {
    "ModelBuilder",
    "EnterprisePopulation",
    "EnergySupplier",
    "Investor",
    "Parent",
    "ComputeMarket",
    "CapitalMarket",
    "Ledger",
}

ODD_SECTIONS = [
    "1 Purpose and patterns",
    "2 Entities, state variables and scales",
    "3 Process overview and scheduling",
    "4 Design concepts",
    "5 Initialisation",
    "6 Input data",
    "7 Submodels",
]
DESIGN_CONCEPTS = [
    "Basic principles",
    "Emergence",
    "Adaptation",
    "Objectives",
    "Learning",
    "Prediction",
    "Sensing",
    "Interaction",
    "Stochasticity",
    "Collectives",
    "Observation",
]


# ----------------------------------------------------------------------------- markdown
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")
_TICKED = re.compile(r"`([^`]+)`")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in _CELL_SPLIT.split(line.strip().strip("|"))]


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every markdown table in `text`: (header cells, rows of cells)."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines) - 1:
        if lines[i].lstrip().startswith("|") and _SEPARATOR.match(lines[i + 1].strip()):
            header = _cells(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            out.append((header, rows))
        else:
            i += 1
    return out


def sections(text: str, level: int) -> dict[str, str]:
    """Heading text -> the text under it, up to the next heading of the same or a higher
    level (headings inside fenced code are not headings)."""
    out: dict[str, str] = {}
    current = None
    body: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"^(#+) (.*)$", line)
        if m and len(m.group(1)) <= level:
            if current is not None:
                out[current] = "\n".join(body)
            current = m.group(2).strip() if len(m.group(1)) == level else None
            body = []
        elif current is not None:
            body.append(line)
    if current is not None:
        out[current] = "\n".join(body)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(text: str) -> list[str]:
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"^#+ (.*)$", line)
        if m:
            out.append(m.group(1).strip())
    return out


# ----------------------------------------------------------------------------- the model
@pytest.fixture(scope="module")
def model() -> AIEcosystemModel:
    m = AIEcosystemModel(load_config("baseline", overrides=OVERRIDES), rng=1)
    for _ in range(STEPS):
        m.step()
    return m


def instances(m: AIEcosystemModel) -> dict[str, list]:
    """Real instances of each documented class in a model that has run."""
    b = m.builders
    return {
        "AIEcosystemModel": [m],
        "ModelBuilder": list(b),
        "Strategy": [x.strategy for x in b],
        "ReleasedModel": [r for x in b for r in x.released],
        "TrainingRun": [x.training for x in b if x.training is not None],
        "EnterprisePopulation": [m.enterprises],
        "AdoptionNetwork": [m.network],
        "Offers": [m.offers],
        "EnergySupplier": list(m.suppliers),
        "EnergyMarket": [m.energy_market],
        "EnergyClearing": [m.energy],
        "Investor": list(m.investors),
        "Parent": [x.parent for x in b if x.parent is not None],
        "ComputeMarket": [m.compute_market],
        "CapitalMarket": [m.capital_market],
        "Ledger": [m.ledger],
        "Account": [m.energy_exchange],
        "OutsideWorld": list(m.ledger.outside.values()),
    }


def set_in_source(cls: type, name: str) -> bool:
    """Whether the class's source assigns `self.<name>`, declares it as a field or defines it
    (a property or method): the fallback for attributes set only lazily."""
    source = inspect.getsource(cls)
    n = re.escape(name)
    return bool(
        re.search(rf"\bself\.{n}\s*(:[^=\n]*)?(=|\+=|-=|\*=)", source)
        or re.search(rf"^\s+{n}\s*:", source, re.MULTILINE)
        or re.search(rf"^\s+def {n}\b", source, re.MULTILINE)
    )


# ----------------------------------------------------------------------------- docs/odd.md
def odd_state_variables() -> dict[str, list[str]]:
    """Class name -> the attribute names its section-2 tables list."""
    text = ODD.read_text()
    body = next(v for k, v in sections(text, 2).items() if k.startswith("2 "))
    out: dict[str, list[str]] = {}
    for header, rows in tables(body):
        named = _TICKED.findall(header[0])
        if not named:
            continue  # not a state-variable table (e.g. the overview of entities)
        cls = named[0]
        for row in rows:
            for name in _TICKED.findall(row[0]):
                name = name.removeprefix(f"{cls}.")
                out.setdefault(cls, []).append(name)
    return out


def test_the_odd_sections_follow_the_protocol():
    text = ODD.read_text()
    top = [h for h in headings(text) if re.match(r"^\d+ ", h)]
    assert top == ODD_SECTIONS, f"docs/odd.md's sections are {top}, expected {ODD_SECTIONS}"
    concepts = [re.sub(r"^4\.\d+ ", "", h) for h in headings(text) if re.match(r"^4\.\d+ ", h)]
    assert concepts == DESIGN_CONCEPTS, (
        f"docs/odd.md's design concepts are {concepts}, expected {DESIGN_CONCEPTS}"
    )


def test_every_state_variable_in_the_odd_exists_in_the_code(model):
    documented = odd_state_variables()
    unknown = sorted(set(documented) - set(CLASSES))
    assert not unknown, (
        f"docs/odd.md has state-variable tables for classes this test does not know: {unknown}; "
        "add them to CLASSES and instances() in tests/test_docs.py"
    )
    uncovered = sorted(REQUIRED_ENTITIES - set(documented))
    assert not uncovered, f"docs/odd.md has no state-variable table for: {uncovered}"

    found = instances(model)
    missing = []
    for cls_name, names in documented.items():
        objects = found[cls_name]
        wrong = {type(o).__name__ for o in objects} - {cls_name}
        assert not wrong, f"instances() gives {wrong} for {cls_name}"
        for name in names:
            if any(hasattr(o, name) for o in objects):
                continue
            if set_in_source(CLASSES[cls_name], name):
                continue  # set only lazily, and not yet in this short run
            missing.append(f"{cls_name}.{name}")
    assert not missing, "docs/odd.md names state variables the code does not have: " + ", ".join(
        missing
    )


def test_the_odd_has_no_duplicate_rows():
    repeated = [
        f"{cls}.{name}"
        for cls, names in odd_state_variables().items()
        for name in sorted(set(names))
        if names.count(name) > 1
    ]
    assert not repeated, f"docs/odd.md lists these twice: {repeated}"


def test_the_odd_links_resolve():
    text = ODD.read_text()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = ODD if not path else (ODD.parent / path).resolve()
        if not file.exists():
            broken.append(f"{target} (no file {path})")
            continue
        if anchor and anchor not in {slug(h) for h in headings(file.read_text())}:
            broken.append(f"{target} (no heading with anchor #{anchor} in {path or 'odd.md'})")
    assert not broken, "docs/odd.md has broken links: " + "; ".join(broken)


# ----------------------------------------------------------------------------- docs/outputs.md
PLACEHOLDERS = {"archetype": "|".join(ARCHETYPES), "size": "|".join(SIZE_CLASSES)}


def pattern(documented: str) -> re.Pattern:
    """A documented name as a regex: each `<placeholder>` stands for the values it takes
    (archetypes, size classes) or, when unknown, any name."""
    parts = re.split(r"(<[A-Za-z_]+>)", documented)
    regex = "".join(
        f"(?:{PLACEHOLDERS.get(p[1:-1], '[A-Za-z0-9_.+-]+')})"
        if p.startswith("<") and p.endswith(">")
        else re.escape(p)
        for p in parts
    )
    return re.compile(regex)


def documented_names(section: str) -> list[str]:
    """The backticked names in the first column of every table of a section."""
    return [name for _, rows in tables(section) for row in rows for name in _TICKED.findall(row[0])]


def outputs_section(name: str) -> str:
    found = sections(OUTPUTS.read_text(), 2)
    assert name in found, f"docs/outputs.md has no section '## {name}'"
    return found[name]


def compare(where: str, actual: list[str], documented: list[str]) -> list[str]:
    """Problems: names in `actual` no documented pattern matches, and documented patterns
    that match nothing in `actual`."""
    patterns = {d: pattern(d) for d in documented}
    problems = [
        f"{where}: `{a}` is not documented"
        for a in actual
        if not any(p.fullmatch(a) for p in patterns.values())
    ]
    problems += [
        f"{where}: `{d}` is documented but not written"
        for d, p in patterns.items()
        if not any(p.fullmatch(a) for a in actual)
    ]
    return problems


@pytest.fixture(scope="module")
def result():
    return run_model(load_config("baseline", overrides=OVERRIDES), seed=1)


def test_every_output_is_documented_and_every_documented_output_is_written(result, tmp_path):
    write_run(result, tmp_path)
    run_json = json.loads((tmp_path / "run.json").read_text())
    problems = []
    for section, actual in (
        ("model.parquet", list(result.model.columns)),
        ("firms.parquet", list(result.firms.columns)),
        ("strategies.parquet", list(result.strategies.columns)),
        ("run.json", list(run_json)),
    ):
        problems += compare(section, actual, documented_names(outputs_section(section)))
    # every key of the run summary is written to run.json
    problems += [
        f"run.json: summary key `{k}` is not written" for k in result.summary if k not in run_json
    ]
    assert not problems, "docs/outputs.md and the outputs disagree:\n" + "\n".join(problems)


def sweep_section() -> str | None:
    """The section of docs/outputs.md that documents a sweep's files, if there is one."""
    for heading, body in sections(OUTPUTS.read_text(), 2).items():
        if "summary.parquet" in heading or "sweep" in heading.lower():
            return body
    return None


def sweep_columns() -> tuple[list[str], list[str]]:
    """Columns of a sweep's per-run summary and monthly tables, from two runs of three months
    through the runner (no design parameters: those are named by each experiment spec)."""
    from aiecosim.experiments.runner import run_task

    summary, monthly = [], []
    for replicate, seed in enumerate((1, 2)):
        task = {
            "run": f"p000000-r{replicate:04d}",
            "point": 0,
            "replicate": replicate,
            "seed": seed,
            "scenario": "baseline",
            "overrides": OVERRIDES,
            "params": {},
            "thin": 1,
        }
        out = run_task(task)
        assert out["ok"], out.get("traceback")
        summary += [c for c in out["summary"].columns if c not in summary]
        monthly += [c for c in out["monthly"].columns if c not in monthly]
    return summary, monthly


def test_sweep_outputs_are_documented():
    body = sweep_section()
    if body is None:
        pytest.skip("docs/outputs.md has no section for a sweep's files yet")
    documented = documented_names(body)
    summary, monthly = sweep_columns()
    patterns = [pattern(d) for d in documented + documented_names(outputs_section("model.parquet"))]
    problems = [
        f"sweep: `{c}` is not documented"
        for c in summary + monthly
        if not any(p.fullmatch(c) for p in patterns)
    ]
    assert not problems, "docs/outputs.md and the sweep outputs disagree:\n" + "\n".join(problems)
