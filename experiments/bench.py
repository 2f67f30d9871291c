"""`aiecosim bench`: how fast the model is, measured, never asserted in tests.

Measures the enterprise decision step against a per-agent Mesa model of the same decision (the
same shoppers, utilities, nests and choice probabilities, checked by tests/test_reference.py;
kept here only for the ratio), the monthly price solve, full runs at several enterprise counts
with the fitted exponent of time against enterprises, model set-up at 50,000 and 200,000
enterprises, peak memory (in a child process, so that each size starts clean) and sweep
throughput at 1 and 2 workers.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass

import mesa
import numpy as np
from aiecosim.agents.builders import marginal_costs
from aiecosim.agents.enterprises import potential_demand_mtok
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
    pop, offers = model.enterprises, model.offers
    saved = _snapshot(pop)
    times = []
    for _ in range(repeats):
        _restore(pop, saved)
        t0 = time.perf_counter()
        pop.decide(
            offers,
            len(model.builders),
            model.peers(),
            potential_demand_mtok(model.cfg.enterprises, 24),
            model.rng,
            serve=model.serve,
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


# ---------------------------------------------------------------------------------------------
# The per-agent reference: the same monthly choice as `EnterprisePopulation.shoppers` and
# `.decide` (agents/enterprises.py) with the nested logit of aiecosim.markets.choice, written
# the way a plain Mesa model would be: one agent per cohort with its own attributes, each
# deciding in a Python loop over its neighbours and the offers. tests/test_reference.py checks
# that the two give the same utilities, choice probabilities, shoppers and choices.

NO_PROVIDER = -1


@dataclass(frozen=True, slots=True)
class ReferenceOffer:
    """One of the month's offers as a plain object (what a per-agent model passes around)."""

    provider: int
    self_hosted: bool
    capability: float
    price_usd_per_mtok: float
    privacy: float
    specialised_sectors: frozenset[int]
    lock_in: float  # what a customer of this offer pays, in utils, to leave it
    nest: int  # index into aiecosim.markets.choice.NESTS


class PerAgentEnterprise(mesa.Agent):
    """One enterprise cohort that decides by itself, in Python floats:

        u_k = b_v * V_k - b_p / value * price_k + b_priv * privacy * private_k
              + b_spec * [sector in specialism_k] + b_peer * peers(provider_k) / degree
              + a_nest(k) - (switching_cost + lock_in(current)) * [k != current]
        u_0 = outside_utility - (switching_cost + lock_in(current)) * [has a current offer]

    and the nested logit P(k) = P(nest) * P(k | nest) over them (utils; V_k in units of the
    cohort's base value per token, as in agents/enterprises.py)."""

    def __init__(self, world: PerAgentWorld, population, index: int):
        super().__init__(world)
        self.sector = int(population.sector[index])
        self.need = float(population.need[index])
        self.hard_need = float(population.hard_need[index])
        self.modest_weight = float(population.modest_weight[index])
        self.hard_weight = float(population.hard_weight[index])
        self.price_coefficient = float(population.price_coefficient[index])  # utils per USD/Mtok
        self.privacy_sensitivity = float(population.privacy_sensitivity[index])
        self.provider = int(population.provider[index])  # firm index, or NO_PROVIDER
        self.self_hosted = bool(population.self_hosted[index])
        self.neighbours: list[PerAgentEnterprise] = []
        self.shopping = False  # chooses this month
        self.choice: int | None = None  # offer index chosen this month; None: no AI

    def current_offer(self) -> int | None:
        """Index of the offer this cohort uses; None without one or when its provider no
        longer offers it (exited, or stopped offering that delivery)."""
        found = None
        if self.provider != NO_PROVIDER:
            for k, offer in enumerate(self.model.offers):
                if offer.provider == self.provider and offer.self_hosted == self.self_hosted:
                    found = k
        return found

    def shops(self, draw: float) -> bool:
        """Whether this cohort chooses this month, from one uniform `draw`: a non-adopter tries
        AI with the Bass hazard p + q * (share of its neighbours using AI); an adopter
        reconsiders with its monthly share, and always when its offer has gone."""
        c = self.model.cfg
        if self.provider == NO_PROVIDER:
            adopting = sum(1 for n in self.neighbours if n.provider != NO_PROVIDER)
            share = adopting / len(self.neighbours) if self.neighbours else 0.0
            return draw < c.bass_p + c.bass_q * share
        return draw < c.reconsider_share_per_month or self.current_offer() is None

    def utilities(self) -> tuple[list[float], float]:
        """Utility of each offer and of no AI (utils), leaving costs included."""
        c, offers = self.model.cfg, self.model.offers
        current = self.current_offer()
        leaving = c.switching_cost + offers[current].lock_in if current is not None else 0.0
        peers: dict[int, int] = {}
        for n in self.neighbours:
            if n.provider != NO_PROVIDER:
                peers[n.provider] = peers.get(n.provider, 0) + 1
        degree = max(1, len(self.neighbours))
        utilities = []
        for k, offer in enumerate(offers):
            capability = max(offer.capability, 0.0)
            value = self.modest_weight * (1 - math.exp(-((capability / self.need) ** c.kappa)))
            value += self.hard_weight * (1 - math.exp(-((capability / self.hard_need) ** c.kappa)))
            u = c.b_value * value - self.price_coefficient * offer.price_usd_per_mtok
            u += c.b_privacy * self.privacy_sensitivity * offer.privacy
            if self.sector in offer.specialised_sectors:
                u += c.b_specialisation
            u += c.b_peer * peers.get(offer.provider, 0) / degree
            u += self.model.nest_utility[offer.nest]
            if current is not None and k != current:
                u -= leaving
            utilities.append(u)
        return utilities, c.outside_utility - leaving

    def probabilities(self) -> tuple[list[float], float]:
        """Nested-logit probability of each offer and of no AI: the inclusive value of each
        nest I_g = lambda_g * log sum_{k in g} exp(u_k / lambda_g), P(g) = exp(I_g) /
        (exp(u_0) + sum_h exp(I_h)), P(k | g) = exp(u_k / lambda_g) / sum_{j in g} ..."""
        utilities, outside = self.utilities()
        offers, lambdas = self.model.offers, self.model.lambdas
        members: dict[int, list[int]] = {}
        for k, offer in enumerate(offers):
            members.setdefault(offer.nest, []).append(k)
        inclusive, within = {}, [0.0] * len(offers)
        for g, ks in members.items():
            lam = lambdas[g]
            top = max(utilities[k] / lam for k in ks)  # shifted: no overflow
            weights = [math.exp(utilities[k] / lam - top) for k in ks]
            total = sum(weights)
            for k, w in zip(ks, weights, strict=True):
                within[k] = w / total
            inclusive[g] = lam * (top + math.log(total))
        shift = max(outside, *inclusive.values()) if inclusive else outside
        denominator = math.exp(outside - shift) + sum(
            math.exp(v - shift) for v in inclusive.values()
        )
        p = [
            math.exp(inclusive[offer.nest] - shift) / denominator * within[k]
            for k, offer in enumerate(offers)
        ]
        return p, math.exp(outside - shift) / denominator

    def pick(self, uniform: float) -> int | None:
        """The offer a uniform number picks (None: no AI), inverting the cumulative
        probabilities over the offers in nest order, no AI last."""
        p, p0 = self.probabilities()
        target = uniform * (sum(p) + p0)
        cumulative = 0.0
        for k, pk in enumerate(p):
            cumulative += pk
            if cumulative >= target:
                return k
        return None

    # the month in three stages, so that everyone decides on last month's state (as the
    # array version does): who shops, what they choose, then everyone moves at once
    def consider(self) -> None:
        self.shopping = self.shops(self.model.rng.random())

    def choose(self) -> None:
        if self.shopping and self.model.offers:
            self.choice = self.pick(self.model.rng.random())

    def advance(self) -> None:
        if not self.model.offers:  # nothing on offer: nobody can use AI this month
            self.provider, self.self_hosted = NO_PROVIDER, False
        elif self.shopping:
            if self.choice is None:
                self.provider, self.self_hosted = NO_PROVIDER, False
            else:
                offer = self.model.offers[self.choice]
                self.provider, self.self_hosted = offer.provider, offer.self_hosted


class PerAgentWorld(mesa.Model):
    """A per-agent Mesa model of the enterprises' monthly choice: the cohorts of `population`
    as `PerAgentEnterprise` agents (their state copied out of the arrays), linked as in
    `adjacency` (CSR), choosing among `offers`. It draws from Mesa's `model.rng` in the array
    version's order (one uniform per cohort for who shops, then one per shopper in index
    order), so a seed `rng` gives the draws of `np.random.default_rng(rng)` (a Generator passed
    to Mesa loses a draw to seeding its stdlib random). Capacity, usage and churn, which
    follow the choice in `EnterprisePopulation.decide`, are not here."""

    def __init__(self, population, adjacency, offers, rng: int):
        super().__init__(rng=rng)
        self.cfg = population.cfg
        self.lambdas = [float(x) for x in population.lambdas]
        self.nest_utility = [float(x) for x in self.cfg.nest_utility]
        self.set_offers(offers)
        cohorts = [PerAgentEnterprise(self, population, i) for i in range(population.n)]
        indptr, indices = adjacency.indptr, adjacency.indices
        for i, cohort in enumerate(cohorts):
            cohort.neighbours = [cohorts[j] for j in indices[indptr[i] : indptr[i + 1]].tolist()]
        self.cohorts = cohorts  # in the population's index order

    def set_offers(self, offers) -> None:
        self.offers = [
            ReferenceOffer(
                provider=int(offers.provider[k]),
                self_hosted=bool(offers.self_hosted[k]),
                capability=float(offers.capability[k]),
                price_usd_per_mtok=float(offers.price_usd_per_mtok[k]),
                privacy=float(offers.privacy[k]),
                specialised_sectors=frozenset(np.flatnonzero(offers.specialised[k]).tolist()),
                lock_in=float(offers.lock_in[k]),
                nest=int(offers.nest[k]),
            )
            for k in range(len(offers))
        ]

    def step(self) -> None:
        self.agents.do("consider")
        self.agents.do("choose")
        self.agents.do("advance")


def per_agent_decision_ms(enterprises: int, mean_degree: float = 20, repeats: int = 3) -> float:
    """Milliseconds for one monthly choice of the per-agent reference (median of repeats), on
    the same state as `decision_ms` (month 24 of a baseline run, the same seed); each repeat
    starts from that state."""
    model = _model(enterprises, mean_degree, steps=24)
    for _ in range(24):
        model.step()
    pop = model.enterprises
    world = PerAgentWorld(pop, model.network.adjacency.tocsr(), model.offers, rng=1)
    times = []
    for _ in range(repeats):
        for i, cohort in enumerate(world.cohorts):
            cohort.provider, cohort.self_hosted = int(pop.provider[i]), bool(pop.self_hosted[i])
        t0 = time.perf_counter()
        world.step()
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
    pop, offers, market = model.enterprises, model.offers, model.token_market
    shopping = pop.shoppers(offers, len(model.builders), model.peers(), model.rng)
    cost, priced = marginal_costs(model.builders, offers, market.support_fee_share)
    demand_mtok = potential_demand_mtok(model.cfg.enterprises, 24)
    sample_times, solve_times = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        demand = pop.demand_sample(
            offers, shopping, demand_mtok, market.price_sample_rows, model.rng
        )
        t1 = time.perf_counter()
        market.pricer.solve(demand, offers.price_usd_per_mtok, cost, offers.provider, priced)
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


def setup_seconds(enterprises: int, repeats: int = 3) -> float:
    """Seconds to build the baseline model (network, enterprises, firms, the first month's
    prices and choices: the model's own `setup_seconds`), median of fresh builds."""
    from aiecosim.model import AIEcosystemModel

    cfg = load_config(overrides=[f"run.enterprises={enterprises}"])
    times = []
    for _ in range(repeats):
        times.append(AIEcosystemModel(cfg, rng=1).setup_seconds)
    return float(np.median(times))


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
    sent back to the parent) on the sweep's pool (`worker_pool`) of `workers` processes, once
    the pool is up; and the pool's start-up time, which a sweep pays once."""
    from aiecosim.experiments.runner import run_task, worker_pool

    tasks = sweep_tasks(runs)
    t0 = time.perf_counter()
    with worker_pool(workers) as pool:
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


def _wall_seconds(
    argv: list[str], repeats: int, cwd: str | None = None, env: dict | None = None
) -> float:
    """Median wall-clock seconds of a fresh process running `argv`."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=cwd, env=env)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def cli_seconds(repeats: int = 3) -> dict:
    """What a user waits for at the command line, each in a fresh process: `aiecosim --help`;
    the import floor (`python -c "import aiecosim.model"`, what any run must load); and
    `aiecosim run` of the baseline end to end, with and without its report: the median of
    `repeats` rounds, each running the four in turn, so that the floor and the runs see the
    same machine. What a run adds to the floor is the median of each round's difference,
    which a machine whose speed drifts between rounds moves less than the difference of the
    medians."""
    import tempfile

    exe = [sys.executable, "-m", "aiecosim.views.cli"]
    commands = {
        "help": [*exe, "--help"],
        "floor": [sys.executable, "-c", "import aiecosim.model"],
        "run": [*exe, "run"],  # a fresh folder each time
        "run_plain": [*exe, "run", "--no-report"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    # All four on one BLAS thread, as `aiecosim` runs itself: the floor then carries no idle
    # OpenBLAS threads either, and the runs are measured against the lower floor.
    env = {**os.environ}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        # Round-robin, so that a machine that slows down or speeds up during the pass moves
        # the floor and the runs alike.
        for _ in range(repeats):
            for name, argv in commands.items():
                times[name].append(_wall_seconds(argv, 1, cwd=tmp, env=env))
    help_s, floor, run_report, run_plain = (float(np.median(t)) for t in times.values())
    floors = np.array(times["floor"])
    return {
        "help_seconds": help_s,
        "import_floor_seconds": floor,
        "run_seconds": run_report,
        "run_no_report_seconds": run_plain,
        "run_over_floor_seconds": float(np.median(np.array(times["run"]) - floors)),
        "run_no_report_over_floor_seconds": float(np.median(np.array(times["run_plain"]) - floors)),
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
    # the per-agent reference, the same choice (tests/test_reference.py), on the same 50,000
    # enterprises and 1,000,000 edges; the array time also covers capacity, usage and churn,
    # which the reference leaves out, so the ratio understates what the arrays save
    progress("per-agent reference ...")
    per_agent = per_agent_decision_ms(50_000, 40, repeats=1 if quick else 3)
    array_ms = results["decision_1m_edges"]["ms_per_step"]
    results["per_agent_same_decision"] = {
        "enterprises": 50_000,
        "edges": results["decision_1m_edges"]["edges"],
        "per_agent_ms_per_step": per_agent,
        "array_ms_per_step": array_ms,
        "array_speedup_same_decision": per_agent / array_ms,
    }
    progress("command line ...")
    results["cli"] = cli_seconds(3 if quick else 5)
    progress("price solve ...")
    results["prices"] = price_solve_ms(5_000)
    progress("full runs ...")
    runs = [full_run_seconds(n) for n in sizes]
    x, y = np.log([r["enterprises"] for r in runs]), np.log([r["seconds"] for r in runs])
    results["full_run"] = runs
    results["time_exponent"] = float(np.polyfit(x, y, 1)[0])
    progress("set-up ...")
    results["setup_seconds"] = {
        str(n): setup_seconds(n, repeats=1 if quick else 3) for n in (50_000, 200_000)
    }
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
