"""The payment state machine (DESIGN §3 statuses), as pure functions."""

from __future__ import annotations

import pytest

from shared.models.domain import PaymentStatus as S
from shared.models.events import EVENT_TYPES
from shared.payments.state import (
    SETTLED,
    Totals,
    can_cancel,
    event_type_for,
    status_after_funds,
    status_at_expiry,
)

AMOUNT = 100
EXPIRES_AT = 1_000
BEFORE, AT, AFTER = EXPIRES_AT - 1, EXPIRES_AT, EXPIRES_AT + 1


@pytest.mark.parametrize(
    ("current", "received", "pending", "expected"),
    [
        (S.PENDING, 0, 0, S.PENDING),  # nothing seen
        (S.PENDING, 0, 40, S.CONFIRMING),  # funds seen, not final
        (S.PENDING, 0, 100, S.CONFIRMING),  # the full amount seen is still not paid
        (S.PENDING, 0, 250, S.CONFIRMING),
        (S.CONFIRMING, 40, 0, S.CONFIRMING),  # part final, rest missing
        (S.CONFIRMING, 40, 60, S.CONFIRMING),  # the rest still confirming
        (S.CONFIRMING, 100, 0, S.PAID),  # exactly the amount, final
        (S.CONFIRMING, 100, 5, S.PAID),  # final funds decide, pending extra does not
        (S.CONFIRMING, 101, 0, S.OVERPAID),
        (S.PENDING, 100, 0, S.PAID),  # seen and final in one pass
        (S.PENDING, 150, 0, S.OVERPAID),
        (S.CONFIRMING, 0, 0, S.PENDING),  # the only transfer was reversed in a reorg
    ],
)
def test_funds_move_an_open_payment(current: S, received: int, pending: int, expected: S) -> None:
    # Given an open payment of 100 units
    # When its totals change
    after = status_after_funds(current, AMOUNT, Totals(received=received, pending=pending))

    # Then its status follows the final and pending funds
    assert after == expected


@pytest.mark.parametrize("settled", sorted(SETTLED))
@pytest.mark.parametrize(("received", "pending"), [(0, 0), (0, 50), (100, 0), (500, 0)])
def test_settled_statuses_never_change_with_funds(settled: S, received: int, pending: int) -> None:
    # Given a settled payment (late funds are recorded, not re-judged)
    # When funds move, Then the status stays
    assert status_after_funds(settled, AMOUNT, Totals(received, pending)) == settled


@pytest.mark.parametrize("settled", sorted(SETTLED))
def test_settled_statuses_never_change_at_expiry(settled: S) -> None:
    assert status_at_expiry(settled, AMOUNT, Totals(0, 0), AFTER, EXPIRES_AT) == settled
    assert status_at_expiry(settled, AMOUNT, Totals(40, 0), AFTER, EXPIRES_AT) == settled


def test_settled_set_is_every_status_but_the_open_ones_and_held() -> None:
    assert {s for s in S if not s.is_open and s is not S.HELD} == SETTLED
    assert {s for s in S if s.is_open} == {S.PENDING, S.CONFIRMING}


@pytest.mark.parametrize("totals", [Totals(0, 0), Totals(0, 50), Totals(100, 0), Totals(150, 0)])
def test_held_stays_held_whatever_arrives_until_released_or_returned(totals: Totals) -> None:
    # docs/adr/0020: only a finance user's release or return moves a held payment
    assert status_after_funds(S.HELD, AMOUNT, totals) == S.HELD
    assert status_at_expiry(S.HELD, AMOUNT, totals, AFTER, EXPIRES_AT) == S.HELD
    assert not can_cancel(S.HELD, totals)
    assert event_type_for(S.HELD) in EVENT_TYPES


@pytest.mark.parametrize("current", [S.PENDING, S.CONFIRMING])
def test_nothing_happens_before_the_expiry_time(current: S) -> None:
    # Given an open payment, When the expirer looks before expires_at, Then it stays open
    assert status_at_expiry(current, AMOUNT, Totals(0, 0), BEFORE, EXPIRES_AT) == current
    assert status_at_expiry(current, AMOUNT, Totals(40, 0), BEFORE, EXPIRES_AT) == current


@pytest.mark.parametrize("now", [AT, AFTER])
def test_payment_with_nothing_received_expires(now: int) -> None:
    assert status_at_expiry(S.PENDING, AMOUNT, Totals(0, 0), now, EXPIRES_AT) == S.EXPIRED


def test_payment_with_too_little_final_funds_is_underpaid_at_expiry() -> None:
    # Given 40 of 100 units final and nothing else in flight
    # When it expires, Then it is underpaid
    assert status_at_expiry(S.CONFIRMING, AMOUNT, Totals(40, 0), AFTER, EXPIRES_AT) == S.UNDERPAID


@pytest.mark.parametrize(("received", "pending"), [(0, 100), (40, 60), (0, 1)])
def test_funds_still_confirming_keep_the_payment_open_at_expiry(
    received: int, pending: int
) -> None:
    # Given funds seen before expiry that are not final yet
    # When the expiry time passes, Then the payment waits for them instead of expiring
    assert (
        status_at_expiry(S.CONFIRMING, AMOUNT, Totals(received, pending), AFTER, EXPIRES_AT)
        == S.CONFIRMING
    )


@pytest.mark.parametrize(("received", "expected"), [(100, S.PAID), (120, S.OVERPAID)])
def test_fully_funded_open_payment_settles_as_paid_at_expiry(received: int, expected: S) -> None:
    assert (
        status_at_expiry(S.CONFIRMING, AMOUNT, Totals(received, 0), AFTER, EXPIRES_AT) == expected
    )


def test_only_a_pending_payment_with_nothing_seen_can_be_canceled() -> None:
    assert can_cancel(S.PENDING, Totals(0, 0))
    assert not can_cancel(S.PENDING, Totals(0, 1))
    assert not can_cancel(S.PENDING, Totals(1, 0))
    assert not can_cancel(S.CONFIRMING, Totals(0, 5))
    for status in SETTLED:
        assert not can_cancel(status, Totals(0, 0)), status


def test_every_status_change_but_back_to_pending_is_a_documented_event_type() -> None:
    # Given the event types of DESIGN §3
    # When a status is announced, Then its type is one of them; a fall back to
    # pending after a reorg is not announced as "payment.pending" (it is payment.reversed)
    for status in S:
        if status == S.PENDING:
            assert event_type_for(status) not in EVENT_TYPES
        else:
            assert event_type_for(status) == f"payment.{status.value}"
            assert event_type_for(status) in EVENT_TYPES


# ---- merchant underpayment tolerance ------------------------------------------------


@pytest.mark.parametrize(
    ("received", "expected"),
    [(98, S.PAID), (99, S.PAID), (100, S.PAID), (101, S.OVERPAID), (97, S.CONFIRMING)],
)
def test_shortfall_within_tolerance_counts_as_paid(received: int, expected: S) -> None:
    # Given a merchant accepting a 2-unit shortfall on 100
    # When final funds arrive, Then within the tolerance it is paid, beyond it confirming
    after = status_after_funds(S.CONFIRMING, AMOUNT, Totals(received, 0), tolerance=2)
    assert after == expected


@pytest.mark.parametrize(("received", "expected"), [(97, S.UNDERPAID), (98, S.PAID)])
def test_expiry_judges_the_shortfall_against_the_tolerance(received: int, expected: S) -> None:
    assert (
        status_at_expiry(S.CONFIRMING, AMOUNT, Totals(received, 0), AFTER, EXPIRES_AT, 2)
        == expected
    )


def test_without_tolerance_one_unit_short_is_not_paid() -> None:
    assert status_after_funds(S.CONFIRMING, AMOUNT, Totals(99, 0)) == S.CONFIRMING
    assert status_at_expiry(S.CONFIRMING, AMOUNT, Totals(99, 0), AFTER, EXPIRES_AT) == (S.UNDERPAID)
