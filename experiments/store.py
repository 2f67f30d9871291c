"""The results store of a sweep: a folder that survives being killed at any moment.

    DIR/manifest.json            spec, its hash, package version, source hash, start and end
    DIR/provenance.json          version, source hash, date and the resolved base config
    DIR/points.parquet           the design: one row per point
    DIR/runs/<run>.monthly.parquet   the run's monthly model table (thinned as the spec says)
    DIR/runs/<run>.summary.parquet   one row: point, replicate, seed, parameters, summary outputs
    DIR/failed/<run>.json        traceback of a run that raised (retried on the next start)
    DIR/timings.jsonl            wall seconds per run (kept apart: results are byte-identical
                                 whatever the backend, timings are not)

Every file is written to a temporary name and renamed into place; a run counts as done when its
summary file exists, and the summary is written after the monthly table. So a sweep killed at any
moment loses at most the runs in flight, and a restart never runs a finished run twice.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
from aiecosim import provenance
from aiecosim.config import load_config
from aiecosim.experiments.spec import ExperimentSpec
from aiecosim.outputs import atomic_write

MANIFEST = "manifest.json"


class StoreError(Exception):
    """A results folder that cannot be used as asked: the message says why."""


def run_id(point: int, replicate: int) -> str:
    return f"p{point:06d}-r{replicate:04d}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ResultsStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.runs = self.root / "runs"
        self.failed = self.root / "failed"

    # ------------------------------------------------------------------ opening
    def open(self, spec: ExperimentSpec, points: pd.DataFrame, package_version: str) -> dict:
        """Create the store, or reopen it for the same spec; refuse anything else without
        touching a file in it."""
        manifest_path = self.root / MANIFEST
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root} exists and is not a folder")
        if manifest_path.exists():
            manifest = self.read_manifest()
            if manifest.get("spec_hash") != spec.digest():
                raise StoreError(
                    f"{self.root} holds results of a different spec (hash "
                    f"{manifest.get('spec_hash')}, this spec {spec.digest()}); use another --out "
                    "or the spec those results came from"
                )
            manifest["resumed"] = manifest.get("resumed", []) + [_now()]
            manifest["finished"] = None
        else:
            if self.root.exists() and any(self.root.iterdir()):
                raise StoreError(
                    f"{self.root} is not empty and has no {MANIFEST}: not an aiecosim results "
                    "folder; nothing in it was changed"
                )
            manifest = {
                "kind": "aiecosim-sweep",
                "spec": spec.model_dump(mode="json"),
                "spec_hash": spec.digest(),
                "package_version": package_version,
                "source_sha256": provenance.source_sha256(),
                "n_points": len(points),
                "replicates": spec.experiment.replicates,
                "n_runs": len(points) * spec.experiment.replicates,
                "started": _now(),
                "finished": None,
            }
        self.root.mkdir(parents=True, exist_ok=True)
        self.runs.mkdir(exist_ok=True)
        self.failed.mkdir(exist_ok=True)
        if not (self.root / "provenance.json").exists():  # written once, by the first start
            provenance.write(
                self.root,
                "sweep",
                # the world every point starts from; each point's levers are in points.parquet
                load_config(spec.experiment.scenario, overrides=spec.overrides({})),
                spec=spec.model_dump(mode="json"),
                spec_hash=spec.digest(),
            )
        if not (self.root / "points.parquet").exists():
            atomic_write(self.root / "points.parquet", lambda p: points.to_parquet(p))
        self.write_manifest(manifest)
        return manifest

    def read_manifest(self) -> dict:
        path = self.root / MANIFEST
        try:
            manifest = json.loads(path.read_text())
        except FileNotFoundError:
            raise StoreError(
                f"{self.root} has no {MANIFEST}: not an aiecosim results folder"
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise StoreError(f"{path} is damaged (not valid JSON); nothing was changed") from None
        if not isinstance(manifest, dict) or manifest.get("kind") != "aiecosim-sweep":
            raise StoreError(f"{path} is not the manifest of an aiecosim sweep")
        return manifest

    def write_manifest(self, manifest: dict) -> None:
        text = json.dumps(manifest, indent=2)
        atomic_write(self.root / MANIFEST, lambda p: p.write_text(text))

    def finish(self) -> None:
        manifest = self.read_manifest()
        manifest["finished"] = _now()
        self.write_manifest(manifest)

    # ------------------------------------------------------------------ runs
    def done(self) -> set[str]:
        return {
            p.name.removesuffix(".summary.parquet") for p in self.runs.glob("*.summary.parquet")
        }

    def failures(self) -> set[str]:
        return {p.stem for p in self.failed.glob("*.json")}

    def write_run(self, rid: str, summary: pd.DataFrame, monthly: pd.DataFrame) -> None:
        atomic_write(
            self.runs / f"{rid}.monthly.parquet", lambda p: monthly.to_parquet(p, index=False)
        )
        atomic_write(
            self.runs / f"{rid}.summary.parquet", lambda p: summary.to_parquet(p, index=False)
        )
        failed = self.failed / f"{rid}.json"
        if failed.exists():
            failed.unlink()

    def write_failure(self, rid: str, info: dict) -> None:
        text = json.dumps({**info, "when": _now()}, indent=2)
        atomic_write(self.failed / f"{rid}.json", lambda p: p.write_text(text))

    def log_timing(self, rid: str, seconds: float) -> None:
        with open(self.root / "timings.jsonl", "a") as fh:
            fh.write(json.dumps({"run": rid, "seconds": round(seconds, 4)}) + "\n")

    def clear_temporaries(self) -> None:
        """Temporary files left by a killed writer are not results: remove them."""
        for folder in (self.root, self.runs, self.failed):
            for tmp in folder.glob(".*.tmp-*"):
                tmp.unlink(missing_ok=True)


def load_results(root: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A results folder as two DataFrames: runs (one row per finished run: point, replicate,
    seed, parameters, summary outputs) and monthly (the runs' monthly tables)."""
    store = ResultsStore(root)
    store.read_manifest()
    summaries = sorted(store.runs.glob("*.summary.parquet"))
    if not summaries:
        raise StoreError(f"{store.root} has no finished runs yet")
    try:
        runs = pd.concat([pd.read_parquet(p) for p in summaries], ignore_index=True)
        monthly = pd.concat(
            [pd.read_parquet(str(p).replace(".summary.", ".monthly.")) for p in summaries],
            ignore_index=True,
        )
    except (OSError, ValueError) as err:
        raise StoreError(f"{store.root}: a run file is damaged ({err})") from None
    return runs.sort_values(["point", "replicate"], ignore_index=True), monthly
