"""The token market: the month's offers, their prices, and what compute can serve of them.

Offers. Every alive builder's released model is on its API and, for open weights, also
self-hosted by the enterprise on rented compute, at the compute's price plus the builder's
support fee (`publish_offers`, `ModelBuilder.offers`). A Mtok of offer k takes h_k GPU-hours.

Prices. Each offer's marginal cost to its firm, c_k, is the firm's inference cost on the API; on
a self-hosted offer the firm keeps only the support fee f, so (1 - f) * price is its "cost" and
it sets nothing (`marginal_costs`). The best responses are the multi-product Bertrand–Nash
prices (`aiecosim.markets.pricing`),

    p = c + zeta(p)                                                                USD/Mtok

against a demand-weighted sample of the enterprises shopping this month
(`EnterprisePopulation.demand_sample`); each firm then prices by its strategy's rule
(`post_prices`, `ModelBuilder.set_price`).

Serving. The tokens the enterprises choose need

    GPU-hours = sum_k Mtok_k * h_k                                       H100e-hours per month

Fleet owners serve their own offers from their own hours first; the rest shares what the cloud
has left after training (`ComputeMarket.serve_inference`); when that is short, every offer is
cut by the same share.

Sales. What the enterprises bought, by firm (`Sales`): API tokens and what they paid for them,
the support fee f on the spend on its self-hosted weights, the tokens wanted of it and its
customers. Self-hosters pay the rest of their spend, (1 - f) * spend, to the cloud, for
sum_k Mtok_k * h_k of its hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from aiecosim.agents.builders import marginal_costs, post_prices, publish_offers
from aiecosim.markets.pricing import BertrandNashPricer

if TYPE_CHECKING:
    from aiecosim.agents.builders import ModelBuilder
    from aiecosim.agents.enterprises import (
        EnterprisePopulation,
        MonthOutcome,
        Offers,
        Peers,
        Shoppers,
    )
    from aiecosim.config import BuildersConfig
    from aiecosim.markets.compute import ComputeMarket


# The start's prices are solved from cost-plus to the Bertrand-Nash fixed point p = c + zeta(p):
# 60 iterations where each month after, starting from last month's prices, takes
# `builders.price_iterations`.
START_PRICE_ITERATIONS = 60


@dataclass(frozen=True)
class Sales:
    """What the month's token market sold: arrays by firm (index = firm_id) and the
    self-hosters' compute."""

    api_mtok: np.ndarray  # Mtok served on its API
    api_revenue_usd: np.ndarray  # USD paid for its API tokens
    support_revenue_usd: np.ndarray  # USD of support fees on its self-hosted weights
    requested_mtok: np.ndarray  # Mtok wanted of its API, those turned away included
    customers: np.ndarray  # enterprise cohorts using its models, API or self-hosted
    self_hosted_gpu_hours: float  # cloud H100e-hours the self-hosters rented
    self_hosted_compute_usd: float  # what they paid the cloud for them


class TokenMarket:
    """The month's menu (`offers`, sorted by nest), the GPU-hours a Mtok of each offer takes
    (`gpu_hours_per_mtok`), and the price solver (`pricer`), between the builders, the
    enterprises (`enterprises`) and the cloud (`compute_market`)."""

    def __init__(
        self,
        pricer: BertrandNashPricer,
        enterprises: EnterprisePopulation,
        compute_market: ComputeMarket,
        support_fee_share: float,
        price_sample_rows: int,
    ) -> None:
        self.pricer = pricer
        self.enterprises = enterprises
        self.compute_market = compute_market
        self.support_fee_share = support_fee_share
        self.price_sample_rows = price_sample_rows
        self.offers: Offers | None = None  # published when the market opens
        self.gpu_hours_per_mtok = np.zeros(0)

    @classmethod
    def from_config(
        cls,
        builders: BuildersConfig,
        enterprises: EnterprisePopulation,
        compute_market: ComputeMarket,
    ) -> TokenMarket:
        """The token market of the `builders` section, between these enterprises and this
        cloud."""
        return cls(
            BertrandNashPricer(builders.price_iterations),
            enterprises,
            compute_market,
            builders.open_support_fee_share,
            builders.price_sample_rows,
        )

    def open(
        self,
        builders: list[ModelBuilder],
        peers: Peers,
        demand_mtok_per_month: float,
        rng: np.random.Generator,
        start: bool = False,
    ) -> Shoppers:
        """The month's market opens: a first model gets a cost-plus price, the alive builders'
        offers are published, who shops is drawn, and the builders price against them.
        `builders` are all builders (list index = firm_id). At the `start` every price starts
        from cost-plus and jumps to the equilibrium, the offers have no serving limits (firms
        serve the customers they have), and `enterprises.initial_adoption` of the enterprises
        shop, with no AI not on their menu. Returns the shoppers."""
        alive = [b for b in builders if b.alive]
        for builder in alive:
            if start or (builder.released and builder.price_usd_per_mtok <= 0):
                builder.set_price(None)  # cost-plus, where Nash prices start from
        self.offers, self.gpu_hours_per_mtok = publish_offers(
            alive, self.enterprises.cfg.n_sectors, serving_limits=not start
        )
        shopping = self.enterprises.shoppers(self.offers, len(builders), peers, rng, initial=start)
        # from cost-plus at the start, enough iterations to reach the equilibrium; each month
        # after starts from last month's prices, and a few track it
        iterations = START_PRICE_ITERATIONS if start else self.pricer.iterations
        self.set_prices(builders, shopping, demand_mtok_per_month, rng, iterations, jump=start)
        return shopping

    def set_prices(
        self,
        builders: list[ModelBuilder],
        shopping: Shoppers,
        demand_mtok_per_month: float,
        rng: np.random.Generator,
        iterations: int,
        jump: bool = False,
    ) -> Offers:
        """Every builder prices its API by its rule; the best responses come from the
        Bertrand–Nash fixed point against the enterprises `shopping` this month, at the rivals'
        current prices. `jump`: take the best response at once (the start of the run), not
        partway. Returns the month's offers at their new prices (also kept in `offers`)."""
        offers = self.offers
        if not len(offers):
            return offers
        cost, priced = marginal_costs(builders, offers, self.support_fee_share)
        best = offers.price_usd_per_mtok
        if priced.any() and len(shopping.rows):
            sample = self.enterprises.demand_sample(
                offers, shopping, demand_mtok_per_month, self.price_sample_rows, rng
            )
            best = self.pricer.solve(
                sample, offers.price_usd_per_mtok, cost, offers.provider, priced, iterations
            )
        self.offers = post_prices(builders, offers, best, cost, priced, jump)
        return self.offers

    def serve(
        self, mtok_by_offer: np.ndarray, builders: list[ModelBuilder], training_gpu_hours: float
    ) -> tuple[np.ndarray, float]:
        """Share (0..1) of each offer's wanted tokens (`mtok_by_offer`, Mtok per month) that
        compute can serve, owners' own fleets first; and the GPU-hours inference wants of the
        cloud market, after the `training_gpu_hours` it has granted."""
        offers = self.offers
        own_left = np.array(
            [
                0.0 if hosted else builders[p].own_gpu_hours_left()
                for p, hosted in zip(
                    offers.provider.tolist(), offers.self_hosted.tolist(), strict=True
                )
            ],
            dtype=float,
        )
        return self.compute_market.serve_inference(
            mtok_by_offer * self.gpu_hours_per_mtok, own_left, training_gpu_hours
        )

    def sales(self, outcome: MonthOutcome, n_firms: int) -> Sales:
        """What the enterprises bought this month (`outcome`), by firm and for self-hosting."""
        offers, fee = self.offers, self.support_fee_share
        api, hosted = ~offers.self_hosted, offers.self_hosted

        def by_firm(values: np.ndarray, which=slice(None)) -> np.ndarray:
            return np.bincount(offers.provider[which], weights=values[which], minlength=n_firms)

        return Sales(
            api_mtok=by_firm(outcome.mtok_by_offer, api),
            api_revenue_usd=by_firm(outcome.spend_usd_by_offer, api),
            support_revenue_usd=fee * by_firm(outcome.spend_usd_by_offer, hosted),
            requested_mtok=by_firm(outcome.requested_mtok_by_offer, api),
            customers=by_firm(outcome.customers_by_offer),
            self_hosted_gpu_hours=float(
                (outcome.mtok_by_offer[hosted] * self.gpu_hours_per_mtok[hosted]).sum()
            ),
            self_hosted_compute_usd=float(outcome.spend_usd_by_offer[hosted].sum()) * (1 - fee),
        )
