"""A payment event carries the payment exactly as the API shows it (DESIGN §3 Events),
built by one function; the JSON a merchant receives does not change shape."""

from __future__ import annotations

import json

import pytest

from shared import config
from shared.events import payloads
from shared.models.api import PaymentOut as ApiPaymentOut
from shared.models.domain import Payment, PaymentStatus, Transfer, TransferStatus

# The body of a payment.overpaid event before the amount boundary moved (issue 10), with
# the fields screening added to each transaction (issue 12, docs/adr/0020: "sender",
# "risk", "hold"; additions only, nothing renamed or removed) and the hosted checkout's
# "checkout_url", "success_url", "cancel_url" (issue 13, additions only), and the fiat
# "quote" and each transaction's token "currency" (issue 14, additions only).
GOLDEN = (
    '{"object":{"id":"pay_1","object":"payment","status":"overpaid","amount":"1",'
    '"currency":"USDT","network":"bsc","chain_id":97,'
    '"token_address":"0x3333333333333333333333333333333333333333",'
    '"address":"0x2222222222222222222222222222222222222222","amount_received":"1.2345",'
    '"amount_pending":"0","amount_excess":"0.2345","order_id":"A-1","metadata":{"k":"v"},'
    '"created_at":1700000000,"expires_at":1700000900,'
    '"payment_uri":"ethereum:0x3333333333333333333333333333333333333333@97/transfer'
    '?address=0x2222222222222222222222222222222222222222&uint256=1000000000000000000",'
    '"checkout_url":"https://pay.example/pay/pay_1","success_url":"https://shop.example/ok",'
    '"cancel_url":null,"quote":null,'
    '"transactions":[{"tx_hash":"0x' + "ab" * 32 + '","log_index":3,"block_number":9,'
    '"block_hash":"0x' + "cd" * 32 + '","from":"0x1111111111111111111111111111111111111111",'
    '"sender":"0x1111111111111111111111111111111111111111",'
    '"amount":"1.2345","currency":"USDT","status":"final","risk":null,"hold":null}]}}'
)


def _payment() -> Payment:
    transfer = Transfer(
        transfer_id="t1",
        chain_id=97,
        tx_hash="0x" + "ab" * 32,
        log_index=3,
        block_number=9,
        block_hash="0x" + "cd" * 32,
        merchant_id="mer_1",
        from_address="0x" + "11" * 20,
        to_address="0x" + "22" * 20,
        amount=1_234_500_000_000_000_000,
        payment_id="pay_1",
        status=TransferStatus.FINAL,
    )
    return Payment(
        payment_id="pay_1",
        merchant_id="mer_1",
        status=PaymentStatus.OVERPAID,
        amount=10**18,
        chain_id=97,
        token_address="0x" + "33" * 20,
        address="0x" + "22" * 20,
        derivation_index=1,
        order_id="A-1",
        metadata={"k": "v"},
        created_at=1_700_000_000,
        expires_at=1_700_000_900,
        amount_received=1_234_500_000_000_000_000,
        success_url="https://shop.example/ok",
        transactions=[transfer],
    )


@pytest.fixture
def eighteen_decimals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "chain", lambda: config.ChainSettings(token_decimals=18))
    monkeypatch.setattr(
        config, "checkout", lambda: config.CheckoutSettings(base_url="https://pay.example/")
    )


@pytest.mark.usefixtures("eighteen_decimals")
def test_a_payment_event_carries_the_payment_as_it_was_before_the_boundary_moved() -> None:
    # Given an overpaid payment with one final transfer
    payment = _payment()

    # When its event data is built
    data = payloads.payment_data(payment)

    # Then it is byte for byte the body merchants received before
    assert json.dumps(data, separators=(",", ":")) == GOLDEN


@pytest.mark.usefixtures("eighteen_decimals")
def test_the_event_object_is_the_object_the_api_documents_and_returns() -> None:
    # Given a payment
    payment = _payment()

    # When the API's model and the event builder both show it
    # Then they agree (the OpenAPI document describes what webhooks carry)
    assert payloads.payment_object(payment) == ApiPaymentOut.of(payment, 18).to_json()
