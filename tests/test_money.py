"""The money side: a closed flow of funds, parents with hurdles, investors who own what they
fund, every archetype able to fail, and the enterprises' surplus."""

import dataclasses

import numpy as np
import pytest
from aiecosim.books import BooksError, check_books
from aiecosim.config import load_config
from aiecosim.ledger import Account, Ledger
from aiecosim.model import AIEcosystemModel
from aiecosim.outputs import run_model
from typer.testing import CliRunner


def _model(overrides=(), **sections):
    cfg = load_config(overrides=["run.enterprises=400", "run.steps=60", *overrides], **sections)
    return AIEcosystemModel(cfg, rng=5, check=True)


def test_the_flow_of_funds_catches_a_payment_with_no_payee():
    model = _model()
    for _ in range(3):
        model.step()
    lab = model.builders[0]
    model.ledger.open_month()
    # a payment that leaves the lab and reaches nobody: cash gone, no payee, no record
    lab.cash_usd -= 2.5e8
    with pytest.raises(BooksError, match=rf"month 3: {lab.name} cash changed by -2\.5e\+08 USD"):
        check_books(model)


def test_a_round_of_payments_at_once_books_what_one_payment_at_a_time_books():
    # The month's equity rounds (investors x firms) move through Ledger.pay_many; every
    # balance and tally must be the one the payments made one by one give, to the last bit,
    # and a bad amount is refused before any money moves.
    rng = np.random.default_rng(5)
    books = []
    for _ in range(2):
        ledger = Ledger()
        investors = [Account(f"investor {i}") for i in range(7)]
        firms = [Account(f"firm {j}") for j in range(5)]
        for account in investors + firms:
            ledger.register(account)
        books.append((ledger, investors, firms))
    starting = rng.lognormal(20, 3, size=12)
    for ledger, investors, firms in books:
        for account, cash in zip(investors + firms, starting, strict=True):
            account.cash_usd = float(cash)
        ledger.open_month()
    (at_once, inv_a, firms_a), (one_by_one, inv_b, firms_b) = books
    for _ in range(4):
        usd = rng.lognormal(18, 3, size=(7, 5)) * (rng.random((7, 5)) < 0.7)
        at_once.pay_many(inv_a, firms_a, usd, "equity rounds")
        for j, firm in enumerate(firms_b):
            for i, investor in enumerate(inv_b):
                if usd[i, j] > 0:
                    one_by_one.pay(investor, firm, float(usd[i, j]), "equity rounds")
    for a, b in zip(inv_a + firms_a, inv_b + firms_b, strict=True):
        assert a.cash_usd == b.cash_usd
        assert at_once.received_usd(a) == one_by_one.received_usd(b)
        assert at_once.paid_usd(a) == one_by_one.paid_usd(b)
    assert at_once.by_item["equity rounds"] == one_by_one.by_item["equity rounds"]
    assert at_once.violations(0) == []
    bad = np.ones((7, 5))
    bad[3, 2] = -1.0
    cash_before = [a.cash_usd for a in inv_a + firms_a]
    with pytest.raises(ValueError, match="investor 3 to firm 2"):
        at_once.pay_many(inv_a, firms_a, bad, "equity rounds")
    assert [a.cash_usd for a in inv_a + firms_a] == cash_before


def test_spare_compute_a_giant_sells_is_paid_for_by_the_cloud():
    model = _model(["run.steps=6"])
    for _ in range(6):
        model.step()  # the books are checked every month
        giants = [b for b in model.builders if b.archetype == "integrated_giant"]
        sold_usd = sum(
            b.spare_gpu_hours_sold * model.compute_market.price_usd_per_gpu_hour for b in giants
        )
        assert sold_usd > 0
        assert model.ledger.by_item["spare compute"] == pytest.approx(sold_usd)
    # the outside world paid in exactly what the inside accounts gained
    inside = sum(a.cash_usd for a in model.ledger.accounts)
    outside = sum(a.cash_usd for a in model.ledger.outside.values())
    assert inside + outside == pytest.approx(
        sum(b.strategy.initial_cash_usd for b in model.builders) + model.cfg.investors.capital_usd,
        rel=1e-9,
    )


GIANT_ONLY = {
    "builders": {
        "initial": [{"strategy": "costly_giant", "count": 1}],
        "entry_rate_per_month": 0.0,
    },
}


def test_a_parent_whose_unit_keeps_missing_its_hurdle_stops_funding_and_the_unit_exits():
    # An AI unit whose costs dwarf anything its customers could pay: the parent carries it
    # while it hopes, then walks away, and the unit retreats when its cash runs out.
    cfg = load_config(
        overrides=[
            "run.enterprises=400",
            "run.steps=60",
            "parents.patience_months=6",
            "parents.hurdle_rate_per_year=0.12",
            "parents.loss_budget_usd=1e13",  # the hurdle, not the budget, decides
        ],
        strategies={"costly_giant": {"base": "integrated_giant", "opex_usd_per_month": 30e9}},
        **GIANT_ONLY,
    )
    result = run_model(cfg, seed=2, check=True)
    firms = result.firms
    transfers = firms.set_index("month")["parent_transfer_usd"]
    value = firms.set_index("month")["expected_value_usd"]
    funded = transfers[transfers > 0].index
    assert len(funded) > 3  # the parent did fund it at first
    stop = funded.max() + 1
    # it stopped after more than `patience` months in a row below the hurdle ...
    assert (value.loc[stop - 6 : stop] < 0).all()
    # ... and never paid again; the unit lived on its cash, then exited
    exit_month = result.summary["exits"][0]["month"]
    assert stop < exit_month and transfers.loc[stop:].sum() == 0
    assert result.summary["survivors_by_archetype"]["integrated_giant"] == 0

    # The same unit with costs its customers can pay is carried to the end.
    cheap = load_config(
        overrides=["run.enterprises=400", "run.steps=60"],
        strategies={"costly_giant": {"base": "integrated_giant"}},
        **GIANT_ONLY,
    )
    assert run_model(cheap, seed=2, check=True).summary["exits"] == []


def test_an_imitating_entrant_brings_no_parent():
    model = _model()
    giant = model.strategies["integrated_giant"]
    entrant = model._add_builder(giant, entrant=True)
    incumbent = next(b for b in model.builders if b.archetype == "integrated_giant")
    assert incumbent.parent is not None and entrant.parent is None
    assert entrant.strategy.raise_runway_months > 0  # it raises from investors instead


def test_an_open_builder_with_costs_above_revenue_and_no_funding_exits():
    def builder_fate(opex_usd_per_month):
        cfg = load_config(
            overrides=["run.enterprises=400", "run.steps=48", "investors.n_investors=0"],
            strategies={
                "lonely_open": {
                    "base": "open_source_builder",
                    "opex_usd_per_month": opex_usd_per_month,
                }
            },
            builders={
                "initial": [
                    {"strategy": "frontier_lab", "count": 2},
                    {"strategy": "open_source_builder", "count": 8},
                    {"strategy": "lonely_open", "count": 1},
                ],
                "entry_rate_per_month": 0.0,
            },
        )
        return run_model(cfg, seed=1, check=True).summary

    # among eight rivals, an open builder spending 150 M USD a month on a share of an open
    # market worth a few tens of millions to it runs out of cash, and nobody refinances it
    costly = builder_fate(150e6)
    assert [e["name"] for e in costly["exits"]] == ["Lonely Open 1"]
    lean = builder_fate(5e6)
    assert lean["exits"] == []


def test_a_bad_year_of_returns_lowers_capital_and_sentiment_and_cuts_funding():
    def run(shock: bool):
        model = _model(["run.steps=48"])
        for _ in range(24):
            model.step()
        if shock:
            # enterprises' budgets for AI shrink: the firms investors own earn far less
            e = model.cfg.enterprises
            model.cfg.enterprises = e.model_copy(
                update={"potential_demand_mtok_per_month": e.potential_demand_mtok_per_month * 0.2}
            )
        for _ in range(24):
            model.step()
        return model.model_table()

    calm, shocked = run(False), run(True)
    year = slice(25, 36)
    assert shocked.loc[year, "investor_return"].mean() < calm.loc[year, "investor_return"].mean()
    assert shocked.loc[36, "investor_capital_usd"] < calm.loc[36, "investor_capital_usd"]
    assert shocked.loc[36, "sentiment"] < calm.loc[36, "sentiment"] - 0.3
    assert shocked.loc[30:47, "funding_usd"].sum() < calm.loc[30:47, "funding_usd"].sum()


def test_consumer_surplus_rises_when_prices_fall():
    model = _model()
    for _ in range(6):
        model.step()
    offers = model.offers
    now = model.consumer_surplus_usd(offers)
    cheaper = dataclasses.replace(offers, price_usd_per_mtok=offers.price_usd_per_mtok * 0.7)
    dearer = dataclasses.replace(offers, price_usd_per_mtok=offers.price_usd_per_mtok * 1.3)
    assert model.consumer_surplus_usd(dearer) < now < model.consumer_surplus_usd(cheaper)
    assert now > 0


def test_every_archetype_can_fail_and_survival_is_alive_and_viable():
    # A world without investors and with demanding parents: who cannot pay its way exits.
    cfg = load_config(
        overrides=[
            "run.enterprises=400",
            "run.steps=72",
            "investors.n_investors=0",
            "parents.loss_budget_usd=0",
        ],
        strategies={
            "integrated_giant": {"base": "integrated_giant", "opex_usd_per_month": 6e9},
            "open_source_builder": {"base": "open_source_builder", "opex_usd_per_month": 150e6},
        },
    )
    result = run_model(cfg, seed=3, check=True)
    failed = {e["archetype"] for e in result.summary["exits"]}
    assert {"frontier_lab", "integrated_giant", "open_source_builder"} <= failed
    for firm in result.summary["firms"]:
        if firm["exit_month"] is not None:
            assert not firm["survived"]
            assert firm["months_to_exit"] == firm["exit_month"] - firm["entry_month"]


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("parents.hurdle_rate_per_year=-0.1", "parents.hurdle_rate_per_year = -0.1"),
        ("parents.loss_budget_usd=inf", "parents.loss_budget_usd = inf"),
        ("investors.base_revenue_multiple=nan", "investors.base_revenue_multiple = nan"),
        ("parents.patience_months=true", "parents.patience_months = True"),
        ('investors.base_revenue_multiple="twenty"', "investors.base_revenue_multiple = 'twenty'"),
        ("investors.round_dilution=1.5", "investors.round_dilution = 1.5"),
    ],
)
def test_bad_money_parameters_exit_2_with_one_line(tmp_path, assignment, expected):
    from aiecosim.views.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["run", "--steps", "6", "--out", str(out), "--set", assignment]
    )
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()
