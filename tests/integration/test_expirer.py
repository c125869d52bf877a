"""The expirer settles payments whose time is up (DESIGN §3): expired with nothing
received, underpaid with too little, left open while funds seen in time still confirm."""

from __future__ import annotations

import pytest

from shared import ids
from shared.jobs import expiry
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    create_payment,
    events_of_payment,
    get_payment,
    make_final,
    pay,
    scan,
)
from tests.support.events import Context, load


def test_expirer_lambda_expires_a_payment_that_received_nothing(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a pending payment whose minute is up
    payment = create_payment(merchant, "1", expires_in=60)
    monkeypatch.setattr(ids, "now", lambda: payment["expires_at"] + 1)

    # When the expirer Lambda runs on its schedule
    from functions.expirer.handler import lambda_handler

    report = lambda_handler(load("expirer_schedule"), Context())

    # Then the payment is expired and announced
    assert report["settled"] >= 1
    assert get_payment(merchant, payment["id"])["status"] == "expired"
    assert [e.type for e in events_of_payment(merchant.merchant_id, payment["id"])] == [
        "payment.expired"
    ]


def test_payment_is_left_alone_before_its_expiry(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    payment = create_payment(merchant, "1", expires_in=60)
    expiry.run(now=payment["expires_at"] - 1)
    assert get_payment(merchant, payment["id"])["status"] == "pending"


def test_too_little_final_funds_at_expiry_is_underpaid(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given 4 of 10 USDT received and final
    payment = create_payment(merchant, "10", expires_in=60)
    pay(stack, payment["address"], 4 * USDT)
    make_final(stack)
    scan()

    # When it expires
    expiry.run(now=payment["expires_at"] + 1)

    # Then it is underpaid, with what arrived reported
    seen = get_payment(merchant, payment["id"])
    assert (seen["status"], seen["amount_received"]) == ("underpaid", "4")
    types = [e.type for e in events_of_payment(merchant.merchant_id, payment["id"])]
    assert types == ["payment.confirming", "payment.underpaid"]


def test_funds_seen_before_expiry_keep_the_payment_open_until_final(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given the full amount seen before expiry but not final yet
    payment = create_payment(merchant, "6", expires_in=60)
    pay(stack, payment["address"], 6 * USDT)
    scan()
    assert get_payment(merchant, payment["id"])["status"] == "confirming"

    # When the expiry time passes first
    expiry.run(now=payment["expires_at"] + 1)

    # Then the payment waits instead of expiring, and is paid once the funds are final
    assert get_payment(merchant, payment["id"])["status"] == "confirming"
    make_final(stack)
    scan()
    assert get_payment(merchant, payment["id"])["status"] == "paid"
