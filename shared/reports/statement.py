"""A merchant's statement for a period, from the ledger (docs/adr/0010-ledger.md):
the opening balance, every entry on the merchant's accounts in ``[from, to)`` with a
running balance, the closing balance, and whether it all adds up.

The merchant's balance is the sum of its accounts (``available``, ``pending_payout``,
and ``held`` when screening holds funds). Two independent checks make ``balanced``:

1. **the identity**: opening + credits - fees - payouts - refunds + adjustments =
   closing, where the categories come from the postings' journals (a settled payout's
   legs say what was fee and what left; its reservation says payout or refund), and
2. **the account balances**: closing (opening + Σ period entries, opening = Σ every
   entry before ``from``) = the stored account balances now - Σ entries since ``to``,
   i.e. the balance ``GET /v1/balance`` showed at ``to``.

Entries are read page by page and merged in time order; nothing holds an account's
whole history in memory.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from shared import config
from shared.dal import report_queries as queries
from shared.errors import ValidationFailed
from shared.models.amounts import format_amount
from shared.models.ledger import (
    FEES,
    NETWORK_FEES,
    Account,
    Entry,
    Kind,
    Side,
    merchant_available,
    merchant_held,
    merchant_pending_payout,
)
from shared.reports.period import Period, iso, iso_ms

ENTRY_COLUMNS = (
    "created_at_utc",
    "created_ms",
    "journal_id",
    "kind",
    "account",
    "side",
    "amount",
    "delta",
    "account_balance",
    "balance",
)


class StatementTooLarge(ValidationFailed):
    code = "statement_too_large"


def merchant_accounts(merchant_id: str) -> list[tuple[str, Account]]:
    """The merchant's ledger accounts, by the label the statement shows."""
    return [
        ("available", merchant_available(merchant_id)),
        ("pending_payout", merchant_pending_payout(merchant_id)),
        ("held", merchant_held(merchant_id)),  # funds AML screening holds (ADR 0020)
    ]


def _amount(units: int) -> str:
    return format_amount(units, config.chain().token_decimals)


@dataclass
class _Totals:
    credits: int = 0
    fees: int = 0
    payouts: int = 0
    refunds: int = 0
    adjustments: int = 0


@dataclass
class _Running:
    """Walks the period's entries in order, keeping running balances and totals."""

    labels: dict[Account, str]
    balances: dict[str, int]
    totals: _Totals = field(default_factory=_Totals)
    count: int = 0
    _journal: str | None = None
    _journal_kind: Kind | None = None
    _journal_net: int = 0

    def rows(self, entries: Iterator[Entry]) -> Iterator[dict[str, object]]:
        for entry in entries:
            if entry.journal_id != self._journal:
                self._close_journal()
                self._journal, self._journal_kind = entry.journal_id, entry.kind
            self._journal_net += entry.delta
            label = self.labels[entry.account]
            self.balances[label] += entry.delta
            self.count += 1
            yield {
                "created_at_utc": iso_ms(entry.created_ms),
                "created_ms": entry.created_ms,
                "journal_id": entry.journal_id,
                "kind": entry.kind.value,
                "account": label,
                "side": "credit" if entry.side is Side.CREDIT else "debit",
                "amount": _amount(entry.amount),
                "delta": _amount(entry.delta),
                "account_balance": _amount(self.balances[label]),
                "balance": _amount(sum(self.balances.values())),
            }
        self._close_journal()

    def _close_journal(self) -> None:
        """File one journal's net effect on the merchant under a category."""
        journal_id, kind, net = self._journal, self._journal_kind, self._journal_net
        self._journal, self._journal_kind, self._journal_net = None, None, 0
        if journal_id is None or kind is None:
            return
        t = self.totals
        if kind is Kind.PAYMENT:
            t.credits += net
        elif kind is Kind.PAYOUT_SETTLED and net < 0:
            fee, refund = _settlement_split(journal_id)
            t.fees += fee
            if refund:
                t.refunds += -net - fee
            else:
                t.payouts += -net - fee
        elif kind is Kind.REFUND and net < 0:  # a refund posted without a reservation
            t.refunds += -net
        else:
            # Reservations and cancellations move funds between the merchant's own
            # accounts (net 0); anything else (e.g. held funds returned) is an adjustment.
            t.adjustments += net


def _settlement_split(journal_id: str) -> tuple[int, bool]:
    """(fees taken, whether it settles a refund) of a settled payout or refund."""
    settled = queries.journal(journal_id)
    if settled is None:
        return 0, False
    fee = sum(leg.amount for leg in settled.legs if leg.account in (FEES, NETWORK_FEES))
    reservation = queries.journal(settled.closes_payout) if settled.closes_payout else None
    return fee, reservation is not None and reservation.kind is Kind.REFUND


def _merged(accounts: list[tuple[str, Account]], period: Period) -> Iterator[Entry]:
    order = {account: i for i, (_, account) in enumerate(accounts)}
    streams = [queries.entries(a, period.start_ms, period.end_ms) for _, a in accounts]
    return heapq.merge(*streams, key=lambda e: (e.entry_key, order[e.account]))


@dataclass
class Statement:
    """A statement being produced: iterate :attr:`rows` once, then call :meth:`summary`."""

    merchant_id: str
    period: Period
    accounts: list[tuple[str, Account]]
    opening: dict[str, int]
    running: _Running
    rows: Iterator[dict[str, object]]

    def summary_opening(self) -> str:
        return _amount(sum(self.opening.values()))

    def summary(self) -> dict[str, object]:
        closing = dict(self.running.balances)
        at_to = _balances_at(self.accounts, self.period.end_ms)
        t = self.running.totals
        opening_total, closing_total, at_to_total = (
            sum(self.opening.values()),
            sum(closing.values()),
            sum(at_to.values()),
        )
        expected = opening_total + t.credits - t.fees - t.payouts - t.refunds + t.adjustments
        difference = closing_total - expected
        balance_difference = closing_total - at_to_total
        return {
            "object": "statement",
            "merchant_id": self.merchant_id,
            "currency": "USDT",
            "from": self.period.start,
            "to": self.period.end,
            "from_utc": iso(self.period.start),
            "to_utc": iso(self.period.end),
            "opening_balance": _amount(opening_total),
            "opening_balances": {k: _amount(v) for k, v in self.opening.items()},
            "credits": _amount(t.credits),
            "fees": _amount(t.fees),
            "payouts": _amount(t.payouts),
            "refunds": _amount(t.refunds),
            "adjustments": _amount(t.adjustments),
            "closing_balance": _amount(closing_total),
            "closing_balances": {k: _amount(v) for k, v in closing.items()},
            "balance_at_to": _amount(at_to_total),
            "balances_at_to": {k: _amount(v) for k, v in at_to.items()},
            "entry_count": self.running.count,
            "balanced": difference == 0 and balance_difference == 0,
            "difference": _amount(difference),
            "balance_difference": _amount(balance_difference),
        }


def _balances_at(accounts: list[tuple[str, Account]], end_ms: int) -> dict[str, int]:
    """Each account's balance at ``end_ms``: its stored balance now less every entry
    since. Re-read while a posting lands in between (the stored balance moved)."""
    only = [a for _, a in accounts]
    for _ in range(3):
        now = queries.balances(only)
        later = {a: queries.sum_of_deltas(a, end_ms, None) for a in only}
        if queries.balances(only) == now:
            break
    return {label: now[a] - later[a] for label, a in accounts}


def start(merchant_id: str, period: Period) -> Statement:
    accounts = merchant_accounts(merchant_id)
    opening = {label: queries.sum_of_deltas(a, None, period.start_ms) for label, a in accounts}
    running = _Running({a: label for label, a in accounts}, dict(opening))
    rows = running.rows(_merged(accounts, period))
    return Statement(merchant_id, period, accounts, opening, running, rows)


def statement(merchant_id: str, period: Period) -> dict[str, object]:
    """The statement as JSON: at most ``BSCPAY_EXPORT_STATEMENT_MAX_ENTRIES`` entries
    (422 beyond: ask for a shorter period or the CSV)."""
    limit = config.exports().statement_max_entries
    produced = start(merchant_id, period)
    entries: list[dict[str, object]] = []
    budget = config.exports().max_seconds
    deadline = time.monotonic() + budget
    for row in produced.rows:
        if time.monotonic() > deadline:
            raise StatementTooLarge(
                f"the statement took more than {budget} s: ask for a shorter period"
            )
        if len(entries) >= limit:
            raise StatementTooLarge(
                f"more than {limit} ledger entries in the period: ask for a shorter period "
                "or format=csv",
                "to",
            )
        entries.append(row)
    return {**produced.summary(), "entries": entries}
