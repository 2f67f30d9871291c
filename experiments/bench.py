"""`aiecosim bench`: how fast the model is, measured, never asserted in tests.

Measures the enterprise decision step against a straightforward per-agent Mesa version of the
same decision (kept here only for the ratio), the monthly price solve, full runs at several
enterprise counts with the fitted exponent of time against enterprises, set-up time, peak memory
(in a child process, so that each size starts clean) and sweep throughput at 1 and 2 workers.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time

import mesa
import numpy as np
from aiecosim.config import load_config


def _model(enterprises: int, mean_degree: float, steps: int = 120):
    from aiecosim.model import AIEcosystemModel

    cfg = load_config(
        overrides=[
            f"run.enterprises={enterprises}",
            f"network.mean_degree={mean_degree}",
            f"run.steps={steps}",
        ]
    )
    return AIEcosystemModel(cfg, rng=1)


def decision_ms(enterprises: int, mean_degree: float = 20, repeats: int = 60) -> dict:
    """Milliseconds for one monthly decision of the whole population (median of repeats),
    measured on the state of month 24 of a baseline run."""
    model = _model(enterprises, mean_degree, steps=24)
    for _ in range(24):
        model.step()
    pop, offers = model.enterprises, model._offers
    saved = _snapshot(pop)
    times = []
    for _ in range(repeats):
        _restore(pop, saved)
        t0 = time.perf_counter()
        pop.decide(
            offers,
            len(model.builders),
            model._peers(),
            model._demand_mtok(24),
            model.rng,
            serve=model._serve,
        )
        times.append(time.perf_counter() - t0)
    return {
        "enterprises": enterprises,
        "edges": int(model.network.n_edges),
        "offers": len(offers),
        "ms_per_step": 1000 * float(np.median(times)),
    }


def _snapshot(pop):
    return {k: v.copy() for k, v in vars(pop).items() if isinstance(v, np.ndarray)}


def _restore(pop, saved):
    for k, v in saved.items():
        getattr(pop, k)[...] = v


class PerAgentEnterprise(mesa.Agent):
    """The same decision written the obvious way: each enterprise loops over its neighbours
    and the offers in Python (the same utilities, outside option and nested logit as
    `EnterprisePopulation.decide`, without capacity). Kept only to measure what the array
    version saves."""

    def __init__(self, model, pop, index, neighbours):
        super().__init__(model)
        self.pop, self.i, self.neighbours = pop, index, neighbours

    def step(self):
        pop, i, c = self.pop, self.i, self.pop.cfg
        offers, rng = self.model.offers, self.model.rng
        adopted = pop.provider[i] != -1
        counts: dict[int, int] = {}
        for j in self.neighbours:
            p = pop.provider[j]
            if p != -1:
                counts[p] = counts.get(p, 0) + 1
        degree = max(1, len(self.neighbours))
        u_draw = rng.random()
        if not adopted:
            if u_draw >= c.bass_p + c.bass_q * sum(counts.values()) / degree:
                return
        elif u_draw >= c.reconsider_share_per_month:
            return
        current = -1
        for k in range(len(offers)):
            if (
                offers.provider[k] == pop.provider[i]
                and offers.self_hosted[k] == pop.self_hosted[i]
            ):
                current = k
        leaving = c.switching_cost + offers.lock_in[current] if current >= 0 else 0.0
        utilities = []
        for k in range(len(offers)):
            cap = offers.capability[k]
            value = pop.modest_weight[i] * (1 - math.exp(-((cap / pop.need[i]) ** c.kappa)))
            value += pop.hard_weight[i] * (1 - math.exp(-((cap / pop.hard_need[i]) ** c.kappa)))
            u = c.b_value * value - pop.price_coefficient[i] * offers.price_usd_per_mtok[k]
            u += c.b_privacy * pop.privacy_sensitivity[i] * offers.privacy[k]
            if offers.specialised[k, pop.sector[i]]:
                u += c.b_specialisation
            u += c.b_peer * counts.get(offers.provider[k], 0) / degree
            u += c.nest_utility[offers.nest[k]]
            if current >= 0 and k != current:
                u -= leaving
            utilities.append(u)
        # nested logit: inclusive value of each nest, then P(nest) * P(offer | nest)
        outside = c.outside_utility - leaving
        by_nest: dict[int, list[int]] = {}
        for k in range(len(offers)):
            by_nest.setdefault(int(offers.nest[k]), []).append(k)
        inclusive = {}
        for g, members in by_nest.items():
            lam = pop.lambdas[g]
            top = max(utilities[k] / lam for k in members)
            inclusive[g] = lam * (
                top + math.log(sum(math.exp(utilities[k] / lam - top) for k in members))
            )
        shift = max(outside, *inclusive.values())
        total = math.exp(outside - shift) + sum(math.exp(v - shift) for v in inclusive.values())
        weights = []
        for k in range(len(offers)):
            g = int(offers.nest[k])
            lam = pop.lambdas[g]
            within = math.exp(utilities[k] / lam - inclusive[g] / lam)
            weights.append(math.exp(inclusive[g] - shift) / total * within)
        pick, acc, r = len(offers), 0.0, rng.random()
        for k, w in enumerate(weights):
            acc += w
            if r <= acc:
                pick = k
                break
        if pick < len(offers):
            pop.provider[i] = offers.provider[pick]
            pop.self_hosted[i] = offers.self_hosted[pick]
        else:
            pop.provider[i] = -1
            pop.self_hosted[i] = False


def per_agent_decision_ms(enterprises: int, mean_degree: float = 20, repeats: int = 3) -> float:
    model = _model(enterprises, mean_degree, steps=24)
    for _ in range(24):
        model.step()
    adjacency = model.network.adjacency.tocsr()
    shell = mesa.Model(rng=1)
    shell.offers = model._offers
    agents = [
        PerAgentEnterprise(
            shell,
            model.enterprises,
            i,
            adjacency.indices[adjacency.indptr[i] : adjacency.indptr[i + 1]].tolist(),
        )
        for i in range(enterprises)
    ]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for agent in agents:
            agent.step()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def price_solve_ms(enterprises: int = 5000, repeats: int = 60) -> dict:
    """Milliseconds a month for the prices: drawing the price setters' sample from the
    month's shoppers and the Bertrand–Nash iterations, on the state of month 24 of a baseline
    run (medians of repeats). The shoppers' utilities before price are computed once a month
    for both prices and choices, and counted in the decision step."""
    model = _model(enterprises, 10, steps=24)
    for _ in range(24):
        model.step()
    offers = model._offers
    shopping = model.enterprises.shoppers(offers, len(model.builders), model._peers(), model.rng)
    cost, priced = model._marginal_costs(offers)
    sample_times, solve_times = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        demand = model._demand_sample(offers, shopping)
        t1 = time.perf_counter()
        model.pricer.solve(demand, offers.price_usd_per_mtok, cost, offers.provider, priced)
        t2 = time.perf_counter()
        sample_times.append(t1 - t0)
        solve_times.append(t2 - t1)
    return {
        "enterprises": enterprises,
        "offers": len(offers),
        "sample_rows": model.cfg.builders.price_sample_rows,
        "iterations": model.cfg.builders.price_iterations,
        "sample_ms": 1000 * float(np.median(sample_times)),
        "solve_ms": 1000 * float(np.median(solve_times)),
    }


def full_run_seconds(enterprises: int) -> dict:
    from aiecosim.outputs import run_model

    cfg = load_config(overrides=[f"run.enterprises={enterprises}"])
    t0 = time.perf_counter()
    result = run_model(cfg, seed=1)
    return {
        "enterprises": enterprises,
        "seconds": time.perf_counter() - t0,
        "setup_seconds": result.summary["setup_seconds"],
    }


def peak_memory_mib(enterprises: int) -> float:
    """Peak resident memory of a fresh process running one full run."""
    code = (
        "import resource; from aiecosim.experiments.bench import full_run_seconds; "
        f"full_run_seconds({enterprises}); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024  # KiB on Linux


def sweep_tasks(runs: int, enterprises: int = 5000) -> list[dict]:
    from aiecosim.experiments.design import build_design
    from aiecosim.experiments.runner import make_tasks
    from aiecosim.experiments.spec import parse_spec

    spec = parse_spec(
        {
            "experiment": {"name": "bench", "replicates": runs, "enterprises": enterprises},
            "parameters": {"capability.alpha": {"values": [0.12]}},
        }
    )
    return make_tasks(spec, build_design(spec))


def sweep_throughput(workers: int, runs: int) -> dict:
    """Default runs per second through the sweep runner's unit of work (`run_task`, results
    sent back to the parent) on a pool of `workers` processes, once the pool is up; and the
    pool's start-up time, which a sweep pays once."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from aiecosim.experiments.runner import run_task

    tasks = sweep_tasks(runs)
    context = multiprocessing.get_context("spawn")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        list(pool.map(run_task, tasks[:workers]))  # start and warm every worker
        startup = time.perf_counter() - t0
        t1 = time.perf_counter()
        results = list(pool.map(run_task, tasks))
        elapsed = time.perf_counter() - t1
    assert all(r["ok"] for r in results)
    return {
        "runs_per_second": runs / elapsed,
        "pool_startup_seconds": startup,
        "mean_run_seconds": float(np.mean([r["seconds"] for r in results])),
    }


def _wall_seconds(argv: list[str], repeats: int, cwd: str | None = None) -> float:
    """Median wall-clock seconds of a fresh process running `argv`."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=cwd)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def cli_seconds(repeats: int = 3) -> dict:
    """What a user waits for at the command line, each in a fresh process: `aiecosim --help`;
    the import floor (`python -c "import aiecosim.model"`, what any run must load); and
    `aiecosim run` of the baseline end to end, with and without its report, measured in the
    same session so that the floor and the run see the same machine."""
    import tempfile

    exe = [sys.executable, "-m", "aiecosim.views.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        help_s = _wall_seconds([*exe, "--help"], repeats)
        floor = _wall_seconds([sys.executable, "-c", "import aiecosim.model"], repeats)
        run_report = _wall_seconds([*exe, "run"], repeats, cwd=tmp)  # a fresh folder each
        run_plain = _wall_seconds([*exe, "run", "--no-report"], repeats, cwd=tmp)
    return {
        "help_seconds": help_s,
        "import_floor_seconds": floor,
        "run_seconds": run_report,
        "run_no_report_seconds": run_plain,
        "run_over_floor_seconds": run_report - floor,
    }


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def run_benchmarks(quick: bool = False, progress=print, workers: tuple[int, ...] = (1, 2)) -> dict:
    """Every measure of `aiecosim bench`; sweep throughput at 1 and 2 workers and at each
    other count in `workers` (the scaling curve on a bigger machine)."""
    sizes = [5_000, 50_000] if quick else [5_000, 50_000, 200_000]
    results: dict = {"machine": machine(), "quick": quick}
    progress("enterprise decision step ...")
    results["decision"] = [decision_ms(n, 20) for n in sizes]
    results["decision_1m_edges"] = decision_ms(50_000, 40)
    # the per-agent version on the same 50,000 enterprises and 1,000,000 edges
    per_agent = per_agent_decision_ms(50_000, 40, repeats=1 if quick else 3)
    results["per_agent_mesa"] = {
        "enterprises": 50_000,
        "edges": results["decision_1m_edges"]["edges"],
        "ms_per_step": per_agent,
        "speedup": per_agent / results["decision_1m_edges"]["ms_per_step"],
    }
    progress("command line ...")
    results["cli"] = cli_seconds(2 if quick else 3)
    progress("price solve ...")
    results["prices"] = price_solve_ms(5_000)
    progress("full runs ...")
    runs = [full_run_seconds(n) for n in sizes]
    x, y = np.log([r["enterprises"] for r in runs]), np.log([r["seconds"] for r in runs])
    results["full_run"] = runs
    results["time_exponent"] = float(np.polyfit(x, y, 1)[0])
    results["setup_50k_seconds"] = next(r for r in runs if r["enterprises"] == 50_000)[
        "setup_seconds"
    ]
    progress("peak memory ...")
    results["peak_memory_mib"] = {str(sizes[-1]): peak_memory_mib(sizes[-1])}
    progress("sweep throughput ...")
    counts = sorted({1, 2, *workers})
    # at least three runs a worker, so that the last wave does not dominate the timing
    n_runs = max(8 if quick else 24, 3 * counts[-1])
    by_count = {w: sweep_throughput(w, n_runs) for w in counts}
    one, two = by_count[1], by_count[2]
    results["sweep"] = {
        "runs": n_runs,
        "runs_per_second_1": one["runs_per_second"],
        "runs_per_second_2": two["runs_per_second"],
        "parallel_efficiency_2": two["runs_per_second"] / (2 * one["runs_per_second"]),
        "pool_startup_seconds_2": two["pool_startup_seconds"],
        "mean_run_seconds": one["mean_run_seconds"],
        "curve": [
            {
                "workers": w,
                "runs_per_second": r["runs_per_second"],
                "parallel_efficiency": r["runs_per_second"] / (w * one["runs_per_second"]),
            }
            for w, r in by_count.items()
        ],
    }
    return results


def dumps(results: dict) -> str:
    return json.dumps(results, indent=2)
