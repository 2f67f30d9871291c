"""Compute market: accelerator capacity capped by power, priced at cost times scarcity.

Capacity is counted in H100-equivalent GPUs (H100e). Usable capacity is what is installed, or
what the grid connections of data centres can power, whichever is smaller:

    usable_gpus = min(installed_gpus, dc_power_mw * 1000 / kw_per_gpu(t))

Hardware price-performance doubles every `price_performance_doubling_months`, so the capital
cost of one H100e falls as 2^(-t/d); perf per watt improves likewise. The rental price is

    base  = (capex_per_gpu(t) / (life_hours * u_star) + kw_per_gpu(t)/1000 * energy_price)
            * (1 + cloud_markup)                                     USD per GPU-hour
    price = base * (1 + scarcity * max(0, u - u_star) / (1 - u_star))

with u the ratio of GPU-hours wanted to GPU-hours available, smoothed over recent months (it
exceeds 1 when demand outruns supply, so the price keeps rising until demand falls back). When
requests exceed capacity, inference (serving paying customers) is served first and training
requests are rationed pro rata: a run granted a share g of its monthly GPU-hours advances by g
months' worth of progress; when even inference exceeds capacity, every offer's tokens are cut
by the same share.

The market is also the cloud sector's books: it is paid for every GPU-hour rented (by builders
for training and inference, by enterprises that self-host), pays for the power its fleet draws,
pays the integrated giants the market price for the spare hours of theirs it resells, and pays
chip makers for what it installs; the fleet depreciates over the accelerators' life.

    profit = revenue - power - spare hours bought - depreciation;   cash may go negative (debt)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from aiecosim.markets.energy import HOURS_PER_MONTH

if TYPE_CHECKING:
    from aiecosim.config import ComputeConfig

# The cloud fleet standing at the start is booked as if half depreciated (bought evenly over
# its chips' life).
FLEET_START_BOOK_SHARE = 0.5
DEMAND_SMOOTHING = 0.5  # weight of the latest month in the demand ratio that sets the price
# The demand ratio (GPU-hours wanted / available) is capped before it enters the smoothed
# ratio, so one month of runaway requests (a burst of training plans) cannot hold the price up
# for months after (a modelling choice: at a ratio of 5 the default scarcity multiplier already
# prices an hour at about 40 times its base price, far past any observed rental spike).
MAX_DEMAND_RATIO = 5.0
# The ratio stands for 2x (twice what can be served) in a month with no capacity at all.
DEMAND_RATIO_WITHOUT_CAPACITY = 2.0
# Installations follow demand: a month's installs are the month's chip output times
# demand_ratio / u*, at most 1.5x that output (a modelling choice: when rents are high, chips
# are pulled forward from inventory and from other buyers, but not without limit).
MAX_INSTALL_SIGNAL = 1.5
# The fleet may exceed what the grid connections can power by 10%: operators install chips
# slightly ahead of the power that will feed them (and idle ones draw less than peak).
POWER_OVERBUILD = 1.1


class ComputeMarket:
    def __init__(
        self,
        installed_gpus_h100e: float,
        dc_power_capacity_mw: float,
        capex_usd_per_h100e: float,
        gpu_life_months: int,
        price_performance_doubling_months: float,
        power_kw_per_h100e: float,
        power_efficiency_doubling_months: float,
        target_utilisation: float,
        scarcity_multiplier: float,
        cloud_markup: float,
    ) -> None:
        self.installed_gpus_h100e = installed_gpus_h100e
        self.dc_power_capacity_mw = dc_power_capacity_mw
        self.capex_usd_per_h100e_at_start = capex_usd_per_h100e
        self.gpu_life_months = gpu_life_months
        self.price_performance_doubling_months = price_performance_doubling_months
        self.power_kw_per_h100e_at_start = power_kw_per_h100e
        self.power_efficiency_doubling_months = power_efficiency_doubling_months
        self.target_utilisation = target_utilisation
        self.scarcity_multiplier = scarcity_multiplier
        self.cloud_markup = cloud_markup
        self.utilisation = target_utilisation  # last month's served / available (<= 1)
        self.demand_ratio = target_utilisation  # smoothed wanted / available: sets the price
        self.price_usd_per_gpu_hour = 0.0
        self.usable_gpus_h100e = installed_gpus_h100e
        self.reserved_mw = 0.0
        # --- the cloud sector's books (USD)
        self.name = "cloud (compute) sector"
        self.cash_usd = 0.0
        self.fleet_book_usd = FLEET_START_BOOK_SHARE * installed_gpus_h100e * capex_usd_per_h100e
        self.depreciation_usd = 0.0
        self.capex_usd = 0.0
        self.energy_cost_usd = 0.0

    @classmethod
    def from_config(cls, compute: ComputeConfig) -> ComputeMarket:
        """The market of the `compute` section, at the start date."""
        return cls(
            installed_gpus_h100e=compute.installed_gpus_h100e,
            dc_power_capacity_mw=compute.dc_power_capacity_mw,
            capex_usd_per_h100e=compute.capex_usd_per_h100e,
            gpu_life_months=compute.gpu_life_months,
            price_performance_doubling_months=compute.price_performance_doubling_months,
            power_kw_per_h100e=compute.power_kw_per_h100e,
            power_efficiency_doubling_months=compute.power_efficiency_doubling_months,
            target_utilisation=compute.target_utilisation,
            scarcity_multiplier=compute.scarcity_multiplier,
            cloud_markup=compute.cloud_markup,
        )

    def depreciate(self) -> float:
        self.depreciation_usd = self.fleet_book_usd / self.gpu_life_months
        self.fleet_book_usd -= self.depreciation_usd
        return self.depreciation_usd

    # --- technology trends
    def capex_usd_per_h100e(self, month: float) -> float:
        return self.capex_usd_per_h100e_at_start * 2.0 ** (
            -month / self.price_performance_doubling_months
        )

    def power_kw_per_h100e(self, month: float) -> float:
        return self.power_kw_per_h100e_at_start * 2.0 ** (
            -month / self.power_efficiency_doubling_months
        )

    def cost_usd_per_gpu_hour(self, month: float, energy_price_usd_per_mwh: float) -> float:
        """Cost of running one H100e for an hour at target utilisation, before markup."""
        life_hours = self.gpu_life_months * HOURS_PER_MONTH * self.target_utilisation
        hardware = self.capex_usd_per_h100e(month) / life_hours
        energy = self.power_kw_per_h100e(month) / 1000.0 * energy_price_usd_per_mwh
        return hardware + energy

    # --- the month
    def power_limited_gpus(self, month: float) -> float:
        available_mw = max(0.0, self.dc_power_capacity_mw - self.reserved_mw)
        return available_mw * 1000.0 / self.power_kw_per_h100e(month)

    def update_capacity(self, month: float, reserved_mw: float = 0.0) -> float:
        """Usable rentable fleet this month; `reserved_mw` of the grid connections is taken by
        data centres outside the rental market (integrated giants' own fleets beyond what
        their own plants supply)."""
        self.reserved_mw = reserved_mw
        self.usable_gpus_h100e = min(self.installed_gpus_h100e, self.power_limited_gpus(month))
        return self.usable_gpus_h100e

    def set_price(self, month: float, energy_price_usd_per_mwh: float) -> float:
        base = self.cost_usd_per_gpu_hour(month, energy_price_usd_per_mwh) * (1 + self.cloud_markup)
        u_star = self.target_utilisation
        scarcity = max(0.0, self.demand_ratio - u_star) / (1.0 - u_star)
        self.price_usd_per_gpu_hour = base * (1.0 + self.scarcity_multiplier * scarcity)
        return self.price_usd_per_gpu_hour

    @property
    def capacity_gpu_hours(self) -> float:
        return self.usable_gpus_h100e * HOURS_PER_MONTH

    def ration_training(
        self, requested_gpu_hours: np.ndarray, reserved_inference_gpu_hours: float
    ) -> np.ndarray:
        """Share (0..1) of each training request granted after inference is reserved."""
        requested = np.asarray(requested_gpu_hours, dtype=float)
        total = requested.sum()
        available = max(0.0, self.capacity_gpu_hours - reserved_inference_gpu_hours)
        if total <= available or total <= 0:
            return np.ones_like(requested)
        return np.full_like(requested, available / total)

    def serve_inference(
        self, gpu_hours: np.ndarray, own_gpu_hours: np.ndarray, training_gpu_hours: float
    ) -> tuple[np.ndarray, float]:
        """Share (0..1) of each offer's inference `gpu_hours` that can be served, and the
        GPU-hours inference wants from the market. Fleet owners serve their own offers from
        their own hours first (`own_gpu_hours`: what each offer's provider has left, 0 for
        renters); the rest shares the capacity left after `training_gpu_hours` plus the hours
        owners leave spare. When short, every offer is cut by the same share."""
        own_used = np.minimum(gpu_hours, own_gpu_hours)
        market_need = gpu_hours - own_used
        available = self.capacity_gpu_hours - training_gpu_hours + (own_gpu_hours - own_used).sum()
        need = market_need.sum()
        wanted = float(gpu_hours.sum() - own_used.sum())
        cut = min(1.0, max(0.0, available) / need) if need > 0 else 1.0
        served = np.divide(
            own_used + market_need * cut,
            gpu_hours,
            out=np.ones_like(gpu_hours),
            where=gpu_hours > 0,
        )
        return served, wanted

    def record_use(
        self, used_gpu_hours: float, wanted_gpu_hours: float, extra_capacity_gpu_hours: float = 0.0
    ) -> float:
        """Close the month: what was served and what was wanted, against the fleet plus the
        capacity others rented out, set next month's scarcity."""
        capacity = self.capacity_gpu_hours + extra_capacity_gpu_hours
        self.utilisation = min(1.0, used_gpu_hours / capacity) if capacity > 0 else 1.0
        ratio = wanted_gpu_hours / capacity if capacity > 0 else DEMAND_RATIO_WITHOUT_CAPACITY
        self.demand_ratio += DEMAND_SMOOTHING * (min(ratio, MAX_DEMAND_RATIO) - self.demand_ratio)
        return self.utilisation

    def retire_and_install(self, month: float, production_gpus: float) -> tuple[float, float]:
        """Retire worn-out accelerators; install new ones when utilisation calls for them and the
        power allows. Returns (installed this month, capex USD)."""
        retired = self.installed_gpus_h100e / self.gpu_life_months
        demand_signal = min(MAX_INSTALL_SIGNAL, self.demand_ratio / self.target_utilisation)
        headroom = max(
            0.0,
            POWER_OVERBUILD * self.power_limited_gpus(month)
            - (self.installed_gpus_h100e - retired),
        )
        installed = min(production_gpus * demand_signal, headroom)
        self.installed_gpus_h100e += installed - retired
        self.capex_usd = installed * self.capex_usd_per_h100e(month)
        self.fleet_book_usd += self.capex_usd
        return installed, self.capex_usd
