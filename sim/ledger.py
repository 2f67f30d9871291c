"""The flow of funds: every dollar has a payer and a payee.

Money moves only through `Ledger.pay(payer, payee, usd, item)`, which takes the amount from the
payer's cash and adds it to the payee's. Inside the model are the builders, the cloud (compute)
sector, each energy supplier, the energy exchange that passes electricity bills on to the
plants, and the investors. The outside world is explicit: `OutsideWorld` accounts stand for the
enterprises' budgets, the investors' limited partners, the integrated giants' parent companies,
the staff and suppliers paid from operating budgets, the makers of chips and power plants, fuel,
the other buyers of electricity and the creditors who absorb a failed firm's unpaid bills.

The books of a month balance when, for every inside account,

    cash_now - cash_at_open = sum(payments received) - sum(payments made)        USD

and, summed over the inside accounts, the change in cash equals the net flow from outside
(what the outside paid in minus what it was paid). A cash change that bypasses the ledger (money
from nowhere, or a payment that reaches no payee) breaks the first identity for the account it
touched; `check` names the month, the account and the amounts.
"""

from __future__ import annotations

import math
from collections import defaultdict


class OutsideWorld:
    """A party outside the model: its cash is only a running tally of what it paid in (negative)
    and received (positive), not a budget."""

    outside = True

    def __init__(self, name: str):
        self.name = name
        self.cash_usd = 0.0

    def __repr__(self) -> str:
        return f"OutsideWorld({self.name!r})"


class Account:
    """An inside account with nothing but cash: the energy exchange, which collects the
    electricity bills and pays the plants (it closes every month at zero)."""

    outside = False

    def __init__(self, name: str):
        self.name = name
        self.cash_usd = 0.0


#: The outside parties, by key.
OUTSIDE = {
    "enterprises": "enterprises (budgets for AI)",
    "limited_partners": "investors' limited partners",
    "parents": "parent companies of integrated giants",
    "staff_and_suppliers": "staff and suppliers (operating budgets)",
    "chip_makers": "chip and data-centre makers",
    "plant_builders": "power-plant builders",
    "fuel": "fuel and plant operations",
    "other_power_users": "other electricity users",
    "creditors": "creditors of failed firms",
}


class Ledger:
    """Records payments between accounts (objects with `name` and `cash_usd`) month by month."""

    def __init__(self):
        self.outside = {key: OutsideWorld(label) for key, label in OUTSIDE.items()}
        self.accounts: list = []  # inside accounts, registered once
        self._net = defaultdict(float)  # id(account) -> net received this month
        self._received = defaultdict(float)  # id(account) -> received this month
        self._open_cash: dict[int, float] = {}
        self.by_item: dict[str, float] = defaultdict(float)  # this month's flows by item

    def register(self, account) -> None:
        """An inside account whose cash the books follow from now on."""
        self.accounts.append(account)
        self._open_cash[id(account)] = account.cash_usd

    def open_month(self) -> None:
        self._net.clear()
        self._received.clear()
        self.by_item.clear()
        for account in self.accounts:
            self._open_cash[id(account)] = account.cash_usd
        for account in self.outside.values():
            self._open_cash[id(account)] = account.cash_usd

    def pay(self, payer, payee, usd: float, item: str) -> None:
        """Move `usd` (>= 0) from payer to payee; a zero payment is not recorded."""
        if usd == 0:
            return
        if not usd > 0 or not math.isfinite(usd):
            raise ValueError(f"{item}: a payment of {usd!r} USD from {payer.name} to {payee.name}")
        payer.cash_usd -= usd
        payee.cash_usd += usd
        self._net[id(payer)] -= usd
        self._net[id(payee)] += usd
        self._received[id(payee)] += usd
        self.by_item[item] += usd

    def received_usd(self, account) -> float:
        """What `account` was paid this month."""
        return self._received[id(account)]

    def paid_usd(self, account) -> float:
        """What `account` paid this month."""
        return self._received[id(account)] - self._net[id(account)]

    def net_from_outside_usd(self) -> float:
        """What the outside world paid in this month, net of what it received."""
        return -sum(self._net[id(a)] for a in self.outside.values())

    def violations(self, month: int) -> list[str]:
        """Every way this month's cash changes disagree with its payments."""
        out = []
        total_change = 0.0
        scale = 1.0
        for account in self.accounts:
            change = account.cash_usd - self._open_cash[id(account)]
            recorded = self._net[id(account)]
            total_change += change
            scale = max(scale, abs(change), abs(recorded))
            if not _close(change, recorded, max(abs(change), abs(recorded))):
                out.append(
                    f"month {month}: {account.name} cash changed by {change:.6g} USD but its "
                    f"payments net {recorded:.6g} USD (unrecorded {change - recorded:.6g})"
                )
        from_outside = self.net_from_outside_usd()
        if not _close(total_change, from_outside, scale):
            out.append(
                f"month {month}: inside accounts' cash changed by {total_change:.6g} USD in all but "
                f"the outside world paid in {from_outside:.6g} USD net"
            )
        return out


def _close(a: float, b: float, scale: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * scale + 1e-3)
