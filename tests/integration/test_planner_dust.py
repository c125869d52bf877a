"""The planner never starves (issue 11): deposit addresses are public on chain, so
anyone can send 1 base unit of dust to the lowest-index ones. Due work is read from an
index ordered by the amount due, from the sweep minimum up, so dust on any number of
addresses never takes the place of a deposit worth sweeping; it stays recorded and is
swept once more funds at that address reach the minimum."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.types import Nonce, TxParams

from shared import aws, config
from shared.dal import models as m
from shared.dal import payments as payment_repo
from shared.dal._base import bind
from shared.local import chain
from shared.local.stack import LocalStack
from shared.settlement import planner, worker
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import USDT, create_payment, make_final, pay, scan

DUST_ADDRESSES = 50  # the planner's whole batch
MIN_AMOUNT = USDT  # the default sweep minimum, set explicitly


@pytest.fixture
def planner_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BSCPAY_SWEEP_MIN_AMOUNT", str(MIN_AMOUNT))
    monkeypatch.setenv("BSCPAY_SWEEP_BATCH", str(DUST_ADDRESSES))
    config.reset()
    yield
    monkeypatch.undo()
    config.reset()


def _send_dust(stack: LocalStack, addresses: list[str], amount: int) -> None:
    """One customer transaction per address, signed with consecutive nonces and sent
    without waiting in between; then one wait for the last receipt."""
    rpc = stack.info["rpc_url"]
    w3 = chain.web3_for(rpc)
    customer = Account.from_key(stack.info["customer"]["private_key"])
    token = chain.token_contract(rpc, stack.info["token_address"])
    nonce = w3.eth.get_transaction_count(customer.address, "pending")
    hashes = []
    for offset, address in enumerate(addresses):
        params: TxParams = {
            "from": customer.address,
            "nonce": Nonce(nonce + offset),
            "chainId": w3.eth.chain_id,
            "gas": 100_000,
        }
        transfer = token.functions.transfer(Web3.to_checksum_address(address), amount)
        tx = transfer.build_transaction(params)
        hashes.append(w3.eth.send_raw_transaction(customer.sign_transaction(tx).raw_transaction))
    for tx_hash in hashes:
        assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)["status"] == 1


def _address_item(address: str) -> m.AddressModel:
    bind()
    return m.AddressModel.get(address.lower(), consistent_read=True)


def _scan_until(done: Any, deadline_s: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not done():
        assert time.monotonic() < deadline, "the scanner did not record the transfers"
        scan()


def _settlement_message(sweep_id: str, deadline_s: float = 30.0) -> dict[str, Any]:
    """Read the settlement queue (shared with other tests) until this sweep's message
    shows up; every other message read on the way is deleted, as in test_settlement."""
    sqs = aws.client("sqs")
    url = config.aws().settlement_queue_url
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        found = None
        for message in got.get("Messages", []):
            body = json.loads(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if body.get("sweep_id") == sweep_id:
                found = body
        if found is not None:
            return found
    raise AssertionError(f"no settlement message for {sweep_id}")


def _sweep_until_named(address: str, rounds: int = 10) -> dict[str, Any]:
    """Plan and run sweeps until one names ``address``; each round sweeps what it
    names, so deposits other tests left due cannot hold it back either. Fails when the
    planner finds nothing to sweep before that (what dust did before the fix)."""
    for _ in range(rounds):
        sweep_id = planner.enqueue_due()
        assert sweep_id is not None, f"the planner found nothing worth a sweep; {address} waits"
        message = _settlement_message(sweep_id)
        outcome = worker.handle(message)
        assert outcome.state == "CONFIRMED"
        if any(d["address"] == address for d in message["deposits"]):
            return message
    raise AssertionError(f"{address} was never named in {rounds} sweeps")


def _token_balance(stack: LocalStack, address: str) -> int:
    return chain.token_balance(stack.info["rpc_url"], stack.info["token_address"], address)


def test_dust_on_the_lowest_addresses_never_blocks_a_sweepable_deposit(
    stack: LocalStack, merchant: MerchantCreds, planner_settings: None
) -> None:
    # Given 50 payments whose addresses get 1 base unit of dust each (the lowest
    # derivation indexes of anything this test creates)
    dusted = [create_payment(merchant, "1") for _ in range(DUST_ADDRESSES)]
    dust_addresses = [p["address"].lower() for p in dusted]
    _send_dust(stack, dust_addresses, 1)
    # and then a normal payment on a higher index
    target = create_payment(merchant, "5")
    target_address = target["address"].lower()
    indexes = [payment_repo.get_payment(p["id"], with_transfers=False) for p in dusted]
    target_index = payment_repo.get_payment(target["id"], with_transfers=False)
    assert target_index is not None
    assert all(
        p is not None and p.derivation_index < target_index.derivation_index for p in indexes
    )
    pay(stack, target["address"], 5 * USDT)
    make_final(stack)
    _scan_until(
        lambda: all(_address_item(a).sweep_due == "due" for a in [*dust_addresses, target_address])
    )
    # every dust unit is recorded as due (nothing is forgotten)
    assert {int(_address_item(a).sweep_amount) for a in dust_addresses} == {1}

    # When the planner runs, Then a sweep names the payment above the minimum
    message = _sweep_until_named(target_address)

    # and never any dust address; the deposit was swept and is no longer due
    assert not {d["address"] for d in message["deposits"]} & set(dust_addresses)
    assert _token_balance(stack, target_address) == 0
    assert _address_item(target_address).sweep_due is None
    # while the dust stays where it is, recorded, waiting for more
    assert all(_token_balance(stack, a) == 1 for a in dust_addresses)
    assert all(_address_item(a).sweep_due == "due" for a in dust_addresses)

    # When more funds arrive at one dust address, bringing it to the minimum
    topped = dust_addresses[0]
    pay(stack, topped, MIN_AMOUNT)
    make_final(stack)
    _scan_until(lambda: int(_address_item(topped).sweep_amount) == MIN_AMOUNT + 1)

    # Then it is swept with its dust
    _sweep_until_named(topped)
    assert _token_balance(stack, topped) == 0
    assert _address_item(topped).sweep_due is None


def test_one_planner_run_plans_several_bounded_sweeps(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 16 §2: the planner's ceiling is batch x max_batches deposits a run."""
    # Given five deposits worth far more than anything else left due in this stack
    big = 7_777 * USDT
    paid = [create_payment(merchant, "7777") for _ in range(5)]
    for p in paid:
        pay(stack, p["address"], big)
    make_final(stack)
    scan()
    scan()
    monkeypatch.setenv("BSCPAY_SWEEP_MIN_AMOUNT", str(big))
    monkeypatch.setenv("BSCPAY_SWEEP_BATCH", "2")
    monkeypatch.setenv("BSCPAY_SWEEP_MAX_BATCHES", "3")
    config.reset()
    try:
        # When the planner runs once
        first = planner.enqueue_due()
        assert first is not None
        # Then it plans three sweeps of at most two deposits: all five, each once
        sqs, url = aws.client("sqs"), config.aws().settlement_queue_url
        named: list[list[str]] = []
        deadline = time.monotonic() + 30
        while len(named) < 3 and time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in got.get("Messages", []):
                body = json.loads(message["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                if body.get("kind") == "sweep" and body.get("deposits"):
                    named.append([d["address"] for d in body["deposits"]])
        assert sorted(len(n) for n in named) == [1, 2, 2]
        flat = [a for n in named for a in n]
        assert sorted(flat) == sorted(p["address"].lower() for p in paid)
    finally:
        monkeypatch.undo()
        config.reset()
