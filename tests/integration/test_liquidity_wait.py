"""A payout the hot wallet cannot cover yet says why it waits, and goes out as soon as
the sweep it waits for is booked (not on the scheduler's requeue minutes later)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from shared import config
from shared.dal import disbursements as store
from shared.local.stack import LocalStack
from shared.models.domain import DisbursementStatus
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    admin_call,
    create_payment,
    make_final,
    merchant_call,
    pay,
    scan,
)
from tests.integration.test_disbursements import (
    drain_settlement_queue,
    set_profile,
    store_hot_wallet,
    store_payment,
    token_balance,
)
from tests.support.events import Context, load


@pytest.fixture
def no_approvals(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BSCPAY_PAYOUT_APPROVAL_THRESHOLD", "100000000")
    monkeypatch.setenv("BSCPAY_PAYOUT_ADDRESS_COOLDOWN_S", "0")
    config.reset()
    yield
    monkeypatch.undo()
    config.reset()


def settlement_record(body: dict[str, Any]) -> dict[str, Any]:
    """An SQS record of the settlement queue carrying ``body``."""
    record = load("settlement_disbursement_sqs_fifo")["Records"][0]
    record.update(body=json.dumps(body))
    return dict(record)


def settle_via_function(body: dict[str, Any]) -> dict[str, Any]:
    from functions.settlement.handler import lambda_handler

    return dict(lambda_handler({"Records": [settlement_record(body)]}, Context()))


def test_a_payout_short_of_hot_wallet_funds_says_why_and_goes_when_the_sweep_is_booked(
    stack: LocalStack, merchant: MerchantCreds, no_approvals: None
) -> None:
    # Given a merchant credited more than the hot wallet holds, its deposit not swept yet
    usdt = 2 * token_balance(stack, store_hot_wallet()) // USDT + 50
    payment = create_payment(merchant, str(usdt))
    pay(stack, payment["address"], int(Decimal(usdt) * USDT))
    make_final(stack)
    scan()
    set_profile(merchant)
    drain_settlement_queue()

    # When a payout of the whole balance is queued and settlement first looks at it
    payout = admin_call("POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {}).body
    assert payout["status"] == "queued", payout
    assert drain_settlement_queue() == [{"kind": "disbursement", "disbursement_id": payout["id"]}]
    result = settle_via_function({"kind": "disbursement", "disbursement_id": payout["id"]})
    assert result["batchItemFailures"] == []

    # Then it stays queued, and both the admin and the merchant see why
    shown = admin_call("GET", f"/admin/settlements/{payout['id']}").body
    assert shown["status"] == "queued"
    assert shown["waiting_for"] == "hot_wallet_liquidity"
    assert "hot wallet" in shown["waiting_message"] and "sweep" in shown["waiting_message"]
    mine = merchant_call(merchant, "GET", f"/v1/settlements/{payout['id']}").body
    assert mine["waiting_for"] == "hot_wallet_liquidity"

    # When the sweep of the merchant's deposit is booked by the settlement function
    from shared.settlement import planner

    deposit = {
        "address": payment["address"].lower(),
        "index": store_payment(payment["id"]).derivation_index,
    }
    sweep_id = planner.sweep_id([deposit["address"]], "liquidity-test")
    result = settle_via_function({"kind": "sweep", "sweep_id": sweep_id, "deposits": [deposit]})
    assert result["batchItemFailures"] == []

    # Then the payout is handed to settlement again at once (no scheduler involved)
    again = drain_settlement_queue()
    assert {"kind": "disbursement", "disbursement_id": payout["id"]} in again

    # And handling that message sends it: paid, with no reason to wait any more
    settle_via_function({"kind": "disbursement", "disbursement_id": payout["id"]})
    done = store.get(payout["id"])
    assert done is not None and done.status is DisbursementStatus.PAID
    shown = admin_call("GET", f"/admin/settlements/{payout['id']}").body
    assert shown["waiting_for"] is None and shown["waiting_message"] is None
