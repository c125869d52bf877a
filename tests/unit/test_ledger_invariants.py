"""The ledger always balances: hypothesis drives random sequences of payments, gas
funding, sweeps, payouts and refund reservations (settled, or cancelled with or without
gas a failed transfer burnt), direct refunds, cold moves, gas burnt by failed
transactions, replays, conflicting journal ids, and settling or cancelling reservations
that are closed or do not exist, against the in-memory reference repository, and checks
after every step against an independent model (plain dicts) and the invariants of
docs/adr/0010-ledger.md:

1. every account's balance is the sum of its entries;
2. per asset, debits equal credits (the trial balance is zero);
3. merchants' available + pending payouts + revenue = deposits + hot + cold
   = opening holdings + payments credited - (net payouts settled + refunds);
4. a refused operation (overdraft, closed payout, conflicting id) changes nothing;
5. replaying an operation with the same journal id changes nothing, and replaying it
   with other terms (amount, gas, fees, kind) is a JournalConflict that changes nothing;
6. a reservation's gross leaves the merchant's available balance exactly once, and comes
   back exactly once if it is cancelled; pending payouts are the open reservations.

``LedgerScenario`` is reused by tests/integration/test_ledger.py on DynamoDB.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.ledger import (
    COLD,
    DEPOSITS,
    FEES,
    GAS,
    GAS_EXPENSE,
    HOT,
    NETWORK_FEES,
    OPERATOR_EQUITY,
    Account,
    Asset,
    Drift,
    Entry,
    InMemoryLedgerRepository,
    InsufficientFunds,
    InvalidPosting,
    Journal,
    JournalConflict,
    Kind,
    Ledger,
    LedgerRepository,
    MerchantBalance,
    PayoutNotFound,
    PayoutNotReserved,
    PayoutState,
    Posting,
    Side,
    merchant_available,
    merchant_pending_payout,
    reconcile,
)
from shared.models.ledger import SYSTEM_ACCOUNTS, USDT_HOLDINGS, Leg, PayoutTerms

UNIT = 10**18  # one USDT (or one BNB) in base units
MILLI_BNB = 10**15
NEVER_USED_AMOUNT = 10**28 + 1  # no generated operation uses it: a sure fingerprint change

Op = tuple[Any, ...]
Spec = tuple[str, int]  # ("abs", amount) or ("share", permille of the balance it spends)


def post(ledger: Ledger, posting: Posting) -> Journal:
    """Post a builder's posting through the ledger's own retry-and-explain path. In
    production these postings go into the caller's transaction with its records
    (shared.disbursements); here only the ledger's part is under test."""
    return ledger._post(posting)


@dataclass
class _Payout:
    journal_id: str
    merchant_id: str
    gross: int
    fee: int
    network_fee: int
    kind: Kind = Kind.PAYOUT  # or Kind.REFUND: a refund that reserves before it is sent
    state: PayoutState = PayoutState.RESERVED
    settle_gas: int = 0
    cancel_gas: int = 0  # gas a failed transfer burnt, booked with the cancellation

    @property
    def net(self) -> int:
        return self.gross - self.fee - self.network_fee


class LedgerScenario:
    """Applies operations to a ledger and to a model of what they must do, and checks
    that the two agree. Starts from whatever the repository holds (the opening balances),
    so it also runs on a shared DynamoDB table."""

    def __init__(
        self, ledger: Ledger, repo: LedgerRepository, merchants: Sequence[str], run_id: str
    ) -> None:
        self.ledger = ledger
        self.repo = repo
        self.merchants = list(merchants)
        self.run_id = run_id
        self.accounts: list[Account] = [*SYSTEM_ACCOUNTS]
        for merchant in self.merchants:
            self.accounts += [merchant_available(merchant), merchant_pending_payout(merchant)]
        self.expected = repo.balances(self.accounts)
        self.opening = dict(self.expected)
        self.credited = 0  # USDT that came in: payments credited
        self.paid_out = 0  # USDT that left: net payouts settled and refunds
        self.gas_funded = 0
        self.gas_spent = 0
        self.payouts: list[_Payout] = []
        # successful operations, to replay: the call and the accounts it touched
        self.done: list[tuple[Callable[[], Journal], set[Account]]] = []
        self.done_ids: list[str] = []
        # the same operations with the same journal id and other terms: conflicts
        self.others: list[tuple[Callable[[], Journal], set[Account]]] = []
        self.journal_ids: list[str] = []  # every journal this scenario posted
        self._ids = itertools.count()
        self.outcomes: list[str] = []

    # -- operations --

    def apply(self, op: Op) -> None:
        getattr(self, f"_op_{op[0]}")(*op[1:])

    def _op_pay(self, m: int, amount: int) -> None:
        merchant, jid = self.merchants[m], self._jid()
        self._expect(
            jid,
            lambda: self.ledger.credit_payment(merchant, amount, jid),
            {DEPOSITS: amount, merchant_available(merchant): amount},
            credited=amount,
            others=[lambda: self.ledger.credit_payment(merchant, amount + 1, jid)],
        )

    def _op_fund_gas(self, amount: int) -> None:
        jid = self._jid()
        self._expect(
            jid,
            lambda: self.ledger.fund_gas(amount, jid),
            {GAS: amount, OPERATOR_EQUITY: amount},
            gas_funded=amount,
            others=[lambda: self.ledger.fund_gas(amount + 1, jid)],
        )

    def _op_sweep(self, spec: Spec, gas: int) -> None:
        jid, amount = self._jid(), self._amount(spec, self.expected[DEPOSITS])
        self._expect(
            jid,
            lambda: self.ledger.sweep(amount, gas, jid),
            {DEPOSITS: -amount, HOT: amount, **self._gas(gas)},
            gas_spent=gas,
            others=[
                lambda: self.ledger.sweep(amount + 1, gas, jid),
                lambda: self.ledger.sweep(amount, gas + MILLI_BNB, jid),
            ],
        )

    def _op_payout(self, m: int, spec: Spec, fee_permille: int, network_permille: int) -> None:
        self._reserve(Kind.PAYOUT, m, spec, fee_permille, network_permille)

    def _op_reserve_refund(
        self, m: int, spec: Spec, fee_permille: int, network_permille: int
    ) -> None:
        """A refund that reserves first, then settles or is cancelled like a payout."""
        self._reserve(Kind.REFUND, m, spec, fee_permille, network_permille)

    def _reserve(
        self, kind: Kind, m: int, spec: Spec, fee_permille: int, network_permille: int
    ) -> None:
        merchant, jid = self.merchants[m], self._jid()
        gross = self._amount(spec, self.expected[merchant_available(merchant)])
        fee, network_fee = gross * fee_permille // 1000, gross * network_permille // 1000
        payout = _Payout(jid, merchant, gross, fee, network_fee, kind)

        def reserve(kind: Kind = kind, fee: int = fee, network_fee: int = network_fee) -> Journal:
            if kind == Kind.PAYOUT:
                return self.ledger.payout(merchant, gross, fee, network_fee, jid)
            posting = self.ledger.reservation_posting(
                merchant, gross, fee, network_fee, jid, kind=kind
            )
            return post(self.ledger, posting)

        # Same id, other terms: the other kind; and terms whose legs are the same (the
        # whole gross moves either way) but whose settlement would not be.
        others = [lambda: reserve(kind=Kind.REFUND if kind == Kind.PAYOUT else Kind.PAYOUT)]
        if fee != network_fee:
            others.append(lambda: reserve(fee=network_fee, network_fee=fee))
        if payout.net > 1:
            others.append(lambda: reserve(network_fee=network_fee + 1))
        posted = self._expect(
            jid,
            reserve,
            {merchant_available(merchant): -gross, merchant_pending_payout(merchant): gross},
            others=others,
        )
        if posted:
            self.payouts.append(payout)

    def _op_settle(self, ix: int, gas: int) -> None:
        if not self.payouts:
            return
        p = self.payouts[ix % len(self.payouts)]
        call = lambda: self.ledger.settle_payout(p.journal_id, gas)  # noqa: E731
        if p.state == PayoutState.SETTLED:
            self._expect_no_change(
                call, None if gas == p.settle_gas else JournalConflict, self._payout_accounts(p)
            )
            return
        if p.state == PayoutState.CANCELLED:
            self._expect_no_change(call, PayoutNotReserved, self._payout_accounts(p))
            return
        changes = {
            merchant_pending_payout(p.merchant_id): -p.gross,
            HOT: -p.net,
            FEES: p.fee,
            NETWORK_FEES: p.network_fee,
            **self._gas(gas),
        }
        if self._expect(
            f"{p.journal_id}/settled",
            call,
            changes,
            paid_out=p.net,
            gas_spent=gas,
            others=[lambda: self.ledger.settle_payout(p.journal_id, gas + MILLI_BNB)],
        ):
            p.state, p.settle_gas = PayoutState.SETTLED, gas

    def _op_cancel(self, ix: int) -> None:
        """The payout or refund will not be sent (``cancel_payout``)."""
        if self.payouts:
            self._cancel(self.payouts[ix % len(self.payouts)], None)

    def _op_fail(self, ix: int, spec: Spec) -> None:
        """Its transfer failed on chain and still burnt gas: ``cancel_posting(id, gas)``."""
        if self.payouts:
            self._cancel(
                self.payouts[ix % len(self.payouts)], self._amount(spec, self.expected[GAS])
            )

    def _cancel(self, p: _Payout, gas: int | None) -> None:
        burnt = gas or 0
        call = self._cancel_call(p, gas)
        if p.state != PayoutState.RESERVED:
            error: type[Exception] | None = PayoutNotReserved
            if p.state == PayoutState.CANCELLED:
                error = None if burnt == p.cancel_gas else JournalConflict
            self._expect_no_change(call, error, self._payout_accounts(p))
            return
        changes = {
            merchant_pending_payout(p.merchant_id): -p.gross,
            merchant_available(p.merchant_id): p.gross,
            **self._gas(burnt),
        }
        if self._expect(
            f"{p.journal_id}/cancelled",
            call,
            changes,
            gas_spent=burnt,
            others=[self._cancel_call(p, burnt + MILLI_BNB)],
        ):
            p.state, p.cancel_gas = PayoutState.CANCELLED, burnt

    def _cancel_call(self, p: _Payout, gas: int | None) -> Callable[[], Journal]:
        if gas is None:
            return lambda: self.ledger.cancel_payout(p.journal_id)
        return lambda: post(self.ledger, self.ledger.cancel_posting(p.journal_id, gas))

    def _op_refund(self, m: int, spec: Spec, gas: int) -> None:
        merchant, jid = self.merchants[m], self._jid()
        amount = self._amount(
            spec, min(self.expected[merchant_available(merchant)], self.expected[HOT])
        )
        self._expect(
            jid,
            lambda: self.ledger.refund(merchant, amount, jid, gas),
            {merchant_available(merchant): -amount, HOT: -amount, **self._gas(gas)},
            paid_out=amount,
            gas_spent=gas,
            others=[lambda: self.ledger.refund(merchant, amount, jid, gas + MILLI_BNB)],
        )

    def _op_cold(self, spec: Spec, gas: int) -> None:
        jid, amount = self._jid(), self._amount(spec, self.expected[HOT])
        self._expect(
            jid,
            lambda: self.ledger.move_to_cold(amount, jid, gas),
            {HOT: -amount, COLD: amount, **self._gas(gas)},
            gas_spent=gas,
            others=[
                lambda: self.ledger.move_to_cold(amount + 1, jid, gas),
                lambda: post(self.ledger, self.ledger.cold_move_posting(amount, jid, gas + 1)),
            ],
        )

    def _op_gas(self, spec: Spec) -> None:
        """Gas burnt by a transaction that moved nothing (a failed cold move): BNB only,
        journal ``{id}/gas``."""
        jid, amount = self._jid(), self._amount(spec, self.expected[GAS])
        self._expect(
            f"{jid}/gas",
            lambda: post(self.ledger, self.ledger.gas_posting(amount, jid)),
            self._gas(amount),
            gas_spent=amount,
            others=[lambda: post(self.ledger, self.ledger.gas_posting(amount + 1, jid))],
        )

    def _op_replay(self, ix: int) -> None:
        if self.done:
            call, touched = self.done[ix % len(self.done)]
            self._expect_no_change(call, None, touched)

    def _op_conflict(self, ix: int) -> None:
        if self.done_ids:
            jid = self.done_ids[ix % len(self.done_ids)]
            self._expect_no_change(
                lambda: self.ledger.credit_payment(self.merchants[0], NEVER_USED_AMOUNT, jid),
                JournalConflict,
                {DEPOSITS, merchant_available(self.merchants[0])},
            )

    def _op_conflict_terms(self, ix: int) -> None:
        """A posted operation again, same journal id, other terms of the same kind."""
        if self.others:
            call, touched = self.others[ix % len(self.others)]
            self._expect_no_change(call, JournalConflict, touched)

    def _op_close_unknown(self, ix: int, settle: bool) -> None:
        """Settling or cancelling what is no reservation: an id never posted, or the
        journal of another operation (a payment, a closing, burnt gas)."""
        reservations = {p.journal_id for p in self.payouts}
        ids = [f"{self.run_id}-unknown", *(j for j in self.done_ids if j not in reservations)]
        jid = ids[ix % len(ids)]
        call = self.ledger.settle_payout if settle else self.ledger.cancel_payout
        self._expect_no_change(lambda: call(jid), PayoutNotFound, [])

    # -- expectations --

    def _expect(
        self,
        journal_id: str,
        call: Callable[[], Journal],
        changes: dict[Account, int],
        credited: int = 0,
        paid_out: int = 0,
        gas_funded: int = 0,
        gas_spent: int = 0,
        others: Sequence[Callable[[], Journal]] = (),
    ) -> bool:
        """Run ``call``; it must post ``changes`` exactly, or be refused with
        InsufficientFunds when one would take an account below zero (then nothing
        changes). Returns whether it posted. ``others``: the same operation under the
        same journal id with other terms, which must conflict once it posted."""
        changes = {account: delta for account, delta in changes.items() if delta}
        short = {a for a, delta in changes.items() if self.expected[a] + delta < 0}
        if short:
            before = self.snapshot(changes)
            with pytest.raises(InsufficientFunds) as refused:
                call()
            assert refused.value.account in short
            assert self.snapshot(changes) == before  # (4)
            assert self.ledger.journal(journal_id) is None
            self.outcomes.append("refused")
            return False
        journal = call()
        assert not journal.replayed
        assert journal.journal_id == journal_id
        for account, delta in changes.items():
            self.expected[account] += delta
        self.credited += credited
        self.paid_out += paid_out
        self.gas_funded += gas_funded
        self.gas_spent += gas_spent
        self.done.append((call, set(changes)))
        self.others += [(other, set(changes)) for other in others]
        self.done_ids.append(journal_id)
        self.journal_ids.append(journal_id)
        self.outcomes.append("posted")
        assert self.repo.balances(self.accounts) == self.expected
        return True

    def _expect_no_change(
        self,
        call: Callable[[], Journal],
        error: type[Exception] | None,
        touched: Iterable[Account],
    ) -> None:
        """A replay returns the stored journal; a refusal raises ``error``; neither writes
        (``touched``: the accounts the operation would post to)."""
        touched = list(touched)
        before = self.snapshot(touched)
        if error is None:
            assert call().replayed  # (5)
            self.outcomes.append("replayed")
        else:
            with pytest.raises(error):
                call()
            self.outcomes.append(error.__name__)
        assert self.snapshot(touched) == before  # (4), (5)

    # -- observation --

    def snapshot(self, touched: Iterable[Account]) -> tuple[Any, ...]:
        """What a posting could have written: every balance, the newest entry of the
        accounts it would touch, and the state of every reservation."""
        newest = tuple(
            tuple(e.entry_key for e in self.ledger.entries(a, limit=1).entries)
            for a in sorted(touched)
        )
        states = tuple(
            j.payout_state if (j := self.ledger.journal(p.journal_id)) else None
            for p in self.payouts
        )
        return (self.repo.balances(self.accounts), newest, states)

    def check_invariants(self, page_size: int = 7) -> None:
        everything = self.repo.accounts()
        # (1) every balance is the sum of its entries (walking the pages)
        entries = {account: self._all_entries(account, page_size) for account in self.accounts}
        for account, listed in entries.items():
            assert all(e.account == account for e in listed)
            assert sum(e.delta for e in listed) == self.ledger.balance(account), account
        # (2) debits equal credits, per asset
        assert self.ledger.trial_balance() == {asset: 0 for asset in Asset}
        # (3) what is owed or earned is what is held; held = opening + in - out
        held = sum(everything.get(a, 0) for a in USDT_HOLDINGS)
        owed = sum(
            balance
            for a, balance in everything.items()
            if a.asset == Asset.USDT and a.name.startswith(("merchant:", "revenue:"))
        )
        assert owed == held
        opening_held = sum(self.opening[a] for a in USDT_HOLDINGS)
        assert held == opening_held + self.credited - self.paid_out
        # BNB: gas on hand + gas spent = what the operator put in
        assert everything.get(GAS, 0) + everything.get(GAS_EXPENSE, 0) == everything.get(
            OPERATOR_EQUITY, 0
        )
        assert self.ledger.balance(GAS) == self.opening[GAS] + self.gas_funded - self.gas_spent
        assert self.ledger.balance(GAS_EXPENSE) == self.opening[GAS_EXPENSE] + self.gas_spent
        # (6) each reservation moved its gross once each way, and only the open ones are
        # pending
        by_journal: dict[str, list[tuple[Account, int]]] = {}
        for account, listed in entries.items():
            for e in listed:
                by_journal.setdefault(e.journal_id, []).append((account, e.delta))
        for p in self.payouts:
            self._check_reservation(p, by_journal)
        for merchant in self.merchants:
            pending = merchant_pending_payout(merchant)
            still_open = sum(
                p.gross
                for p in self.payouts
                if p.merchant_id == merchant and p.state == PayoutState.RESERVED
            )
            assert everything.get(pending, 0) == self.opening[pending] + still_open
        # the model agrees on every account this scenario touches
        assert self.repo.balances(self.accounts) == self.expected

    def _check_reservation(
        self, p: _Payout, by_journal: dict[str, list[tuple[Account, int]]]
    ) -> None:
        """The entries of a reservation and of its closing, exactly: the gross leaves
        available once, and comes back once only if the reservation was cancelled."""

        def posted(journal_id: str) -> dict[Account, int]:
            found = by_journal.get(journal_id, [])
            assert len({account for account, _ in found}) == len(found), (journal_id, found)
            return dict(found)

        def nonzero(deltas: dict[Account, int]) -> dict[Account, int]:
            return {account: delta for account, delta in deltas.items() if delta}

        available = merchant_available(p.merchant_id)
        pending = merchant_pending_payout(p.merchant_id)
        cancelled = {pending: -p.gross, available: p.gross, **self._gas(p.cancel_gas)}
        settled = {
            pending: -p.gross,
            HOT: -p.net,
            FEES: p.fee,
            NETWORK_FEES: p.network_fee,
            **self._gas(p.settle_gas),
        }
        assert posted(p.journal_id) == {available: -p.gross, pending: p.gross}, p
        assert posted(f"{p.journal_id}/cancelled") == (
            nonzero(cancelled) if p.state == PayoutState.CANCELLED else {}
        ), p
        assert posted(f"{p.journal_id}/settled") == (
            nonzero(settled) if p.state == PayoutState.SETTLED else {}
        ), p
        journal = self.ledger.journal(p.journal_id)
        assert journal is not None, p
        assert (journal.kind, journal.payout_state, journal.payout) == (
            p.kind,
            p.state,
            PayoutTerms(p.merchant_id, p.gross, p.fee, p.network_fee),
        )

    def _all_entries(self, account: Account, page_size: int) -> list[Entry]:
        listed: list[Entry] = []
        cursor = None
        while True:
            page = self.ledger.entries(account, limit=page_size, cursor=cursor)
            listed += page.entries
            if page.next_cursor is None:
                return listed
            cursor = page.next_cursor

    @staticmethod
    def _amount(spec: Spec, balance: int) -> int:
        """An absolute amount, or a share of a balance in permille (over 1000: too much)."""
        how, n = spec
        return n if how == "abs" else max(1, balance * n // 1000)

    @staticmethod
    def _payout_accounts(p: _Payout) -> set[Account]:
        return {
            merchant_available(p.merchant_id),
            merchant_pending_payout(p.merchant_id),
            HOT,
            FEES,
            NETWORK_FEES,
            GAS,
            GAS_EXPENSE,
        }

    def _gas(self, gas: int) -> dict[Account, int]:
        return {GAS: -gas, GAS_EXPENSE: gas}

    def _jid(self) -> str:
        return f"{self.run_id}-{next(self._ids)}"


# ---- the random operations --------------------------------------------------------------

MERCHANTS = 3
merchant_ix = st.integers(0, MERCHANTS - 1)
# Round amounts make balances meet exactly (boundary overdrafts); odd ones cover 27 digits.
amounts = st.one_of(st.integers(1, 60).map(lambda n: n * UNIT), st.integers(1, 10**27))
gas = st.one_of(st.just(0), st.integers(1, 20).map(lambda n: n * MILLI_BNB))
permille = st.integers(0, 300)
pick = st.integers(0, 1000)
# What an outgoing operation spends: a share of the balance it draws on (up to 110 %, so
# some overdraw by a little) or an absolute amount.
spends = st.one_of(
    st.tuples(st.just("share"), st.integers(1, 1100)),
    st.tuples(st.just("share"), st.sampled_from([1000, 1001])),
    st.tuples(st.just("abs"), amounts),
)
# Gas burnt by a failed transaction: a share of the BNB on hand (all of it, or a little
# more), or a few milli-BNB.
burnt = st.one_of(
    st.tuples(st.just("share"), st.integers(1, 1100)),
    st.tuples(st.just("share"), st.sampled_from([1000, 1001])),
    st.tuples(st.just("abs"), st.integers(1, 20).map(lambda n: n * MILLI_BNB)),
)

operations = st.one_of(
    st.tuples(st.just("pay"), merchant_ix, amounts),
    st.tuples(st.just("pay"), merchant_ix, amounts),
    st.tuples(st.just("fund_gas"), st.integers(1, 50).map(lambda n: n * MILLI_BNB)),
    st.tuples(st.just("sweep"), spends, gas),
    st.tuples(st.just("payout"), merchant_ix, spends, permille, permille),
    st.tuples(st.just("payout"), merchant_ix, spends, permille, permille),
    st.tuples(st.just("settle"), pick, gas),
    st.tuples(st.just("cancel"), pick),
    st.tuples(st.just("settle"), pick, gas),
    st.tuples(st.just("refund"), merchant_ix, spends, gas),
    st.tuples(st.just("cold"), spends, gas),
    st.tuples(st.just("replay"), pick),
    st.tuples(st.just("conflict"), pick),
    # refunds that reserve first; cancellations that book the gas a failed transfer burnt
    st.tuples(st.just("reserve_refund"), merchant_ix, spends, permille, permille),
    st.tuples(st.just("reserve_refund"), merchant_ix, spends, st.just(0), permille),
    st.tuples(st.just("fail"), pick, burnt),
    st.tuples(st.just("gas"), burnt),
    st.tuples(st.just("close_unknown"), pick, st.booleans()),
    st.tuples(st.just("conflict_terms"), pick),
    st.tuples(st.just("conflict_terms"), pick),
)


PRELUDE: list[Op] = [
    ("fund_gas", 100 * MILLI_BNB),
    *[("pay", m, 100 * UNIT) for m in range(MERCHANTS)],
    ("sweep", ("share", 500), MILLI_BNB),
    ("payout", 0, ("share", 300), 10, 5),
    ("payout", 1, ("share", 600), 0, 20),
    ("reserve_refund", 2, ("share", 200), 0, 10),
]


def fresh_ledger() -> tuple[Ledger, InMemoryLedgerRepository]:
    repo = InMemoryLedgerRepository()
    clock = itertools.count(1_700_000_000_000)
    return Ledger(repo, clock=lambda: next(clock)), repo


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([[], PRELUDE]), st.lists(operations, min_size=5, max_size=40))
def test_random_operations_keep_the_ledger_balanced(prelude: list[Op], ops: list[Op]) -> None:
    # Given three merchants, and a ledger that is empty or that a few payments and some
    # BNB for gas have reached (so that spending operations mostly have something to spend)
    ledger, repo = fresh_ledger()
    scenario = LedgerScenario(ledger, repo, [f"mer_{i}" for i in range(MERCHANTS)], "j")

    for op in [*prelude, *ops]:
        # When each operation runs (posting, being refused, or replaying)
        scenario.apply(op)
        # Then the ledger matches the model and every invariant holds
        scenario.check_invariants()


# ---- single behaviours --------------------------------------------------------------------


def test_a_final_payment_credits_the_merchant_against_deposits() -> None:
    # Given an empty ledger
    ledger, _ = fresh_ledger()

    # When 25 USDT become final for a merchant
    journal = ledger.credit_payment("mer_a", 25 * UNIT, "56:0xabc:3")

    # Then deposits hold it and the merchant can use it, as one balanced posting
    assert ledger.holdings()["holdings:deposits"] == 25 * UNIT
    assert ledger.merchant_balance("mer_a").available == 25 * UNIT
    assert {(leg.account, leg.side) for leg in journal.legs} == {
        (DEPOSITS, Side.DEBIT),
        (merchant_available("mer_a"), Side.CREDIT),
    }


def test_a_redelivered_credit_posts_once() -> None:
    # Given a credited payment
    ledger, _ = fresh_ledger()
    ledger.credit_payment("mer_a", 25 * UNIT, "56:0xabc:3")

    # When the same message is processed again
    again = ledger.credit_payment("mer_a", 25 * UNIT, "56:0xabc:3")

    # Then it is recognised as a replay and nothing is counted twice
    assert again.replayed
    assert ledger.merchant_balance("mer_a").available == 25 * UNIT
    assert len(ledger.entries(DEPOSITS).entries) == 1


def test_a_journal_id_reused_for_other_terms_is_a_conflict() -> None:
    # Given a credited payment
    ledger, _ = fresh_ledger()
    ledger.credit_payment("mer_a", 25 * UNIT, "56:0xabc:3")

    # When the same journal id arrives with another amount, Then it is refused
    with pytest.raises(JournalConflict):
        ledger.credit_payment("mer_a", 26 * UNIT, "56:0xabc:3")
    assert ledger.merchant_balance("mer_a").available == 25 * UNIT


def test_payout_reserves_then_settles_the_net_and_earns_the_fees() -> None:
    # Given 100 USDT available, swept to the hot wallet with BNB for gas
    ledger, _ = fresh_ledger()
    ledger.credit_payment("mer_a", 100 * UNIT, "t1")
    ledger.fund_gas(UNIT, "bnb1")
    ledger.sweep(100 * UNIT, 2 * MILLI_BNB, "sw1")

    # When the merchant pays out 60 (1 fee, 0.5 network fee)
    ledger.payout("mer_a", 60 * UNIT, UNIT, UNIT // 2, "po1")

    # Then 60 is reserved
    assert ledger.merchant_balance("mer_a").available == 40 * UNIT
    assert ledger.merchant_balance("mer_a").pending_payout == 60 * UNIT

    # When the transfer is final
    settled = ledger.settle_payout("po1", gas_bnb=MILLI_BNB)

    # Then 58.5 left the hot wallet and the fees are revenue
    assert settled.journal_id == "po1/settled"
    assert ledger.merchant_balance("mer_a").pending_payout == 0
    assert ledger.balance(HOT) == 100 * UNIT - 585 * UNIT // 10
    assert ledger.balance(FEES) == UNIT
    assert ledger.balance(NETWORK_FEES) == UNIT // 2
    assert ledger.balance(GAS) == UNIT - 3 * MILLI_BNB
    assert ledger.balance(GAS_EXPENSE) == 3 * MILLI_BNB
    assert ledger.journal("po1").payout_state == PayoutState.SETTLED  # type: ignore[union-attr]


def test_a_cancelled_payout_returns_the_reservation_and_cannot_settle() -> None:
    # Given a reserved payout
    ledger, _ = fresh_ledger()
    ledger.credit_payment("mer_a", 10 * UNIT, "t1")
    ledger.payout("mer_a", 10 * UNIT, 0, 0, "po1")

    # When it is cancelled
    ledger.cancel_payout("po1")

    # Then the money is available again, and the payout can no longer settle
    assert ledger.merchant_balance("mer_a").available == 10 * UNIT
    with pytest.raises(PayoutNotReserved) as refused:
        ledger.settle_payout("po1")
    assert refused.value.state == PayoutState.CANCELLED
    with pytest.raises(PayoutNotFound):
        ledger.settle_payout("po-unknown")


def test_a_failed_refund_returns_the_whole_reservation_and_books_the_burnt_gas() -> None:
    # Given a refund of 10 USDT (0.5 network fee) reserved from 30 available, and BNB
    ledger, _ = fresh_ledger()
    ledger.credit_payment("mer_a", 30 * UNIT, "t1")
    ledger.fund_gas(UNIT, "bnb1")
    post(ledger, ledger.reservation_posting("mer_a", 10 * UNIT, 0, UNIT // 2, "rf1", Kind.REFUND))
    assert ledger.merchant_balance("mer_a").available == 20 * UNIT
    with pytest.raises(JournalConflict):  # the same terms as a payout are other terms
        ledger.payout("mer_a", 10 * UNIT, 0, UNIT // 2, "rf1")

    # When its transfer fails on chain after burning 3 milli-BNB
    cancelled = post(ledger, ledger.cancel_posting("rf1", 3 * MILLI_BNB))

    # Then the whole gross is available again, and the operator bears the gas
    assert cancelled.journal_id == "rf1/cancelled"
    assert ledger.merchant_balance("mer_a") == MerchantBalance(
        available=30 * UNIT, pending_payout=0
    )
    assert ledger.balance(GAS_EXPENSE) == 3 * MILLI_BNB
    assert ledger.journal("rf1").payout_state == PayoutState.CANCELLED  # type: ignore[union-attr]

    # And a redelivery replays it, other gas conflicts, and it can no longer settle
    assert post(ledger, ledger.cancel_posting("rf1", 3 * MILLI_BNB)).replayed
    with pytest.raises(JournalConflict):
        ledger.cancel_payout("rf1")
    with pytest.raises(PayoutNotReserved):
        ledger.settle_payout("rf1")
    assert ledger.merchant_balance("mer_a").available == 30 * UNIT
    assert ledger.balance(GAS_EXPENSE) == 3 * MILLI_BNB


def test_a_cancellation_burning_more_gas_than_recorded_is_refused_whole() -> None:
    # Given a reserved payout and 1 milli-BNB recorded for gas
    ledger, repo = fresh_ledger()
    ledger.credit_payment("mer_a", 10 * UNIT, "t1")
    ledger.fund_gas(MILLI_BNB, "bnb1")
    ledger.payout("mer_a", 10 * UNIT, 0, 0, "po1")
    before = repo.accounts()

    # When its failure is booked with 2 milli-BNB of gas
    with pytest.raises(InsufficientFunds) as refused:
        post(ledger, ledger.cancel_posting("po1", 2 * MILLI_BNB))

    # Then nothing moved and the reservation is still open, so a cancel without gas works
    assert refused.value.account == GAS
    assert repo.accounts() == before
    assert ledger.journal("po1").payout_state == PayoutState.RESERVED  # type: ignore[union-attr]
    ledger.cancel_payout("po1")
    assert ledger.merchant_balance("mer_a").available == 10 * UNIT


def test_gas_burnt_by_a_failed_cold_move_is_booked_once_under_its_own_id() -> None:
    # Given BNB for gas
    ledger, _ = fresh_ledger()
    ledger.fund_gas(UNIT, "bnb1")

    # When the gas of failed cold move cm1 is booked, twice
    first = post(ledger, ledger.gas_posting(2 * MILLI_BNB, "cm1"))
    again = post(ledger, ledger.gas_posting(2 * MILLI_BNB, "cm1"))

    # Then it is one BNB-only posting under "cm1/gas", and other gas under that id conflicts
    assert (first.journal_id, first.kind, again.replayed) == ("cm1/gas", Kind.GAS, True)
    assert ledger.balance(GAS) == UNIT - 2 * MILLI_BNB
    assert ledger.balance(GAS_EXPENSE) == 2 * MILLI_BNB
    with pytest.raises(JournalConflict):
        post(ledger, ledger.gas_posting(3 * MILLI_BNB, "cm1"))
    assert ledger.journal("cm1") is None


def test_a_merchant_cannot_pay_out_or_refund_more_than_available() -> None:
    # Given 10 USDT available and 10 in the hot wallet
    ledger, repo = fresh_ledger()
    ledger.credit_payment("mer_a", 10 * UNIT, "t1")
    ledger.sweep(10 * UNIT, 0, "sw1")
    before = repo.accounts()

    # When the merchant tries to pay out or refund 10 USDT and one base unit
    with pytest.raises(InsufficientFunds) as payout:
        ledger.payout("mer_a", 10 * UNIT + 1, 0, 0, "po1")
    with pytest.raises(InsufficientFunds) as refund:
        ledger.refund("mer_a", 10 * UNIT + 1, "rf1")

    # Then both are refused naming the account, and nothing was written
    assert payout.value.account == merchant_available("mer_a")
    assert (payout.value.balance, payout.value.requested) == (10 * UNIT, 10 * UNIT + 1)
    assert refund.value.account in {merchant_available("mer_a"), HOT}
    assert repo.accounts() == before
    assert ledger.journal("po1") is None and ledger.journal("rf1") is None


def test_a_sweep_without_gas_on_hand_is_refused() -> None:
    # Given deposits but no BNB recorded for gas
    ledger, _ = fresh_ledger()
    ledger.credit_payment("mer_a", 10 * UNIT, "t1")

    # When a sweep that paid gas is recorded, Then it is refused on the gas account
    with pytest.raises(InsufficientFunds) as refused:
        ledger.sweep(10 * UNIT, MILLI_BNB, "sw1")
    assert refused.value.account == GAS
    assert ledger.balance(HOT) == 0


@pytest.mark.parametrize("amount", [0, -1, 1.5, True, 10**34])
def test_amounts_must_be_positive_integers(amount: Any) -> None:
    # Given a ledger, When an operation carries a bad amount, Then it is refused up front
    ledger, repo = fresh_ledger()
    with pytest.raises(InvalidPosting):
        ledger.credit_payment("mer_a", amount, "t1")
    assert repo.accounts() == {}


def test_fees_must_leave_a_positive_payout() -> None:
    # Given 10 available, When fees eat the whole payout, Then it is refused
    ledger, _ = fresh_ledger()
    ledger.credit_payment("mer_a", 10 * UNIT, "t1")
    with pytest.raises(InvalidPosting):
        ledger.payout("mer_a", 10 * UNIT, 9 * UNIT, UNIT, "po1")


def test_a_posting_must_balance_per_asset() -> None:
    # Given legs whose USDT debit is offset by a BNB credit
    legs = (Leg(HOT, Side.DEBIT, UNIT), Leg(GAS, Side.CREDIT, UNIT))

    # When they form a posting, Then it is refused: assets never net against each other
    with pytest.raises(InvalidPosting):
        Posting("x", Kind.SWEEP, legs, 0)


def test_entries_are_listed_newest_first_page_by_page() -> None:
    # Given five payments to one merchant
    ledger, _ = fresh_ledger()
    for i in range(5):
        ledger.credit_payment("mer_a", (i + 1) * UNIT, f"t{i}")

    # When the merchant's entries are read two at a time
    first = ledger.entries(merchant_available("mer_a"), limit=2)
    second = ledger.entries(merchant_available("mer_a"), limit=2, cursor=first.next_cursor)
    third = ledger.entries(merchant_available("mer_a"), limit=2, cursor=second.next_cursor)

    # Then they come newest first, each once, and the last page has no cursor
    ids = [e.journal_id for page in (first, second, third) for e in page.entries]
    assert ids == ["t4", "t3", "t2", "t1", "t0"]
    assert third.next_cursor is None


def test_reconcile_reports_drift_beyond_tolerance() -> None:
    # Given a ledger holding 10 USDT on deposit addresses and 1 BNB for gas
    ledger, _ = fresh_ledger()
    ledger.credit_payment("mer_a", 10 * UNIT, "t1")
    ledger.fund_gas(UNIT, "bnb1")

    # When the chain shows 1 base unit less on deposits, 2 more USDT than known on the hot
    # wallet, and BNB within tolerance
    drifts = reconcile(
        ledger,
        {
            "holdings:deposits": 10 * UNIT - 1,
            "holdings:hot": 2 * UNIT,
            "holdings:gas": UNIT - 5,
        },
        tolerance={"holdings:gas": 10},
    )

    # Then the shortfall and the surplus are reported, nothing else
    assert drifts == [
        Drift("holdings:deposits", ledger=10 * UNIT, chain=10 * UNIT - 1),
        Drift("holdings:hot", ledger=0, chain=2 * UNIT),
    ]
    assert [d.kind for d in drifts] == ["shortfall", "surplus"]
    assert drifts[0].difference == -1
    with pytest.raises(ValueError):
        reconcile(ledger, {"holdings:elsewhere": 0})
