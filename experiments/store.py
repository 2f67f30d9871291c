"""The results store of a sweep: a folder that survives being killed at any moment.

    DIR/manifest.json            spec, and the sweep's fingerprint: the spec's hash, the hash of
                                 the resolved base config and the model's source hash; package
                                 version, start and end
    DIR/provenance.json          version, source hash, date and the resolved base config
    DIR/points.parquet           the design: one row per point
    DIR/runs/<run>.monthly.parquet   the run's monthly model table (thinned as the spec says)
    DIR/runs/<run>.summary.parquet   one row: point, replicate, seed, parameters, summary outputs
    DIR/runs/<run>.sha256        SHA-256 of the two files above (`sha256sum -c` reads it)
    DIR/failed/<run>.json        traceback of a run that raised (retried on the next start)
    DIR/timings.jsonl            wall seconds per run (kept apart: results are byte-identical
                                 whatever the backend, timings are not)
    DIR/.lock                    pid and host of the sweep writing the folder, while it runs

Every file is written to a temporary name and renamed into place; a run's monthly table, then
its summary, then its checksum file are written, and a run counts as done only when its checksum
file matches both tables. So a sweep killed at any moment loses at most the runs in flight, a
restart never runs a finished run twice, and a damaged run (a truncated or altered file) is run
again rather than counted.

A folder is reopened only for the same sweep: the same spec, the same resolved base config (an
edited scenario file changes it) and the same model source. Only one sweep writes a folder at a
time (DIR/.lock, created with O_CREAT | O_EXCL); the lock of a sweep that was killed is taken
over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from aiecosim import provenance
from aiecosim.agents.strategy import ARCHETYPES
from aiecosim.config import ConfigError, load_config
from aiecosim.experiments.spec import ExperimentSpec
from aiecosim.outputs import atomic_write
from pydantic import ValidationError

MANIFEST = "manifest.json"
LOCK = ".lock"
RUN_ID = re.compile(r"p\d{6}-r\d{4}")
FINGERPRINT = ("spec_hash", "config_sha256", "source_sha256")
# Columns every run summary has (analysis needs them); a summary without them is not a run's.
SUMMARY_KEYS = (
    "run",
    "point",
    "replicate",
    "seed",
    "winner_archetype",
    *(f"{k}_{a}" for a in ARCHETYPES for k in ("survived", "firm_survival", "final_share")),
)
MONTHLY_KEYS = (
    "run",
    "point",
    "replicate",
    "seed",
    "month",
    "date",
    *(f"share_revenue_{a}" for a in ARCHETYPES),
)


class StoreError(Exception):
    """A results folder that cannot be used as asked: the message says why."""


def run_id(point: int, replicate: int) -> str:
    return f"p{point:06d}-r{replicate:04d}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def base_config(spec: ExperimentSpec):
    """The world every point of the sweep starts from (each point's levers go on top)."""
    try:
        return load_config(spec.experiment.scenario, overrides=spec.overrides({}))
    except ConfigError as err:
        raise StoreError(f"the spec's base config is not valid: {err}") from None


def config_sha256(config) -> str:
    """SHA-256 of the resolved config as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(spec: ExperimentSpec, config=None) -> dict[str, str]:
    """What the results depend on: the spec, the resolved base config, the model's source."""
    return {
        "spec_hash": spec.digest(),
        "config_sha256": config_sha256(config if config is not None else base_config(spec)),
        "source_sha256": provenance.source_sha256(),
    }


def fingerprint_mismatch(root: Path, stored: dict, now: dict[str, str]) -> str | None:
    """None when a stored manifest may be resumed with `now`; else the one-line reason."""
    missing = [k for k in FINGERPRINT if not stored.get(k)]
    if missing:
        return (
            f"{root} was written by an older aiecosim that did not record "
            f"{' and '.join(missing)}, so resuming cannot tell whether its runs come from the "
            "same spec, scenario and model version as this sweep; give this sweep another "
            "--out (nothing in this folder was changed)"
        )
    changes = []
    if stored["spec_hash"] != now["spec_hash"]:
        changes.append(
            f"a different spec (hash {stored['spec_hash']}, this spec {now['spec_hash']})"
        )
    if stored["config_sha256"] != now["config_sha256"]:
        changes.append(
            f"a different base config (hash {stored['config_sha256'][:12]}, now "
            f"{now['config_sha256'][:12]}: was the scenario file edited?)"
        )
    if stored["source_sha256"] != now["source_sha256"]:
        changes.append(
            f"a different model version (source hash {stored['source_sha256'][:12]}, this "
            f"aiecosim {now['source_sha256'][:12]})"
        )
    if not changes:
        return None
    return (
        f"{root} holds results of {' and of '.join(changes)}; resuming would mix them: use "
        "another --out, or restore the spec, scenario and code those results came from "
        "(see its manifest.json and provenance.json); nothing in this folder was changed"
    )


# ---------------------------------------------------------------------------- the lock
def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def pid_alive(pid: int, start: str | None = None) -> bool:
    """Whether process `pid` runs (a zombie does not; a pid reused by a process started at
    another time than `start` does not either)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        if re.search(r"^State:\s+Z", status, re.M):
            return False
    except OSError:
        pass
    if start is not None:
        now = _process_start(pid)
        if now is not None and now != start:
            return False
    return True


@dataclass
class SweepLock:
    """DIR/.lock, created with O_CREAT | O_EXCL and holding the pid and host of the sweep that
    writes the folder. A second sweep on the folder is refused while that pid runs; the lock of
    a killed sweep (its pid gone, on this host) is taken over."""

    root: Path
    held: bool = False
    created_root: bool = False
    took_over: dict | None = field(default=None, repr=False)

    @property
    def path(self) -> Path:
        return self.root / LOCK

    def acquire(self) -> SweepLock:
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root} exists and is not a folder")
        if not self.root.exists():
            self.root.mkdir(parents=True)
            self.created_root = True
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "start": _process_start(os.getpid()),
            "since": _now(),
        }
        text = json.dumps(me)
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            self.held = True
            return self
        raise StoreError(f"{self.root}: could not take {LOCK} (another sweep keeps taking it)")

    def _take_over_if_stale(self) -> None:
        try:
            text = self.path.read_text()
            holder = json.loads(text)
            pid = int(holder["pid"])
        except FileNotFoundError:
            return  # released meanwhile: try again
        except (OSError, ValueError, KeyError, TypeError):
            # being written this instant, or garbage: garbage older than a minute is stale
            try:
                age = dt.datetime.now().timestamp() - self.path.stat().st_mtime
            except FileNotFoundError:
                return
            if age < 60:
                raise StoreError(
                    f"{self.root} is locked by another sweep ({self.path} is being written); "
                    "wait for it, or remove the file if no sweep runs on this folder"
                ) from None
            holder, pid, text = {"pid": "?", "host": "?"}, -1, None
        host = holder.get("host")
        if pid > 0 and host != socket.gethostname():
            raise StoreError(
                f"{self.root} is in use by another sweep (pid {pid} on host {host}, since "
                f"{holder.get('since')}); wait for it to finish, or if it no longer runs, "
                f"remove {self.path}"
            )
        if pid_alive(pid, holder.get("start")):
            raise StoreError(
                f"{self.root} is in use by another sweep (pid {pid}, running since "
                f"{holder.get('since')}); wait for it to finish or stop it, then run the same "
                "command to resume"
            )
        # Stale: move it aside (atomic), check that what we moved is the stale lock we read
        # and not one a rival has just created, then retry the exclusive create.
        aside = self.root / f"{LOCK}.stale-{os.getpid()}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            moved = aside.read_text()
        except OSError:
            moved = None
        if text is not None and moved != text:
            try:  # a live rival's lock: put it back unless a lock exists again
                os.link(aside, self.path)
            except FileExistsError:
                pass
        else:
            self.took_over = holder
        aside.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            try:
                if json.loads(self.path.read_text()).get("pid") == os.getpid():
                    self.path.unlink()
            except (OSError, ValueError):
                pass
            self.held = False
        if self.created_root:  # a refused start leaves no empty folder behind
            try:
                self.root.rmdir()
            except OSError:
                pass  # not empty: results were written

    def __enter__(self) -> SweepLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ---------------------------------------------------------------------------- the store
class ResultsStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.runs = self.root / "runs"
        self.failed = self.root / "failed"

    def lock(self) -> SweepLock:
        return SweepLock(self.root)

    # ------------------------------------------------------------------ opening
    def open(self, spec: ExperimentSpec, points: pd.DataFrame, package_version: str) -> dict:
        """Create the store, or reopen it for the same sweep (same spec, base config and model
        source); refuse anything else without touching a file in it."""
        manifest_path = self.root / MANIFEST
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root} exists and is not a folder")
        config = base_config(spec)
        now = fingerprint(spec, config)
        rounded = list(points.attrs.get("rounded_to_int", []))
        if manifest_path.exists():
            manifest = self.read_manifest()
            reason = fingerprint_mismatch(self.root, manifest, now)
            if reason is not None:
                raise StoreError(reason)
            manifest["resumed"] = manifest.get("resumed", []) + [_now()]
            manifest["finished"] = None
        else:
            if self.root.exists() and any(p.name != LOCK for p in self.root.iterdir()):
                raise StoreError(
                    f"{self.root} is not empty and has no {MANIFEST}: not an aiecosim results "
                    "folder; nothing in it was changed"
                )
            manifest = {
                "kind": "aiecosim-sweep",
                "spec": spec.model_dump(mode="json"),
                **now,
                "package_version": package_version,
                "n_points": len(points),
                "replicates": spec.experiment.replicates,
                "n_runs": len(points) * spec.experiment.replicates,
                "rounded_to_int": rounded,
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
                config,
                spec=spec.model_dump(mode="json"),
                spec_hash=now["spec_hash"],
                config_sha256=now["config_sha256"],
            )
        if not (self.root / "points.parquet").exists():
            atomic_write(self.root / "points.parquet", lambda p: points.to_parquet(p))
        self.write_manifest(manifest)
        return manifest

    def read_manifest(self) -> dict:
        path = self.root / MANIFEST
        if not self.root.exists():
            raise StoreError(f"{self.root} does not exist")
        if not self.root.is_dir():
            raise StoreError(f"{self.root} is a file, not a results folder")
        try:
            manifest = json.loads(path.read_text())
        except FileNotFoundError:
            raise StoreError(
                f"{self.root} has no {MANIFEST}: not an aiecosim results folder"
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise StoreError(f"{path} is damaged (not valid JSON); nothing was changed") from None
        except OSError as err:
            raise StoreError(f"cannot read {path}: {err.strerror or err}") from None
        if not isinstance(manifest, dict) or manifest.get("kind") != "aiecosim-sweep":
            raise StoreError(f"{path} is not the manifest of an aiecosim sweep")
        return manifest

    def read_spec(self, manifest: dict | None = None) -> ExperimentSpec:
        """The spec the manifest records, or a one-line StoreError."""
        manifest = manifest if manifest is not None else self.read_manifest()
        path = self.root / MANIFEST
        if "spec" not in manifest:
            raise StoreError(f"{path} has no 'spec': the sweep's spec is lost; nothing was read")
        try:
            return ExperimentSpec.model_validate(manifest["spec"])
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "spec"
            msg = first["msg"].removeprefix("Value error, ")
            raise StoreError(f"{path}: the recorded spec is not valid: {loc}: {msg}") from None

    def read_points(self) -> pd.DataFrame:
        path = self.root / "points.parquet"
        if not path.exists():
            raise StoreError(f"{self.root} has no points.parquet: the sweep's design is lost")
        try:
            return pd.read_parquet(path)
        except Exception as err:  # pyarrow raises its own types for a damaged file
            raise StoreError(f"{path} is damaged ({type(err).__name__}: {err})") from None

    def write_manifest(self, manifest: dict) -> None:
        text = json.dumps(manifest, indent=2)
        atomic_write(self.root / MANIFEST, lambda p: p.write_text(text))

    def finish(self) -> None:
        manifest = self.read_manifest()
        manifest["finished"] = _now()
        self.write_manifest(manifest)

    # ------------------------------------------------------------------ runs
    def paths(self, rid: str) -> tuple[Path, Path, Path]:
        """The run's monthly table, summary and checksum file."""
        return (
            self.runs / f"{rid}.monthly.parquet",
            self.runs / f"{rid}.summary.parquet",
            self.runs / f"{rid}.sha256",
        )

    def verify(self, rid: str) -> str | None:
        """None when the run's files are whole (their SHA-256 match its checksum file), else
        why not."""
        monthly, summary, sums = self.paths(rid)
        try:
            lines = sums.read_text().splitlines()
        except FileNotFoundError:
            return "no checksum file (the run was cut off while being stored)"
        except (OSError, UnicodeDecodeError) as err:
            return f"unreadable checksum file ({err})"
        expected = {}
        for line in lines:
            digest, _, name = line.partition("  ")
            expected[name] = digest
        for path in (monthly, summary):
            if path.name not in expected:
                return f"checksum file does not list {path.name}"
            try:
                actual = _sha256_file(path)
            except FileNotFoundError:
                return f"{path.name} is missing"
            except OSError as err:
                return f"{path.name} is unreadable ({err.strerror or err})"
            if actual != expected[path.name]:
                return f"{path.name} does not match its checksum (damaged or altered)"
        return None

    def scan(self) -> tuple[set[str], dict[str, str]]:
        """(runs stored whole, {damaged run: why}): a run is whole when its checksum file
        exists and matches both tables; a run with any file in runs/ that is not whole is
        damaged (and is run again by the next start)."""
        names = {p.name.split(".", 1)[0] for p in self.runs.glob("*.parquet")}
        names |= {p.name.removesuffix(".sha256") for p in self.runs.glob("*.sha256")}
        whole, damaged = set(), {}
        for rid in sorted(names):
            reason = self.verify(rid)
            if reason is None:
                whole.add(rid)
            else:
                damaged[rid] = reason
        return whole, damaged

    def done(self) -> set[str]:
        """Runs stored whole: their checksum file exists and matches both tables."""
        return self.scan()[0]

    def damaged(self) -> dict[str, str]:
        """Runs with a file in runs/ that are not stored whole, and why."""
        return self.scan()[1]

    def failures(self) -> set[str]:
        return {p.stem for p in self.failed.glob("*.json")}

    def failure_reasons(self) -> dict[str, str]:
        """{run that raised: the first line of its error}, read from failed/<run>.json (a
        record that cannot be read says so instead)."""
        reasons = {}
        for path in sorted(self.failed.glob("*.json")):
            try:
                error = str(json.loads(path.read_text()).get("error", "")).strip()
            except (OSError, ValueError, AttributeError):
                error = "its failure record is unreadable"
            reasons[path.stem] = error.splitlines()[0] if error else "no error message recorded"
        return reasons

    def write_run(self, rid: str, summary: pd.DataFrame, monthly: pd.DataFrame) -> None:
        monthly_path, summary_path, sums_path = self.paths(rid)
        atomic_write(monthly_path, lambda p: monthly.to_parquet(p, index=False))
        atomic_write(summary_path, lambda p: summary.to_parquet(p, index=False))
        # last: the run counts as done once this names both files' hashes
        text = "".join(f"{_sha256_file(p)}  {p.name}\n" for p in (monthly_path, summary_path))
        atomic_write(sums_path, lambda p: p.write_text(text))
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


# ---------------------------------------------------------------------------- reading
@dataclass
class LoadedResults:
    runs: pd.DataFrame  # one row per whole run
    monthly: pd.DataFrame  # their monthly tables
    skipped: dict[str, str]  # run (or file) -> why it was left out
    failed: dict[str, str] = field(default_factory=dict)  # run that raised -> its error


def failed_runs_message(root: str | Path, failed: dict[str, str]) -> str:
    """One line: how many runs raised, where their errors are, and the first of them."""
    first = min(failed)
    return (
        f"{len(failed)} run(s) failed; their errors are in {Path(root) / 'failed'}/ (one JSON "
        f"file a run; {first}: {failed[first]})"
    )


def _read_run(store: ResultsStore, rid: str, checksums: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    monthly_path, summary_path, sums_path = store.paths(rid)
    if checksums or sums_path.exists():
        reason = store.verify(rid)
        if reason is not None:
            raise ValueError(reason)
    summary = pd.read_parquet(summary_path)
    missing = [c for c in SUMMARY_KEYS if c not in summary.columns]
    if missing:
        raise ValueError(f"not a run summary (no column {', '.join(missing)})")
    if len(summary) != 1 or summary["run"].iloc[0] != rid:
        raise ValueError(f"not the summary of run {rid}")
    monthly = pd.read_parquet(monthly_path)
    missing = [c for c in MONTHLY_KEYS if c not in monthly.columns]
    if missing:
        raise ValueError(f"not a monthly table (no column {', '.join(missing)})")
    return summary, monthly


def read_results(root: str | Path) -> LoadedResults:
    """The store's whole runs; a damaged run (checksum mismatch, truncated or unreadable file)
    or a file that is not a run's is left out and listed in `skipped` with the reason, and runs
    that raised are listed in `failed` with their error. Runs of older stores, written before
    runs had checksum files, are read when they read cleanly. A StoreError when no run
    finished, saying how many failed and where their errors are."""
    store = ResultsStore(root)
    checksums = "config_sha256" in store.read_manifest()  # this version's stores have them
    if not store.runs.is_dir():
        raise StoreError(f"{store.root} has no runs/ folder: no run was stored")
    summaries, monthlies, skipped = [], [], {}
    for path in sorted(store.runs.glob("*.summary.parquet")):
        rid = path.name.removesuffix(".summary.parquet")
        if not RUN_ID.fullmatch(rid):
            skipped[path.name] = "not a run of this sweep (a foreign file)"
            continue
        try:
            summary, monthly = _read_run(store, rid, checksums)
        except Exception as err:  # pyarrow's errors for a truncated file are its own types
            skipped[rid] = str(err).splitlines()[0] if str(err) else type(err).__name__
            continue
        summaries.append(summary)
        monthlies.append(monthly)
    finished = {str(summary["run"].iloc[0]) for summary in summaries}
    failed = {k: v for k, v in store.failure_reasons().items() if k not in finished}
    if not summaries:
        detail = f" ({len(skipped)} damaged or foreign file(s) left out)" if skipped else ""
        if failed:
            raise StoreError(
                f"{store.root} has no finished runs{detail}: "
                f"{failed_runs_message(store.root, failed)}; fix the cause and run the sweep "
                "again"
            )
        raise StoreError(f"{store.root} has no finished runs yet{detail}")
    runs = pd.concat(summaries, ignore_index=True)
    monthly = pd.concat(monthlies, ignore_index=True)
    return LoadedResults(
        runs.sort_values(["point", "replicate"], ignore_index=True), monthly, skipped, failed
    )


# ---------------------------------------------------------------------------- load_results
#: Units of a sweep's per-run measures (the summary columns, the archetype or strategy taken
#: out of the name). Bools count as 0/1 in the tidy form.
SUMMARY_UNITS: dict[str, str] = {
    "alive": "firms",
    "survivors": "firms",
    "survived": "–",
    "final_share": "fraction",
    "cum_profit_usd": "USD",
    "firm_survival": "fraction",
    "started_strategy": "firms",
    "alive_strategy": "firms",
    "consumer_surplus_usd": "USD per month",
    "consumer_surplus_usd_total": "USD",
    "hhi_revenue": "0–10,000",
    "open_lag_months": "months",
    "adoption_rate": "fraction",
    "adopters_positive_roi_share": "fraction",
    "dc_grid_share": "fraction",
    "token_price_usd_per_mtok": "USD per million tokens",
    "sentiment_min": "index",
    "corrections": "months",
    "exits": "firms",
    "entrants": "firms",
}

#: Units of the monthly measures: the model table's columns, as docs/outputs.md gives them
#: (`<size>` for the enterprise size class; the archetype is taken out of the name).
MONTHLY_UNITS: dict[str, str] = {
    "share_revenue": "fraction",
    "share_customers": "fraction",
    "alive": "firms",
    "n_firms_alive": "firms",
    "hhi_revenue": "0–10,000",
    "frontier_capability": "index 0–100",
    "best_open_capability": "index 0–100",
    "open_lag_months": "months",
    "frontier_training_flop": "FLOP",
    "token_price_usd_per_mtok": "USD per million tokens",
    "compute_price_usd_per_gpu_hour": "USD per H100e-hour",
    "energy_price_usd_per_mwh": "USD per MWh",
    "compute_utilisation": "fraction",
    "installed_gpus_h100e": "H100e",
    "usable_gpus_h100e": "H100e",
    "dc_energy_twh_per_year": "TWh per year",
    "dc_grid_share": "fraction",
    "grid_demand_twh_per_year": "TWh per year",
    "adoption_rate": "fraction",
    "adoption_rate_<size>": "fraction",
    "spend_usd_<size>": "USD per month",
    "customer_share_<size>": "fraction",
    "unserved_mtok": "Mtok per month",
    "customers_turned_away": "enterprise cohorts",
    "adopters_positive_roi_share": "fraction",
    "churn_rate": "fraction per month",
    "switch_rate": "fraction per month",
    "provider_churn_rate": "fraction per month",
    "cum_ai_capex_usd": "USD",
    "cum_ai_revenue_usd": "USD",
    "ai_revenue_usd_per_year": "USD per year",
    "required_revenue_usd_per_year": "USD per year",
    "investor_capital_usd": "USD",
    "investor_stakes_usd": "USD",
    "investor_return": "fraction per month",
    "revenue_multiple": "valuation ÷ annual revenue",
    "funding_usd": "USD",
    "parent_transfers_usd": "USD",
    "sentiment": "index",
    "investor_thesis_mean": "0–1",
    "investor_disagreement": "0–0.5",
    "correction": "–",
    "entrants": "firms",
    "exits": "firms",
    "profit_usd": "USD per month",
    "cloud_revenue_usd": "USD per month",
    "cloud_profit_usd": "USD per month",
    "cloud_cash_usd": "USD",
    "energy_revenue_usd": "USD per month",
    "energy_profit_usd": "USD per month",
    "energy_cash_usd": "USD",
    "consumer_surplus_usd": "USD per month",
}

#: Per-run outcomes that are not numbers: in the tidy runs table they stay columns of the run
#: (next to its parameters), not measures.
RUN_OUTCOMES = ("winner_archetype", "winner_strategy", "profit_winner_archetype", "exit_months")
RUN_KEYS = ("run", "point", "replicate", "seed")
_SIZE = re.compile(r"_(small|medium|large)$")
_ARCHETYPE_IN_NAME = re.compile(r"_(" + "|".join(ARCHETYPES) + r")(?=_|$)")


def parse_exit_months(value) -> list[int]:
    """A stored `exit_months` cell ("61,69,48" or "") as a list of ints (in the order of the
    firms' creation); a list already parsed is returned as ints."""
    if isinstance(value, list | tuple) or hasattr(value, "tolist"):
        return [int(v) for v in list(value)]
    if value is None or (isinstance(value, float) and value != value):
        return []
    return [int(v) for v in str(value).split(",") if v.strip()]


def split_measure(column: str) -> tuple[str, str | None, str | None]:
    """(measure, archetype, strategy) of a wide column: `survived_frontier_lab` ->
    (`survived`, `frontier_lab`, None); `token_price_frontier_lab_usd_per_mtok` ->
    (`token_price_usd_per_mtok`, `frontier_lab`, None); `alive_strategy__lean` ->
    (`alive_strategy`, None, `lean`); `hhi_revenue` -> (`hhi_revenue`, None, None)."""
    if "_strategy__" in column:
        measure, _, strategy = column.partition("__")
        return measure, None, strategy
    m = _ARCHETYPE_IN_NAME.search(column)
    if m is None:
        return column, None, None
    return column[: m.start()] + column[m.end() :], m.group(1), None


def measure_unit(measure: str, monthly: bool) -> str:
    """The unit of a measure (`""` when unknown)."""
    table = MONTHLY_UNITS if monthly else SUMMARY_UNITS
    if measure in table:
        return table[measure]
    generic = _SIZE.sub("_<size>", measure)
    if generic in table:
        return table[generic]
    return (SUMMARY_UNITS if monthly else MONTHLY_UNITS).get(measure, "")


def _spec_of(root: str | Path) -> ExperimentSpec | None:
    try:
        store = ResultsStore(root)
        return store.read_spec(store.read_manifest())
    except StoreError:
        return None


def typed_parameters(frame: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """Levers whose config field is an integer (the schema says so, `lever_type`) as int64
    when every value is whole (a store written before levers were rounded may hold 24.0);
    other levers keep the type they were stored with."""
    from aiecosim.experiments.design import lever_type

    for name in params:
        if name not in frame.columns or lever_type(name) is not int:
            continue
        values = pd.to_numeric(frame[name], errors="coerce")
        if values.notna().all() and (values % 1 == 0).all():
            frame[name] = values.astype("int64")
    return frame


def _strategy_archetypes(spec: ExperimentSpec | None) -> dict[str, str]:
    """Strategy name -> archetype, from the sweep's base config (presets and variants)."""
    if spec is None:
        return {}
    try:
        return {n: s.archetype for n, s in base_config(spec).strategy_table().items()}
    except Exception:  # a config that no longer loads: strategies keep no archetype
        return {}


def tidy_runs(
    runs: pd.DataFrame, params: list[str], strategy_archetypes: dict[str, str] | None = None
) -> pd.DataFrame:
    """The wide runs table as one row per (run, archetype or strategy, measure): columns run,
    point, replicate, seed, the parameters, the run's non-numeric outcomes (winner_archetype,
    winner_strategy, profit_winner_archetype, exit_months), then archetype, strategy, measure
    and value (float; bools as 0/1). Units in ``attrs["units"]``."""
    ids = [c for c in (*RUN_KEYS, *params, *RUN_OUTCOMES) if c in runs.columns]
    measures = [c for c in runs.columns if c not in ids]
    long = runs[ids + measures].melt(
        id_vars=ids, value_vars=measures, var_name="column", value_name="value"
    )
    return _finish_tidy(long, strategy_archetypes or {}, monthly=False)


def tidy_monthly(monthly: pd.DataFrame, runs: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """The monthly tables as one row per (run, month, archetype, measure): columns run,
    point, replicate, seed, month, date, the run's parameters, archetype, measure and value
    (float; bools as 0/1). Units in ``attrs["units"]``."""
    keys = [c for c in (*RUN_KEYS, "month", "date") if c in monthly.columns]
    measures = [c for c in monthly.columns if c not in keys and c not in params]
    long = monthly[keys + measures].melt(
        id_vars=keys, value_vars=measures, var_name="column", value_name="value"
    )
    joined = [p for p in params if p in runs.columns]
    if joined:
        long = long.merge(runs[["run", *joined]], on="run", how="left")
        long = long[[*keys, *joined, "column", "value"]]
    return _finish_tidy(long, {}, monthly=True)


def _finish_tidy(long: pd.DataFrame, archetypes: dict[str, str], monthly: bool) -> pd.DataFrame:
    columns = long["column"].unique()
    split = {c: split_measure(c) for c in columns}
    column = long.pop("column")
    long["archetype"] = column.map(
        {c: (a if a is not None else archetypes.get(s)) for c, (_, a, s) in split.items()}
    ).astype("category")
    if not monthly:
        long["strategy"] = column.map({c: s for c, (_, _, s) in split.items()}).astype("category")
    long["measure"] = column.map({c: m for c, (m, _, _) in split.items()}).astype("category")
    value = long.pop("value")
    long["value"] = pd.to_numeric(value.astype(object), errors="coerce").astype("float64")
    long = long.reset_index(drop=True)  # NaN ("not defined") rows stay, as in the wide form
    long.attrs["units"] = {
        m: measure_unit(m, monthly) for m in sorted({m for m, _, _ in split.values()})
    }
    return long


def load_results(root: str | Path, tidy: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A results folder as two DataFrames, runs and monthly. Damaged runs are left out with a
    warning (`read_results` lists them).

    tidy=False (the default): the wide tables: runs has one row per finished run (run, point,
    replicate, seed, the parameters, the summary outputs), monthly the runs' monthly tables
    with the run's parameters after its keys.
    tidy=True: long tables, one value a row: runs as (run, point, replicate, seed,
    parameters..., winner_archetype, winner_strategy, profit_winner_archetype, exit_months,
    archetype, strategy, measure, value) and monthly as (run, point, replicate, seed, month,
    date, parameters..., archetype, measure, value); `attrs["units"]` maps each measure to its
    unit.

    In both forms `exit_months` is a list of ints and a lever whose config field is an integer
    is an int64 column."""
    loaded = read_results(root)
    if loaded.skipped:
        warnings.warn(
            f"{root}: {len(loaded.skipped)} damaged run(s) left out: "
            + "; ".join(f"{k}: {v}" for k, v in sorted(loaded.skipped.items())[:5]),
            stacklevel=2,
        )
    if loaded.failed:
        warnings.warn(
            f"{root}: {failed_runs_message(root, loaded.failed)}; they are not in the tables",
            stacklevel=2,
        )
    spec = _spec_of(root)
    runs, monthly = loaded.runs.copy(), loaded.monthly
    if spec is not None:
        params = [p for p in spec.parameters if p in runs.columns]
    else:  # no readable spec: the columns between the run's keys and its outputs
        params = [c for c in runs.columns if "." in c]
    runs = typed_parameters(runs, params)
    if "exit_months" in runs.columns:
        runs["exit_months"] = runs["exit_months"].map(parse_exit_months).astype(object)
    if tidy:
        return (
            tidy_runs(runs, params, _strategy_archetypes(spec)),
            tidy_monthly(monthly, runs, params),
        )
    if params and "run" in monthly.columns:
        at = list(monthly.columns).index("seed") + 1 if "seed" in monthly.columns else 1
        extra = monthly[["run"]].merge(runs[["run", *params]], on="run", how="left")
        monthly = monthly.copy()
        for offset, name in enumerate(params):
            if name not in monthly.columns:
                monthly.insert(at + offset, name, extra[name].to_numpy())
    return runs, monthly
