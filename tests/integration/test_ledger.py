"""The ledger on DynamoDB (moto server of the ``stack`` fixture): balances are
conditioned inside each posting's transaction, so overdrafts and double settlement are
refused by DynamoDB itself, not by a read first; a random sequence checked against
the model of tests/unit/test_ledger_invariants.py keeps every invariant.

The holdings and revenue accounts are shared by every test of the session, so tests
compare their changes; merchants are fresh per test."""

from __future__ import annotations

import random
import uuid

import pytest
from pynamodb.exceptions import TransactWriteError

from shared.dal import audit, ledger_repo
from shared.dal.ledger_repo import DynamoLedgerRepository
from shared.ledger import (
    DEPOSITS,
    FEES,
    GAS,
    HOT,
    NETWORK_FEES,
    InsufficientFunds,
    JournalConflict,
    Ledger,
    PayoutNotReserved,
    PayoutState,
    credit_payment_posting,
    merchant_available,
    reconcile,
)
from shared.local.stack import LocalStack
from tests.unit.test_ledger_invariants import MILLI_BNB, UNIT, LedgerScenario, Op

BIG = 123_456_789 * UNIT + 987_654_321  # 27 digits: every one must survive the round trip


@pytest.fixture
def ledger(stack: LocalStack) -> Ledger:
    return Ledger(DynamoLedgerRepository())


def _id(prefix: str) -> str:
    return f"{prefix}_it_{uuid.uuid4().hex[:12]}"


def _fund(ledger: Ledger, merchant: str, amount: int, to_hot: bool = True) -> None:
    """Credit a payment (and sweep it to the hot wallet, with gas on hand)."""
    ledger.credit_payment(merchant, amount, _id("tr"))
    if to_hot:
        ledger.fund_gas(10 * MILLI_BNB, _id("bnb"))
        ledger.sweep(amount, MILLI_BNB, _id("sw"))


def test_payment_payout_and_refund_post_exact_balanced_amounts(ledger: Ledger) -> None:
    # Given a fresh merchant and the shared holdings as they are
    merchant = _id("mer")
    before = {a: ledger.balance(a) for a in (DEPOSITS, HOT, FEES, NETWORK_FEES)}

    # When a large payment is final, swept, partly paid out and partly refunded
    transfer = _id("56:0xfeed")
    ledger.credit_payment(merchant, BIG, transfer)
    ledger.fund_gas(10 * MILLI_BNB, _id("bnb"))
    ledger.sweep(BIG, MILLI_BNB, _id("sw"))
    payout = _id("po")
    ledger.payout(merchant, 40 * UNIT, UNIT, 3, payout)
    settled = ledger.settle_payout(payout, gas_bnb=MILLI_BNB)
    ledger.refund(merchant, 5 * UNIT, _id("rf"))

    # Then every digit is accounted for
    assert ledger.merchant_balance(merchant).available == BIG - 45 * UNIT
    assert ledger.merchant_balance(merchant).pending_payout == 0
    assert ledger.balance(DEPOSITS) == before[DEPOSITS]
    assert ledger.balance(HOT) == before[HOT] + BIG - (40 * UNIT - UNIT - 3) - 5 * UNIT
    assert ledger.balance(FEES) == before[FEES] + UNIT
    assert ledger.balance(NETWORK_FEES) == before[NETWORK_FEES] + 3
    assert ledger.journal(payout).payout_state == PayoutState.SETTLED  # type: ignore[union-attr]
    assert settled.journal_id == f"{payout}/settled"

    # And the merchant's statement lists the movements newest first
    page = ledger.entries(merchant_available(merchant), limit=2)
    assert [e.delta for e in page.entries] == [-5 * UNIT, -40 * UNIT]
    rest = ledger.entries(merchant_available(merchant), limit=2, cursor=page.next_cursor)
    assert [(e.journal_id, e.delta) for e in rest.entries] == [(transfer, BIG)]
    assert rest.next_cursor is None


def test_overdraft_is_refused_by_the_balance_condition_and_writes_nothing(
    ledger: Ledger,
) -> None:
    # Given a merchant with 10 USDT available
    merchant = _id("mer")
    _fund(ledger, merchant, 10 * UNIT)
    hot = ledger.balance(HOT)

    # When it pays out one base unit more than it has
    payout = _id("po")
    with pytest.raises(InsufficientFunds) as refused:
        ledger.payout(merchant, 10 * UNIT + 1, 0, 0, payout)

    # Then DynamoDB refused the whole transaction: no journal, no entry, no balance change
    assert refused.value.account == merchant_available(merchant)
    assert refused.value.balance == 10 * UNIT
    assert ledger.journal(payout) is None
    assert ledger.merchant_balance(merchant).available == 10 * UNIT
    assert len(ledger.entries(merchant_available(merchant)).entries) == 1
    assert ledger.balance(HOT) == hot


def test_replays_post_once_and_reused_ids_conflict(ledger: Ledger) -> None:
    # Given a credited payment
    merchant, transfer = _id("mer"), _id("tr")
    ledger.credit_payment(merchant, 7 * UNIT, transfer)

    # When the message is redelivered, and when the id comes back with other terms
    again = ledger.credit_payment(merchant, 7 * UNIT, transfer)
    with pytest.raises(JournalConflict):
        ledger.credit_payment(merchant, 8 * UNIT, transfer)

    # Then it counted once
    assert again.replayed
    assert ledger.merchant_balance(merchant).available == 7 * UNIT


def test_a_closed_payout_is_refused_by_the_reservation_condition(ledger: Ledger) -> None:
    # Given a payout that was cancelled
    merchant, payout = _id("mer"), _id("po")
    _fund(ledger, merchant, 50 * UNIT)
    ledger.payout(merchant, 50 * UNIT, UNIT, 0, payout)
    ledger.cancel_payout(payout)

    # When it is settled after all
    with pytest.raises(PayoutNotReserved) as refused:
        ledger.settle_payout(payout)

    # Then the reservation's state condition refused it and the money stays available
    assert refused.value.state == PayoutState.CANCELLED
    assert ledger.journal(f"{payout}/settled") is None
    assert ledger.merchant_balance(merchant).available == 50 * UNIT
    assert ledger.cancel_payout(payout).replayed


# Concurrency is not tested here: moto's TransactWriteItems is not isolated (it runs
# unlocked on the server's threads, and a cancelled transaction restores a deep copy of
# every table it touched, erasing writes committed meanwhile). The guarantee comes from
# DynamoDB's serializable transactions; see docs/adr/0010-ledger.md.


def test_a_credit_commits_inside_the_callers_transaction(ledger: Ledger) -> None:
    # Given a posting built for a final transfer (what payments.finalize_transfer would add)
    merchant, transfer = _id("mer"), _id("tr")
    posting = credit_payment_posting(merchant, 3 * UNIT, transfer, created_ms=1_700_000_000_000)

    # When it is added to a transaction the caller commits
    audit.transact(lambda tx: ledger_repo.add_to_transaction(tx, posting))

    # Then it is posted; and a second commit of the same credit cancels the caller's whole
    # transaction (the caller's retry then finds its own state already moved on)
    assert ledger.merchant_balance(merchant).available == 3 * UNIT
    with pytest.raises(TransactWriteError):
        audit.transact(lambda tx: ledger_repo.add_to_transaction(tx, posting))
    assert ledger.merchant_balance(merchant).available == 3 * UNIT


def _random_ops(rng: random.Random, n: int) -> list[Op]:
    """A short mix of every operation, like the unit test's hypothesis strategy."""

    def spend() -> tuple[str, int]:
        return ("share", rng.choice([rng.randint(1, 1000), 1000, 1001, 1300]))

    def gas() -> int:
        return rng.choice([0, MILLI_BNB])

    kinds = [
        lambda: ("pay", rng.randrange(2), rng.randint(1, 80) * UNIT + rng.randint(0, 99)),
        lambda: ("fund_gas", 5 * MILLI_BNB),
        lambda: ("sweep", spend(), gas()),
        lambda: ("payout", rng.randrange(2), spend(), rng.randint(0, 50), rng.randint(0, 50)),
        lambda: ("settle", rng.randrange(100), gas()),
        lambda: ("cancel", rng.randrange(100)),
        lambda: ("refund", rng.randrange(2), spend(), gas()),
        lambda: ("cold", spend(), gas()),
        lambda: ("replay", rng.randrange(100)),
        lambda: ("conflict", rng.randrange(100)),
    ]
    return [rng.choice(kinds)() for _ in range(n)]


def test_a_random_sequence_keeps_every_invariant_on_dynamodb(ledger: Ledger) -> None:
    # Given two fresh merchants and the shared ledger as it stands
    repo = DynamoLedgerRepository()
    scenario = LedgerScenario(ledger, repo, [_id("mer"), _id("mer")], _id("rnd"))
    ops: list[Op] = [
        ("pay", 0, 60 * UNIT),
        ("pay", 1, 40 * UNIT),
        ("fund_gas", 10 * MILLI_BNB),
        *_random_ops(random.Random(20240610), 30),
    ]

    for op in ops:
        # When each operation runs
        scenario.apply(op)

    # Then DynamoDB agrees with the model and every invariant holds across the whole table
    scenario.check_invariants(page_size=100)
    assert {"posted", "refused", "replayed", "JournalConflict"} <= set(scenario.outcomes)


def test_reconcile_compares_the_ledger_with_balances_read_on_chain(ledger: Ledger) -> None:
    # Given the ledger's holdings
    held = ledger.holdings()

    # When the chain agrees on hot and gas but shows one base unit less on deposits
    drifts = reconcile(
        ledger,
        {
            "holdings:hot": held["holdings:hot"],
            "holdings:gas": held["holdings:gas"],
            "holdings:deposits": held["holdings:deposits"] - 1,
        },
    )

    # Then only the shortfall is reported
    assert [(d.account, d.kind, d.difference) for d in drifts] == [
        ("holdings:deposits", "shortfall", -1)
    ]
    assert GAS.name == "holdings:gas"
