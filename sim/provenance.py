"""Where an output came from: the aiecosim version, a hash of the model's source, the date and
the full resolved config.

Every command that writes a folder (run, sweep, validate, backtest, tournament) writes
`provenance.json` into it, so a table found months later can be traced to the code and the world
that made it. The source hash is a SHA-256 over the package's Python files and the scenario and
data files shipped with it (names and contents, in a fixed order), so any change to the model's
code or its shipped inputs changes it, while moving the checkout does not.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import platform
from pathlib import Path

from aiecosim.outputs import atomic_write

# What counts as the model's source: code, and the shipped scenarios, specs and observed data.
SOURCE_SUFFIXES = (".py", ".toml", ".csv")
PACKAGES = ("aiecosim", "aiecosim.agents", "aiecosim.experiments")
SUBPACKAGE_DIRS = ("agents", "experiments")


def version() -> str:
    from aiecosim import __version__

    return __version__


@functools.cache
def source_sha256() -> str:
    """SHA-256 of every source file of the installed package (relative name and bytes)."""
    import importlib

    roots = {p: Path(importlib.import_module(p).__path__[0]) for p in PACKAGES}
    return hash_tree(roots)


def hash_tree(roots: dict[str, Path]) -> str:
    """SHA-256 over the source files under each root, named `package:relative/path`, in sorted
    order, so the hash depends on names and contents and not on where the tree lies. The core
    package's own tree skips the subpackage folders (in a wheel they sit inside it) so each file
    is counted once."""
    digest = hashlib.sha256()
    for package, root in roots.items():
        files = sorted(
            p
            for p in root.rglob("*")
            if p.suffix in SOURCE_SUFFIXES and p.is_file() and "__pycache__" not in p.parts
        )
        if package == "aiecosim":
            files = [p for p in files if p.relative_to(root).parts[0] not in SUBPACKAGE_DIRS]
        for path in files:
            digest.update(f"{package}:{path.relative_to(root).as_posix()}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def describe(command: str, config=None, **extra) -> dict:
    """The provenance record of one output: version, source hash, date, command, config."""
    record = {
        "aiecosim_version": version(),
        "source_sha256": source_sha256(),
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "python": platform.python_version(),
        **extra,
    }
    if config is not None:
        record["config"] = config.model_dump(mode="json")
    return record


def write(out_dir: str | Path, command: str, config=None, **extra) -> dict:
    """Write provenance.json into `out_dir` (atomically) and return the record."""
    record = describe(command, config, **extra)
    text = json.dumps(record, indent=2, default=str)
    atomic_write(Path(out_dir) / "provenance.json", lambda p: p.write_text(text))
    return record


def version_line() -> str:
    """What `aiecosim --version` prints."""
    return f"aiecosim {version()} (source {source_sha256()[:12]})"
