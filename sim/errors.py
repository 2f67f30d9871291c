"""The errors the command line catches, and the scenario list it prints, in a module that
imports nothing heavy: `aiecosim --help` and `aiecosim scenarios` answer without loading numpy,
pandas or pydantic."""

from __future__ import annotations

import tomllib
from importlib import resources


class ConfigError(ValueError):
    """Bad user input: the message is one line fit to show as it is."""


class BooksError(RuntimeError):
    """The model's accounts do not balance: a bug, never bad input."""


def scenario_dir():
    return resources.files("aiecosim.experiments") / "scenarios"


def list_scenarios() -> dict[str, str]:
    """Scenario name -> one-line description, from the shipped TOML files."""
    out = {}
    for entry in sorted(scenario_dir().iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text())
            out[entry.name[:-5]] = data.get("scenario", {}).get("description", "")
    return out
