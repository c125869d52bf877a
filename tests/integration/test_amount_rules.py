"""Amount rules and the token guard (issue 3): funds after expiry or after payment are
recorded, counted and announced; the scanner refuses a wrong chain or token."""

from __future__ import annotations

import pytest

from shared import config, ids
from shared.errors import ChainMismatch
from shared.jobs import expiry
from shared.jobs.scanner import Scanner
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


def _types(merchant: MerchantCreds, payment_id: str) -> list[str]:
    return [e.type for e in events_of_payment(merchant.merchant_id, payment_id)]


def test_funds_after_expiry_are_recorded_counted_and_announced(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a payment that expired with nothing received
    payment = create_payment(merchant, "5", expires_in=60)
    real_now = ids.now
    monkeypatch.setattr(ids, "now", lambda: payment["expires_at"] + 1)
    expiry.run()
    monkeypatch.setattr(ids, "now", real_now)
    assert get_payment(merchant, payment["id"])["status"] == "expired"

    # When the customer pays afterwards
    pay(stack, payment["address"], 5 * USDT)
    make_final(stack)
    scan()

    # Then the funds are counted, the status stays expired, and late_funds is announced
    seen = get_payment(merchant, payment["id"])
    assert (seen["status"], seen["amount_received"]) == ("expired", "5")
    assert _types(merchant, payment["id"]) == ["payment.expired", "payment.late_funds"]


def test_funds_sent_again_to_a_paid_address_are_never_lost(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a paid payment
    payment = create_payment(merchant, "3")
    pay(stack, payment["address"], 3 * USDT)
    make_final(stack)
    scan()
    assert get_payment(merchant, payment["id"])["status"] == "paid"

    # When the customer sends the same amount again
    pay(stack, payment["address"], 3 * USDT)
    make_final(stack)
    scan()

    # Then the second transfer is recorded and counted, the excess reported and announced
    seen = get_payment(merchant, payment["id"])
    assert seen["status"] == "paid"
    assert (seen["amount_received"], seen["amount_excess"]) == ("6", "3")
    assert len(seen["transactions"]) == 2
    assert _types(merchant, payment["id"])[-1] == "payment.late_funds"


def test_scanner_refuses_to_run_on_the_wrong_chain(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BSCPAY_CHAIN_ID", "56")
    config.reset()
    try:
        with pytest.raises(ChainMismatch, match="chain id"):
            Scanner().run(lambda: 60_000)
    finally:
        monkeypatch.undo()
        config.reset()


def test_scanner_refuses_a_token_whose_decimals_differ(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # USDT on Ethereum has 6 decimals, on BSC 18: a config mix-up must not run
    monkeypatch.setenv("BSCPAY_TOKEN_DECIMALS", "6")
    monkeypatch.setenv("BSCPAY_TOKENS", "{}")  # USDT alone (USDC and FDUSD have 18 too)
    config.reset()
    try:
        with pytest.raises(ChainMismatch, match="decimals"):
            Scanner().run(lambda: 60_000)
    finally:
        monkeypatch.undo()
        config.reset()
