"""A merchant's statement for a period, from the ledger (docs/adr/0010-ledger.md):
the opening balance, every entry on the merchant's accounts in ``[from, to)`` with a
running balance, the closing balance, and whether it all adds up.

The merchant's balance is the sum of its accounts (``available``, ``pending_payout``,
and ``held`` when screening holds funds). Two independent checks make ``balanced``:

1. **the identity**: opening + credits - fees - payouts - refunds = closing, where the
   categories come from the postings' journals (a settled payout's legs say what was
   fee and what left; its reservation says payout or refund). Journals that only move
   funds between the merchant's own accounts (payout and refund reservations, their
   cancellation, a release of held funds) must net to zero on the merchant; any other
   net change (a kind the statement does not know, a manual correction, a reservation
   that does not net to zero) is reported as ``adjustments`` and is the identity's
   ``difference``: the statement is then not balanced;
2. **the account balances**: closing (opening + Σ period entries) = the balance at
   ``to`` computed from the stored balances and the daily counters.

The balance at a time T (the opening at ``from``, the balance at ``to``) is the stored
balance now less what changed since T: the daily net counters of the whole UTC days
after T's day (``shared.dal.aggregates``, written in the same transaction as every
posting) and the entries of T's own day after T. Counters exist only from a day on
(``shared.reports.counting``); before it the entries themselves are read. Everything,
from the opening to the summary, runs under ``BSCPAY_EXPORT_MAX_SECONDS``: past it the
answer is 422 asking for a shorter period, never a gateway timeout.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from shared import config
from shared.dal import aggregates
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
from shared.reports import counting
from shared.reports.period import Period, day_of, iso, iso_ms

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


# Journals that move funds between the merchant's own accounts: they must net to zero.
INTERNAL = frozenset({Kind.PAYOUT, Kind.REFUND, Kind.PAYOUT_CANCELLED, Kind.RELEASE})
UNEXPLAINED_LISTED = 20  # journal ids the summary names (the count is complete)


class Deadline:
    """``BSCPAY_EXPORT_MAX_SECONDS`` from the statement's start: 422 past it."""

    def __init__(self) -> None:
        self.budget = config.exports().max_seconds
        self.end = time.monotonic() + self.budget

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise StatementTooLarge(
                f"the statement took more than {self.budget} s: ask for a shorter period", "from"
            )


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
    adjustments: int = 0  # net changes no category explains: the identity's difference
    unexplained: list[str] = field(default_factory=list)  # their journal ids (the first few)
    unexplained_count: int = 0


@dataclass
class _Running:
    """Walks the period's entries in order, keeping running balances and totals."""

    labels: dict[Account, str]
    balances: dict[str, int]
    deadline: Deadline
    totals: _Totals = field(default_factory=_Totals)
    count: int = 0
    _journal: str | None = None
    _journal_kind: Kind | None = None
    _journal_net: int = 0

    def rows(self, entries: Iterator[Entry]) -> Iterator[dict[str, object]]:
        for entry in entries:
            self.deadline.check()
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
        elif net != 0:
            # Reservations, cancellations and releases move funds between the merchant's
            # own accounts (net 0); anything else is a change nothing here explains.
            t.adjustments += net
            t.unexplained_count += 1
            if len(t.unexplained) < UNEXPLAINED_LISTED:
                t.unexplained.append(journal_id)


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
    deadline: Deadline

    def summary_opening(self) -> str:
        return _amount(sum(self.opening.values()))

    def summary(self) -> dict[str, object]:
        closing = dict(self.running.balances)
        at_to = _balances_at(self.merchant_id, self.accounts, self.period.end_ms, self.deadline)
        t = self.running.totals
        opening_total, closing_total, at_to_total = (
            sum(self.opening.values()),
            sum(closing.values()),
            sum(at_to.values()),
        )
        # No adjustments term: a net change no category explains is the difference.
        expected = opening_total + t.credits - t.fees - t.payouts - t.refunds
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
            "unexplained_journals": list(t.unexplained),
            "unexplained_count": t.unexplained_count,
            "closing_balance": _amount(closing_total),
            "closing_balances": {k: _amount(v) for k, v in closing.items()},
            "balance_at_to": _amount(at_to_total),
            "balances_at_to": {k: _amount(v) for k, v in at_to.items()},
            "entry_count": self.running.count,
            "balanced": difference == 0 and balance_difference == 0,
            "difference": _amount(difference),
            "balance_difference": _amount(balance_difference),
        }


def _balances_at(
    merchant_id: str, accounts: list[tuple[str, Account]], at_ms: int, deadline: Deadline
) -> dict[str, int]:
    """Each account's balance at ``at_ms``: its stored balance now, less the daily net
    counters of every whole day after ``at_ms``'s day that counting covers, less the
    entries from ``at_ms`` up to there (its own day, or up to the first counted day).
    Re-read while a posting lands in between (the stored balance moved)."""
    only = [a for _, a in accounts]
    counted = counting.counted_from_ms(deadline.check)
    cut = None if counted is None else max(counting.day_start_ms(at_ms) + counting.DAY_MS, counted)
    for _ in range(3):
        now = queries.balances(only)
        later = dict.fromkeys(only, 0)
        for a in only:
            for entry in queries.entries(a, at_ms, cut):
                deadline.check()
                later[a] += entry.delta
        if cut is not None:
            for day in aggregates.days(merchant_id, day_of(cut // 1000), counting.LAST_DAY):
                deadline.check()
                for label, a in accounts:
                    later[a] += day.values.get(aggregates.NETS[label], 0)
        if queries.balances(only) == now:
            break
    return {label: now[a] - later[a] for label, a in accounts}


def start(merchant_id: str, period: Period, deadline: Deadline | None = None) -> Statement:
    """The opening balances (the deadline starts here) and the rows to iterate."""
    deadline = deadline or Deadline()
    accounts = merchant_accounts(merchant_id)
    opening = _balances_at(merchant_id, accounts, period.start_ms, deadline)
    running = _Running({a: label for label, a in accounts}, dict(opening), deadline)
    rows = running.rows(_merged(accounts, period))
    return Statement(merchant_id, period, accounts, opening, running, rows, deadline)


def statement(merchant_id: str, period: Period) -> dict[str, object]:
    """The statement as JSON: at most ``BSCPAY_EXPORT_STATEMENT_MAX_ENTRIES`` entries
    (422 beyond: ask for a shorter period or the CSV)."""
    limit = config.exports().statement_max_entries
    produced = start(merchant_id, period)
    entries: list[dict[str, object]] = []
    for row in produced.rows:
        if len(entries) >= limit:
            raise StatementTooLarge(
                f"more than {limit} ledger entries in the period: ask for a shorter period "
                "or format=csv",
                "to",
            )
        entries.append(row)
    return {**produced.summary(), "entries": entries}
