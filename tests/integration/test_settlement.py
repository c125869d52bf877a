"""Settlement sweeps on anvil: final deposits move to the hot wallet, the ledger
follows, and a redelivered message or a crash after broadcast never sends twice."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared import config, ledger
from shared.dal import repo
from shared.local import chain
from shared.local.stack import LocalStack
from shared.settlement import custody, planner, worker
from shared.settlement.sweeps import Sweeps
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import USDT, create_payment, make_final, pay, scan


def _paid_deposit(stack: LocalStack, merchant: MerchantCreds, usdt: int) -> dict[str, Any]:
    payment = create_payment(merchant, str(usdt))
    pay(stack, payment["address"], usdt * USDT)
    make_final(stack)
    scan()
    stored = repo.get_payment(payment["id"], with_transfers=False)
    assert stored is not None and stored.status.value == "paid"
    return {"address": payment["address"].lower(), "index": stored.derivation_index}


def _message(deposits: list[dict[str, Any]]) -> dict[str, Any]:
    sweep_id = planner.sweep_id([d["address"] for d in deposits])
    return {"kind": "sweep", "sweep_id": sweep_id, "deposits": deposits}


def _hot_nonce(stack: LocalStack) -> int:
    hot = custody.load_keys([]).hot_wallet.address
    return int(chain.rpc_call(stack.info["rpc_url"], "eth_getTransactionCount", hot, "latest"), 16)


def _balance(stack: LocalStack, address: str) -> int:
    return chain.token_balance(stack.info["rpc_url"], stack.info["token_address"], address)


def test_final_funds_become_due_and_the_planner_queues_them(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    deposit = _paid_deposit(stack, merchant, 3)
    due = {d.address: d.amount for d in repo.due_deposits(200)}
    assert due[deposit["address"]] == 3 * USDT

    sweep_id = planner.enqueue_due()

    assert sweep_id is not None
    import boto3

    sqs = boto3.client(
        "sqs",
        endpoint_url=stack.info["aws_endpoint_url"],
        region_name=stack.info["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    queue = config.aws().settlement_queue_url
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    bodies = [json.loads(m["Body"]) for m in got.get("Messages", [])]
    assert any(b["sweep_id"] == sweep_id for b in bodies)
    for m in got.get("Messages", []):
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])


def test_sweep_moves_funds_posts_the_ledger_and_a_redelivery_sends_nothing(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given two paid deposits
    deposits = [_paid_deposit(stack, merchant, 4), _paid_deposit(stack, merchant, 6)]
    hot_before = ledger.default().holdings()["holdings:hot"]
    message = _message(deposits)

    # When the settlement worker handles their sweep
    outcome = worker.handle(message)

    # Then every unit is on the hot wallet side, in the ledger too
    assert outcome.state == "CONFIRMED" and outcome.amount == 10 * USDT
    assert all(_balance(stack, d["address"]) == 0 for d in deposits)
    assert ledger.default().holdings()["holdings:hot"] - hot_before == 10 * USDT
    assert all(d["address"] not in {x.address for x in repo.due_deposits(200)} for d in deposits)

    # And the same message again (SQS redelivery) signs and sends nothing
    nonce = _hot_nonce(stack)
    again = worker.handle(message)
    assert again.state == "CONFIRMED" and _hot_nonce(stack) == nonce
    assert ledger.default().holdings()["holdings:hot"] - hot_before == 10 * USDT


def test_crash_after_broadcast_resumes_and_never_resends_what_was_sent(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a sweep whose process dies right after its transactions were sent
    deposit = _paid_deposit(stack, merchant, 5)
    message = _message([deposit])

    def crash(self: Sweeps, tx_hash: Any) -> Any:
        raise RuntimeError("process killed after broadcast")

    monkeypatch.setattr(Sweeps, "_wait", crash)
    with pytest.raises(RuntimeError, match="killed"):
        worker.handle(message)
    monkeypatch.undo()
    record = repo.get_outgoing(message["sweep_id"])
    assert record is not None and record.state == "BROADCAST" and record.tx_hashes
    chain.mine(stack.info["rpc_url"])
    nonce = _hot_nonce(stack)

    # When the message is delivered again
    outcome = worker.handle(message)

    # Then the recorded top-up is not sent again (the hot wallet sends nothing new) and
    # the token transfer that never happened is made: the deposit is empty
    assert outcome.resumed and outcome.state == "CONFIRMED"
    assert _hot_nonce(stack) == nonce
    assert _balance(stack, deposit["address"]) == 0
    assert outcome.amount == 5 * USDT
