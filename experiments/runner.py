"""Running a sweep: tasks out to a backend, results into the store as they come back.

The backend only executes `run_task` on picklable task dicts: a local process pool by default,
or a Dask distributed cluster (`--scheduler ADDRESS`, any Dask deployment). Workers return
DataFrames; this process alone writes the store, so no two writers ever race. Because a run's
result depends only on its task (config and seed), the store's files are the same byte for byte
whatever the backend and the number of workers.

Local workers die with the process that started them: each runs a daemon thread that checks once
a second whether its parent is still there and exits at once when it is not, so a sweep killed
with SIGKILL leaves no orphan simulations burning CPU.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from aiecosim.agents.strategy import ARCHETYPES
from aiecosim.experiments.design import build_design, run_seed
from aiecosim.experiments.spec import MAX_GB, MAX_RUNS, ExperimentSpec, check_size
from aiecosim.experiments.store import ResultsStore, run_id

PARENT_POLL_SECONDS = 1.0


def make_tasks(spec: ExperimentSpec, points: pd.DataFrame) -> list[dict]:
    e = spec.experiment
    tasks = []
    columns = list(points.columns)
    # itertuples keeps each column's dtype (iterrows would make an integer lever a float)
    for point, row in zip(points.index, points.itertuples(index=False, name=None), strict=True):
        params = {
            k: (v.item() if hasattr(v, "item") else v) for k, v in zip(columns, row, strict=True)
        }
        for replicate in range(e.replicates):
            tasks.append(
                {
                    "run": run_id(int(point), replicate),
                    "point": int(point),
                    "replicate": replicate,
                    "seed": run_seed(e.seed, replicate),
                    "scenario": e.scenario,
                    "overrides": spec.overrides(params),
                    "params": params,
                    "thin": e.thin,
                }
            )
    return tasks


def summary_row(summary: dict, model: pd.DataFrame) -> dict:
    """The run's summary outputs as flat columns."""
    last = model.iloc[-1]
    row: dict = {}
    for a in ARCHETYPES:
        # survival: alive and viable at the end (ModelBuilder.viable)
        survivors = summary["survivors_by_archetype"][a]
        row[f"alive_{a}"] = int(last[f"alive_{a}"])
        row[f"survivors_{a}"] = survivors
        row[f"survived_{a}"] = survivors > 0
        row[f"final_share_{a}"] = summary["final_shares_by_archetype"][a]
        row[f"cum_profit_usd_{a}"] = summary["cumulative_profit_by_archetype_usd"][a]
    started = {a: 0 for a in ARCHETYPES}
    for counts in summary["strategies"].values():
        started[counts["archetype"]] += counts["started"]
    for a in ARCHETYPES:
        # the share of the archetype's firms (incumbents and entrants) alive and viable at the end
        row[f"firm_survival_{a}"] = (
            row[f"survivors_{a}"] / started[a] if started[a] else float("nan")
        )
    for name, counts in sorted(summary["strategies"].items()):
        row[f"started_strategy__{name}"] = counts["started"]
        row[f"alive_strategy__{name}"] = counts["survived"]
    winner = summary["winner"] or {}
    row["winner_archetype"] = winner.get("archetype", "none")
    row["winner_strategy"] = winner.get("strategy", "none")
    by_profit = summary.get("winner_by_profit") or {}
    row["profit_winner_archetype"] = by_profit.get("archetype", "none")
    row["consumer_surplus_usd"] = float(last["consumer_surplus_usd"])
    row["consumer_surplus_usd_total"] = summary["consumer_surplus_usd_total"]
    for key in (
        "hhi_revenue",
        "open_lag_months",
        "adoption_rate",
        "adopters_positive_roi_share",
        "dc_grid_share",
        "token_price_usd_per_mtok",
    ):
        row[key] = float(last[key])
    row["sentiment_min"] = float(model["sentiment"].min())
    row["corrections"] = int(model["correction"].sum())
    row["exits"] = len(summary["exits"])
    row["exit_months"] = ",".join(str(x["month"]) for x in summary["exits"])
    row["entrants"] = summary["entrants"]
    return row


def run_task(task: dict) -> dict:
    """Run one simulation; never raises (a failure comes back with its traceback)."""
    from aiecosim.config import load_config
    from aiecosim.outputs import run_model

    t0 = time.perf_counter()
    try:
        cfg = load_config(task["scenario"], overrides=task["overrides"])
        result = run_model(cfg, task["seed"])
        ident = {
            "run": task["run"],
            "point": task["point"],
            "replicate": task["replicate"],
            "seed": task["seed"],
        }
        summary = pd.DataFrame(
            [{**ident, **task["params"], **summary_row(result.summary, result.model)}]
        )
        monthly = result.model.iloc[:: task["thin"]].reset_index(drop=True)
        for key, value in reversed(ident.items()):
            monthly.insert(0, key, value)
        return {
            "run": task["run"],
            "ok": True,
            "summary": summary,
            "monthly": monthly,
            "seconds": time.perf_counter() - t0,
        }
    except Exception as err:  # a run that raises is recorded and the sweep goes on
        return {
            "run": task["run"],
            "ok": False,
            "error": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(),
            "seconds": time.perf_counter() - t0,
        }


# ---------------------------------------------------------------------------- backends
def _watch_parent(parent: int, poll: float) -> None:
    while True:
        time.sleep(poll)
        if os.getppid() != parent:  # reparented: the process that started us is gone
            os._exit(1)


def die_with_parent(parent: int | None = None, poll: float = PARENT_POLL_SECONDS) -> None:
    """Worker initializer: a daemon thread that ends this process (os._exit(1)) within `poll`
    seconds of its parent's death, whatever the worker is busy with."""
    parent = os.getppid() if parent is None else parent
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent, poll), name="die-with-parent", daemon=True
    ).start()


def start_worker(parent: int) -> None:
    """Worker initializer: die with the parent (`die_with_parent`), then load the model and
    freeze what the imports made (`aiecosim.outputs.freeze_imports`): a worker only runs it."""
    from aiecosim.outputs import freeze_imports

    die_with_parent(parent)
    freeze_imports()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """The sweep's process pool: `workers` spawned processes, each started by `start_worker`."""
    # spawn: workers start clean (no threads or state inherited from this process)
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start_worker,
        initargs=(os.getpid(),),
    )


def parallel_map(
    function: Callable[[object], object],
    tasks: list,
    workers: int,
    progress: Callable[[int, int], None] | None = None,
) -> list:
    """`function` over `tasks` in order, on a spawn process pool when `workers` > 1, calling
    `progress(done, total)` as each finishes. Each result depends only on its task, so the list
    is the same for any worker count."""
    total = len(tasks)
    tick = progress or (lambda done, total: None)
    if workers <= 1 or total <= 1:
        results = []
        for task in tasks:
            results.append(function(task))
            tick(len(results), total)
        return results
    with worker_pool(min(workers, total)) as pool:
        futures = [pool.submit(function, t) for t in tasks]
        for done, _ in enumerate(as_completed(futures), start=1):
            tick(done, total)
        return [f.result() for f in futures]


def local_backend(workers: int) -> Callable[[list[dict]], Iterator[dict]]:
    def execute(tasks: list[dict]) -> Iterator[dict]:
        with worker_pool(max(1, min(workers, len(tasks)))) as pool:
            futures = [pool.submit(run_task, t) for t in tasks]
            for future in as_completed(futures):
                yield future.result()

    return execute


class BackendError(RuntimeError):
    """The compute backend cannot be used (a scheduler that does not answer, say)."""


def dask_backend(address: str, timeout: str = "30s") -> Callable[[list[dict]], Iterator[dict]]:
    def execute(tasks: list[dict]) -> Iterator[dict]:
        from distributed import Client
        from distributed import as_completed as dask_completed

        try:
            client = Client(address, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as err:
            raise BackendError(
                f"cannot reach the Dask scheduler at {address!r} ({type(err).__name__}: {err})"
            ) from None
        with client:
            futures = client.map(run_task, tasks, pure=False)
            for future in dask_completed(futures):
                yield future.result()

    return execute


@dataclass
class SweepReport:
    total: int
    skipped: int
    ran: int
    failed: int
    seconds: float
    redone: int = 0  # runs found damaged in the store and run again
    rounded_to_int: list[str] = field(default_factory=list)
    took_over_lock: dict | None = None  # the lock of a killed sweep this one took over


def run_sweep(
    spec: ExperimentSpec,
    out: str | Path,
    backend: Callable[[list[dict]], Iterable[dict]],
    progress: Callable[[dict, int, int], None] | None = None,
    package_version: str = "",
    max_runs: int = MAX_RUNS,
    max_gb: float = MAX_GB,
) -> SweepReport:
    """Run every (point, replicate) not already stored whole in the store at `out`, holding
    the store's lock throughout."""
    check_size(spec, max_runs, max_gb, source=spec.experiment.name)
    points = build_design(spec)
    store = ResultsStore(out)
    with store.lock() as lock:
        store.open(spec, points, package_version)
        store.clear_temporaries()
        tasks = make_tasks(spec, points)
        ids = {t["run"] for t in tasks}
        done, damaged = store.scan()
        done &= ids
        todo = [t for t in tasks if t["run"] not in done]
        t0 = time.perf_counter()
        ran = failed = 0
        stored = set(done)
        for result in backend(todo) if todo else ():
            if result["ok"]:
                store.write_run(result["run"], result["summary"], result["monthly"])
                stored.add(result["run"])
                ran += 1
            else:
                store.write_failure(
                    result["run"], {"error": result["error"], "traceback": result["traceback"]}
                )
                failed += 1
            store.log_timing(result["run"], result["seconds"])
            if progress is not None:
                progress(result, ran + failed, len(todo))
        if not store.failures() and stored == ids:
            store.finish()
    return SweepReport(
        len(tasks),
        len(done),
        ran,
        failed,
        time.perf_counter() - t0,
        redone=len(set(damaged) & ids),
        rounded_to_int=list(points.attrs.get("rounded_to_int", [])),
        took_over_lock=lock.took_over,
    )
