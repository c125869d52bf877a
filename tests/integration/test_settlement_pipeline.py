"""Hot-wallet transactions do not wait for each other (issue 16 §2, docs/adr/0040): in
the hot wallet's message group the settlement function signs and broadcasts, and hands
each transaction not mined yet to a message group of its own, where it is awaited and
booked. Real anvil (mining held back), moto's FIFO queue, the function's handler."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared import aws, config, ledger
from shared.dal import disbursements as store
from shared.dal import outgoing
from shared.disbursements import service
from shared.local.stack import LocalStack
from shared.models.domain import DisbursementStatus
from shared.settlement import handoff
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import USDT, manual_mining, merchant_call
from tests.integration.test_disbursements import (
    PAYER_ADDRESS,
    drain_settlement_queue,
    payout_settings,  # noqa: F401 - a fixture
    swept_payment,
    token_balance,
)
from tests.support.events import Context, load


def receive_all() -> list[dict[str, Any]]:
    """Every message on the settlement queue, with its group (left in flight)."""
    sqs = aws.client("sqs")
    got: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=config.aws().settlement_queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
        )
        if not answer.get("Messages"):
            return got
        got.extend(answer["Messages"])


def invoke(message: dict[str, Any]) -> dict[str, Any]:
    """The settlement function given ``message`` as its one record, as Lambda does."""
    from functions.settlement.handler import lambda_handler

    record = load("settlement_disbursement_sqs_fifo")["Records"][0]
    record.update(
        messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"], body=message["Body"]
    )
    record["attributes"]["MessageGroupId"] = message["Attributes"]["MessageGroupId"]
    return dict(lambda_handler({"Records": [record]}, Context()))


def delete(message: dict[str, Any]) -> None:
    aws.client("sqs").delete_message(
        QueueUrl=config.aws().settlement_queue_url, ReceiptHandle=message["ReceiptHandle"]
    )


def test_two_refunds_leave_the_hot_wallet_back_to_back_and_are_confirmed_in_their_own_groups(
    stack: LocalStack,
    merchant: MerchantCreds,
    payout_settings: None,  # noqa: F811 - the fixture imported above
) -> None:
    # Given a swept payment and two refunds of it queued for the hot wallet's group
    payment = swept_payment(stack, merchant, "6")
    drain_settlement_queue()
    before = token_balance(stack, PAYER_ADDRESS)
    in_flight_before = service.in_flight("USDT")  # (other tests' leftovers, if any)
    refunds = [
        merchant_call(
            merchant,
            "POST",
            f"/v1/payments/{payment['id']}/refunds",
            {"address": PAYER_ADDRESS, "amount": amount},
        ).body
        for amount in ("2", "1.5")
    ]
    queued = receive_all()
    assert [m["Attributes"]["MessageGroupId"] for m in queued] == ["hot-wallet", "hot-wallet"]

    # When the function handles both while no block is mined
    with manual_mining(stack):
        for message in queued:
            assert invoke(message)["batchItemFailures"] == []  # done with: the group is free
            delete(message)  # (what Lambda does with a record it did not report)
        records = [outgoing.get_transfer(r["id"]) for r in refunds]
        in_flight = service.in_flight("USDT") - in_flight_before
        without_first = service.in_flight("USDT", excluding=refunds[0]["id"]) - in_flight_before
        confirms = receive_all()

    # Then both transfers are on their way with consecutive nonces, nothing booked yet
    assert [r.state for r in records if r] == ["BROADCAST", "BROADCAST"]
    first, second = (r.nonce for r in records if r)
    assert first is not None and second == first + 1
    assert [store.get(r["id"]).status for r in refunds] == [  # type: ignore[union-attr]
        DisbursementStatus.PROCESSING,
        DisbursementStatus.PROCESSING,
    ]
    # and what is in flight is counted against the next transfer's liquidity
    assert (in_flight, without_first) == (35 * USDT // 10, 15 * USDT // 10)
    # and each waits in a group of its own
    assert sorted(m["Attributes"]["MessageGroupId"] for m in confirms) == sorted(
        f"{handoff.CONFIRM_GROUP_PREFIX}{r['id']}" for r in refunds
    )
    assert all(json.loads(m["Body"])["confirm"] is True for m in confirms)

    # When a block is mined (leaving the block above) and each confirmation is handled
    # (one of them twice)
    for message in [*confirms, confirms[0]]:
        assert invoke(message)["batchItemFailures"] == []
    for message in confirms:
        delete(message)

    # Then both are paid once: the payer got exactly 3.5 USDT, the ledger balances
    assert [store.get(r["id"]).status for r in refunds] == [  # type: ignore[union-attr]
        DisbursementStatus.PAID,
        DisbursementStatus.PAID,
    ]
    assert token_balance(stack, PAYER_ADDRESS) - before == 35 * USDT // 10
    assert service.in_flight("USDT") == in_flight_before
    assert ledger.default().trial_balance() == {a: 0 for a in ledger.Asset}
    assert receive_all() == []


def test_a_confirmation_still_unmined_stays_in_its_group_and_comes_back(
    stack: LocalStack,
    merchant: MerchantCreds,
    payout_settings: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a refund queued for the hot wallet's group
    payment = swept_payment(stack, merchant, "3")
    drain_settlement_queue()
    refund = merchant_call(
        merchant,
        "POST",
        f"/v1/payments/{payment['id']}/refunds",
        {"address": PAYER_ADDRESS, "amount": "1"},
    ).body
    (wallet_message,) = receive_all()
    monkeypatch.setenv("BSCPAY_OUTBOUND_WAIT_S", "0")  # the confirmation looks once
    config.reset()
    with manual_mining(stack):
        # broadcast by the wallet pass and handed off, no block mined
        assert invoke(wallet_message)["batchItemFailures"] == []
        delete(wallet_message)
        (confirm,) = receive_all()

        # When its confirmation is handled before the transaction is mined
        result = invoke(confirm)

        # Then that message is reported failed (it comes back to its own group later)
        # and no second confirmation is queued; the refund is still on its way
        assert result["batchItemFailures"] == [{"itemIdentifier": confirm["MessageId"]}]
        status = store.get(refund["id"]).status  # type: ignore[union-attr]
        assert status is DisbursementStatus.PROCESSING
        assert receive_all() == []

    # When it comes back after a block is mined, Then the refund is paid
    assert invoke(confirm)["batchItemFailures"] == []
    delete(confirm)
    assert store.get(refund["id"]).status is DisbursementStatus.PAID  # type: ignore[union-attr]
    monkeypatch.undo()
    config.reset()
