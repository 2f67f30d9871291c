"""The flow of funds: every dollar has a payer and a payee.

Money moves only through `Ledger.pay(payer, payee, usd, item)`, which takes the amount from the
payer's cash and adds it to the payee's (`Ledger.pay_many`: many such payments at once, say the
month's equity rounds, with the same sums to the last bit). Inside the model are the builders,
the cloud (compute) sector, each energy supplier, the energy exchange that passes electricity
bills on to the plants, and the investors. The outside world is explicit: `OutsideWorld`
accounts stand for the enterprises' budgets, the investors' limited partners, the integrated
giants' parent companies, the staff and suppliers paid from operating budgets, the makers of
chips and power plants, fuel, the other buyers of electricity and the creditors who absorb a
failed firm's unpaid bills.

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

import numpy as np


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
    """Records payments between accounts (objects with `name` and `cash_usd`, hashed by
    identity) month by month."""

    def __init__(self):
        self.outside = {key: OutsideWorld(label) for key, label in OUTSIDE.items()}
        self.accounts: list = []  # inside accounts, registered once
        self._net = defaultdict(float)  # account -> net received this month
        self._received = defaultdict(float)  # account -> received this month
        self._open_cash: dict = {}  # account -> cash when the month opened
        self.by_item: dict[str, float] = defaultdict(float)  # this month's flows by item

    def register(self, account) -> None:
        """An inside account whose cash the books follow from now on."""
        self.accounts.append(account)
        self._open_cash[account] = account.cash_usd

    def open_month(self) -> None:
        self._net.clear()
        self._received.clear()
        self.by_item.clear()
        for account in self.accounts:
            self._open_cash[account] = account.cash_usd
        for account in self.outside.values():
            self._open_cash[account] = account.cash_usd

    def pay(self, payer, payee, usd: float, item: str) -> None:
        """Move `usd` (>= 0) from payer to payee; a zero payment is not recorded."""
        if not 0.0 < usd < math.inf:  # one comparison on the usual path; NaN fails it too
            if usd == 0:
                return
            _refuse(payer, payee, usd, item)
        payer.cash_usd -= usd
        payee.cash_usd += usd
        net = self._net
        net[payer] -= usd
        net[payee] += usd
        self._received[payee] += usd
        self.by_item[item] += usd

    def pay_many(self, payers: list, payees: list, usd: np.ndarray, item: str) -> None:
        """Every payer i pays every payee j `usd[i, j]` (>= 0; payers x payees): the same, to
        the last bit, as `pay` for each pair, payee by payee and within a payee payer by payer,
        but in a few array operations. Each balance and tally adds its payments one after the
        other in that order (`np.add.accumulate` is a running sum, not a pairwise one); a zero
        adds nothing. No account may be both a payer and a payee here."""
        usd = np.asarray(usd, dtype=float)
        if usd.size == 0:
            return
        bad = ~((usd >= 0) & np.isfinite(usd))
        if bad.any():  # refused as `pay` refuses the first of them, before anything moves
            j, i = divmod(int(np.flatnonzero(bad.T)[0]), len(payers))
            _refuse(payers[i], payees[j], float(usd[i, j]), item)
        if set(payers) & set(payees):
            raise ValueError(f"{item}: an account both pays and is paid in one pay_many")

        net, received = self._net, self._received
        cash, flow = _running_totals([[a.cash_usd for a in payers], [net[a] for a in payers]], -usd)
        for payer, payer_cash, payer_net in zip(payers, cash, flow, strict=True):
            payer.cash_usd, net[payer] = payer_cash, payer_net
        cash, flow, got = _running_totals(
            [
                [a.cash_usd for a in payees],
                [net[a] for a in payees],
                [received[a] for a in payees],
            ],
            usd.T,
        )
        for payee, payee_cash, payee_net, payee_got in zip(payees, cash, flow, got, strict=True):
            payee.cash_usd, net[payee], received[payee] = payee_cash, payee_net, payee_got
        in_order = usd.T.reshape(1, -1)  # payee by payee, payer by payer
        self.by_item[item] = _running_totals([[self.by_item[item]]], in_order)[0][0]

    def received_usd(self, account) -> float:
        """What `account` was paid this month."""
        return self._received[account]

    def paid_usd(self, account) -> float:
        """What `account` paid this month."""
        return self._received[account] - self._net[account]

    def net_from_outside_usd(self) -> float:
        """What the outside world paid in this month, net of what it received."""
        return -sum(self._net[a] for a in self.outside.values())

    def violations(self, month: int) -> list[str]:
        """Every way this month's cash changes disagree with its payments."""
        out = []
        total_change = 0.0
        scale = 1.0
        for account in self.accounts:
            change = account.cash_usd - self._open_cash[account]
            recorded = self._net[account]
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


def _running_totals(start: list[list[float]], amounts: np.ndarray) -> list[list[float]]:
    """start[k][a] + amounts[a, 0] + amounts[a, 1] + ..., added left to right (a running sum,
    as one `+=` after the other), for each tally k (cash, net flow, ...) of each account a."""
    n_accounts, n_payments = amounts.shape
    rows = np.empty((len(start), n_accounts, 1 + n_payments))
    rows[:, :, 0] = start
    rows[:, :, 1:] = amounts
    return np.add.accumulate(rows, axis=2)[:, :, -1].tolist()


def _refuse(payer, payee, usd: float, item: str) -> None:
    raise ValueError(f"{item}: a payment of {usd!r} USD from {payer.name} to {payee.name}")


def _close(a: float, b: float, scale: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * scale + 1e-3)
