"""Settlement sweeps on anvil: final deposits move to the hot wallet, the ledger
follows, and a redelivered message or a crash after broadcast never sends twice. A
sweep's hot-wallet transaction follows the one-nonce state machine of ADR 0012: stuck →
replaced, refused → cancelled, reverted → FAILED with its gas booked."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes
from web3 import Web3
from web3.eth import Eth
from web3.exceptions import TransactionNotFound, Web3RPCError

from shared import config, ids, ledger
from shared.chain import evm
from shared.dal import addresses as address_repo
from shared.dal import outgoing
from shared.dal import payments as payment_repo
from shared.local import chain
from shared.local.stack import LocalStack
from shared.settlement import custody, planner, worker
from shared.settlement.outbound import (
    OutboundHooks,
    OutboundSettings,
    TransferStillPending,
    send_token,
)
from shared.settlement.sweeps import Sweeps, SweepSettings
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import USDT, create_payment, make_final, manual_mining, pay, scan


def _paid_deposit(stack: LocalStack, merchant: MerchantCreds, usdt: int) -> dict[str, Any]:
    payment = create_payment(merchant, str(usdt))
    pay(stack, payment["address"], usdt * USDT)
    make_final(stack)
    scan()
    stored = payment_repo.get_payment(payment["id"], with_transfers=False)
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
    due = {d.address: d.amount for d in address_repo.due_deposits(200)}
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
    # The queue is shared with earlier tests (payouts, refunds, other sweeps): read
    # until this sweep's message shows up, whatever else is ahead of it.
    queue = config.aws().settlement_queue_url
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(b.get("sweep_id") == sweep_id for b in bodies):
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)
        for m in got.get("Messages", []):
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert any(b.get("sweep_id") == sweep_id for b in bodies)


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
    due = {x.address for x in address_repo.due_deposits(200)}
    assert all(d["address"] not in due for d in deposits)

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
    record = outgoing.get_outgoing(message["sweep_id"])
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


# --- the hot-wallet transaction's state machine (ADR 0012, "Sweeps") -----------------------

FAST = OutboundSettings(wait_s=10, poll_interval_s=0.05, stuck_after_s=60)
NOW = OutboundSettings(wait_s=0, poll_interval_s=0.05, stuck_after_s=60)  # one look, no wait
STUCK = OutboundSettings(wait_s=0, poll_interval_s=0.05, stuck_after_s=0.001)


class Crash(RuntimeError):
    """The process dies here."""


def _w3(stack: LocalStack) -> Web3:
    return chain.web3_for(stack.info["rpc_url"])


def _sweep_tx(sweep_id: str) -> outgoing.TransferRecord:
    """The sweep's one hot-wallet transaction (a batched sweep has exactly one)."""
    record = outgoing.get_outgoing(sweep_id)
    assert record is not None
    children = [outgoing.get_transfer(outgoing.sweep_tx_id(sweep_id, h)) for h in record.tx_hashes]
    (child,) = [c for c in children if c is not None]
    return child


def _due(address: str) -> int | None:
    return {d.address: d.amount for d in address_repo.due_deposits(200)}.get(address)


def test_a_stuck_batched_sweep_is_replaced_and_confirms_once(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given two paid deposits and a batched sweep that is broadcast but not mined
    deposits = [_paid_deposit(stack, merchant, 3), _paid_deposit(stack, merchant, 4)]
    message = _message(deposits)
    sweep_id = message["sweep_id"]
    hot_before = ledger.default().holdings()["holdings:hot"]
    w3 = _w3(stack)
    assert SweepSettings().sweeper_address
    with manual_mining(stack):
        nonce = _hot_nonce(stack)
        with pytest.raises(TransferStillPending) as pending:
            worker.handle(message, settings=NOW)
        assert pending.value.tx_id == sweep_id
        record = outgoing.get_outgoing(sweep_id)
        assert record is not None and record.state == "BROADCAST"
        (first,) = _sweep_tx(sweep_id).attempts
        assert first.state == "BROADCAST"
        first_tx = w3.eth.get_transaction(first.tx_hash)  # type: ignore[arg-type]
        assert first_tx["type"] == 4 and len(first_tx["authorizationList"]) == 2

        # When it is still not mined after BSCPAY_OUTBOUND_STUCK_AFTER_S
        with pytest.raises(TransferStillPending):
            worker.handle(message, settings=STUCK)

        # Then a replacement with the same nonce, calldata and authorizations and
        # >= 12.5 % more gas price was recorded and sent
        first_again, second = _sweep_tx(sweep_id).attempts
        assert first_again == first and second.state == "BROADCAST"
        assert second.gas_price_wei * 8 >= first.gas_price_wei * 9
        second_tx = w3.eth.get_transaction(second.tx_hash)  # type: ignore[arg-type]
        assert second_tx["nonce"] == first_tx["nonce"] == nonce
        assert second_tx["input"] == first_tx["input"] and second_tx["to"] == first_tx["to"]
        assert second_tx["authorizationList"] == first_tx["authorizationList"]
        assert second_tx["gas"] == first_tx["gas"]

        # When a block is mined and the message comes back
        chain.mine(stack.info["rpc_url"])
        outcome = worker.handle(message, settings=FAST)

    # Then the replacement won, the first is REPLACED, and the deposits were swept once
    assert outcome.state == "CONFIRMED" and outcome.amount == 7 * USDT and outcome.resumed
    child = _sweep_tx(sweep_id)
    assert [a.state for a in child.attempts] == ["REPLACED", "CONFIRMED"]
    assert child.state == "CONFIRMED" and child.tx_hash == second.tx_hash
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction_receipt(first.tx_hash)  # type: ignore[arg-type]
    assert all(_balance(stack, d["address"]) == 0 for d in deposits)
    assert all(_due(d["address"]) is None for d in deposits)
    assert _hot_nonce(stack) == nonce + 1
    # And the ledger was credited once, also when the message comes again
    assert ledger.default().holdings()["holdings:hot"] - hot_before == 7 * USDT
    again = worker.handle(message, settings=FAST)
    assert again.state == "CONFIRMED" and _hot_nonce(stack) == nonce + 1
    assert ledger.default().holdings()["holdings:hot"] - hot_before == 7 * USDT


def test_a_reverted_sweep_fails_books_its_gas_and_its_deposits_stay_due(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a batched sweep broadcast and not yet mined
    deposits = [_paid_deposit(stack, merchant, 2), _paid_deposit(stack, merchant, 5)]
    message = _message(deposits)
    sweep_id = message["sweep_id"]
    holdings = ledger.default().holdings()
    w3 = _w3(stack)
    with manual_mining(stack):
        with pytest.raises(TransferStillPending):
            worker.handle(message, settings=NOW)
        # When a deposit's nonce moves before the block (its authorization is void): the
        # Sweeper finds no code there and the whole sweepMany reverts
        deposit = Web3.to_checksum_address(deposits[1]["address"])
        chain.rpc_call(stack.info["rpc_url"], "anvil_setNonce", deposit, hex(7))
        chain.mine(stack.info["rpc_url"])
        outcome = worker.handle(message, settings=FAST)

    # Then the sweep is FAILED with the fee it paid, and nothing moved
    assert outcome.state == "FAILED" and outcome.amount == 0 and outcome.fee_wei > 0
    child = _sweep_tx(sweep_id)
    assert child.state == "FAILED" and [a.state for a in child.attempts] == ["FAILED"]
    receipt = w3.eth.get_transaction_receipt(child.tx_hash)  # type: ignore[arg-type]
    assert receipt["status"] == 0
    assert outcome.fee_wei == receipt["gasUsed"] * receipt["effectiveGasPrice"]
    record = outgoing.get_outgoing(sweep_id)
    assert record is not None and record.state == "FAILED" and record.fee_wei == outcome.fee_wei
    # And its gas is booked (once), no USDT moved in the ledger
    after = ledger.default().holdings()
    assert holdings["holdings:gas"] - after["holdings:gas"] == outcome.fee_wei
    assert after["holdings:hot"] == holdings["holdings:hot"]
    assert ledger.default().journal(f"{sweep_id}/gas") is not None
    # And the deposits keep their tokens and stay due
    assert [_balance(stack, d["address"]) for d in deposits] == [2 * USDT, 5 * USDT]
    assert [_due(d["address"]) for d in deposits] == [2 * USDT, 5 * USDT]

    # When the same sweep id comes again (the planner, same hour and amounts)
    retry = worker.handle(message, settings=FAST)

    # Then the FAILED record does not block it: a new round sweeps the deposits once
    assert retry.state == "CONFIRMED" and retry.record_id == f"{sweep_id}~1"
    assert retry.amount == 7 * USDT
    assert all(_balance(stack, d["address"]) == 0 for d in deposits)
    assert all(_due(d["address"]) is None for d in deposits)
    assert ledger.default().holdings()["holdings:hot"] - holdings["holdings:hot"] == 7 * USDT
    assert worker.handle(message, settings=FAST).record_id == f"{sweep_id}~1"


def test_a_crash_after_signed_resumes_the_sweep_with_the_same_bytes(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a batched sweep whose process dies after recording SIGNED, before sending
    deposits = [_paid_deposit(stack, merchant, 1), _paid_deposit(stack, merchant, 2)]
    message = _message(deposits)
    sweep_id = message["sweep_id"]
    w3 = _w3(stack)
    nonce = _hot_nonce(stack)

    def die(tx_hash: str) -> None:
        raise Crash("killed before send")

    with pytest.raises(Crash):
        worker.handle(message, settings=FAST, hooks=OutboundHooks(before_send=die))
    record = outgoing.get_outgoing(sweep_id)
    assert record is not None and record.state == "SIGNED"
    child = _sweep_tx(sweep_id)
    (attempt,) = child.attempts
    assert child.state == "SIGNED" and child.nonce == nonce and attempt.state == "SIGNED"
    assert record.raw_txs == [attempt.raw_tx]
    hot = custody.load_keys([]).hot_wallet.address
    assert w3.eth.get_transaction_count(hot, "pending") == nonce  # nothing reached the node

    # When the message is delivered again
    outcome = worker.handle(message, settings=FAST)

    # Then the recorded bytes were sent and mined: no other transaction was signed
    assert outcome.state == "CONFIRMED" and outcome.amount == 3 * USDT and outcome.resumed
    mined = w3.eth.get_raw_transaction(attempt.tx_hash)  # type: ignore[arg-type]
    assert mined.to_0x_hex() == attempt.raw_tx
    assert [a.state for a in _sweep_tx(sweep_id).attempts] == ["CONFIRMED"]
    assert _hot_nonce(stack) == nonce + 1
    assert all(_balance(stack, d["address"]) == 0 for d in deposits)


def test_a_refused_sweep_is_cancelled_so_its_nonce_does_not_block_payouts(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a node that refuses the sweep transaction for good (but takes others)
    deposits = [_paid_deposit(stack, merchant, 6), _paid_deposit(stack, merchant, 1)]
    message = _message(deposits)
    sweeper = Web3.to_checksum_address(SweepSettings().sweeper_address)
    real_send = Eth.send_raw_transaction
    refused: list[str] = []

    def refuse_sweeps(self: Eth, raw: Any) -> Any:
        to = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()["to"]
        if Web3.to_checksum_address(to) == sweeper:
            refused.append(Web3.keccak(HexBytes(raw)).to_0x_hex())
            raise Web3RPCError("rejected", rpc_response={"jsonrpc": "2.0", "id": 1})
        return real_send(self, raw)

    monkeypatch.setattr(Eth, "send_raw_transaction", refuse_sweeps)
    nonce = _hot_nonce(stack)
    gas_before = ledger.default().holdings()["holdings:gas"]

    # When the sweep runs
    outcome = worker.handle(message, settings=FAST)

    # Then its nonce was filled by a 0-value self-transfer and the sweep is FAILED
    assert outcome.state == "FAILED" and outcome.amount == 0 and outcome.fee_wei > 0
    child = _sweep_tx(message["sweep_id"])
    assert [(a.kind, a.state) for a in child.attempts] == [
        ("transfer", "REFUSED"),
        ("cancel", "CONFIRMED"),
    ]
    assert refused == [child.attempts[0].tx_hash]
    hot = custody.load_keys([]).hot_wallet.address
    cancel = _w3(stack).eth.get_transaction(child.attempts[1].tx_hash)  # type: ignore[arg-type]
    assert (cancel["to"], cancel["value"], cancel["nonce"]) == (hot, 0, nonce)
    assert gas_before - ledger.default().holdings()["holdings:gas"] == outcome.fee_wei
    assert [_due(d["address"]) for d in deposits] == [6 * USDT, 1 * USDT]
    # And the next payout from the hot wallet confirms right behind it
    monkeypatch.undo()
    to = str(Account.create().address)
    payout = send_token(
        _w3(stack),
        custody.load_keys([]).hot_wallet,
        ids.new_id("po"),
        to,
        USDT,
        token=stack.info["token_address"],
        gas=evm.gas_policy(),
        settings=FAST,
    )
    assert payout.state == "CONFIRMED" and _balance(stack, to) == USDT
    assert _hot_nonce(stack) == nonce + 2


def test_a_sweep_lowers_what_is_due_once_even_when_recorded_twice(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a paid deposit due for 5 USDT
    deposit = _paid_deposit(stack, merchant, 5)
    address = deposit["address"]

    # When a sweep of 2 USDT is recorded twice (a crash before CONFIRMED, redelivered)
    address_repo.sweep_recorded(address, 2 * USDT, "sweep_test_twice")
    address_repo.sweep_recorded(address, 2 * USDT, "sweep_test_twice")

    # Then 3 USDT are still due; another sweep of the rest clears it
    due = {d.address: d.amount for d in address_repo.due_deposits(500)}
    assert due[address] == 3 * USDT
    address_repo.sweep_recorded(address, 3 * USDT, "sweep_test_rest")
    assert address not in {d.address for d in address_repo.due_deposits(500)}


# --- a sweep whose message gave up, and booking once per mined transaction -------------------


def _sqs(stack: LocalStack) -> Any:
    import boto3

    return boto3.client(
        "sqs",
        endpoint_url=stack.info["aws_endpoint_url"],
        region_name=stack.info["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _drain_settlement_queue(stack: LocalStack) -> list[dict[str, Any]]:
    """Every message on the settlement queue (deleted), with its message group."""
    sqs, queue = _sqs(stack), config.aws().settlement_queue_url
    drained: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"]
        ).get("Messages", [])
        if not got:
            return drained
        for m in got:
            drained.append({**json.loads(m["Body"]), "_group": m["Attributes"]["MessageGroupId"]})
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])


def test_a_sweep_whose_message_gave_up_is_queued_again_by_the_expirer_and_booked(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a batched sweep broadcast, not mined within its message's receives (the
    # message went to the DLQ), and mined afterwards
    deposits = [_paid_deposit(stack, merchant, 2), _paid_deposit(stack, merchant, 3)]
    message = _message(deposits)
    sweep_id = message["sweep_id"]
    hot_before = ledger.default().holdings()["holdings:hot"]
    with manual_mining(stack), pytest.raises(TransferStillPending):
        worker.handle(message, settings=NOW)
    record = outgoing.get_outgoing(sweep_id)
    assert record is not None and record.state == "BROADCAST"
    _drain_settlement_queue(stack)
    # (a record changed recently is not re-sent before BSCPAY_SWEEP_RESUME_AFTER_S)
    planner.enqueue_due()
    assert sweep_id not in {m.get("sweep_id") for m in _drain_settlement_queue(stack)}

    # When the expirer's minute runs after BSCPAY_SWEEP_RESUME_AFTER_S
    monkeypatch.setenv("BSCPAY_SWEEP_RESUME_AFTER_S", "0")
    config.reset()
    planner.enqueue_due()

    # Then the same sweep is on the settlement queue again, in the hot-wallet group
    resent = [m for m in _drain_settlement_queue(stack) if m.get("sweep_id") == sweep_id]
    assert len(resent) == 1
    assert resent[0]["_group"] == planner.HOT_WALLET_GROUP
    assert resent[0]["deposits"] == deposits
    # And handling it finishes the sweep: booked once, no longer open
    outcome = worker.handle({k: v for k, v in resent[0].items() if k != "_group"}, settings=FAST)
    assert outcome.state == "CONFIRMED" and outcome.amount == 5 * USDT and outcome.resumed
    assert ledger.default().holdings()["holdings:hot"] - hot_before == 5 * USDT
    assert all(_due(d["address"]) is None for d in deposits)
    assert sweep_id not in {r.tx_id for r in outgoing.open_records("sweep", ids.now(), 100)}


class _Died(RuntimeError):
    """The process dies between booking the sweep and recording its final state."""


def _die_before_close(*args: Any, **kwargs: Any) -> None:
    raise _Died("killed before the final state")


def test_a_replayed_sweep_first_booked_without_its_gas_counts_as_booked(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a sweep booked with the gas fallback (the ledger did not cover its BNB), whose
    # process died before recording CONFIRMED
    deposit = _paid_deposit(stack, merchant, 5)
    message = _message([deposit])
    hot_before = ledger.default().holdings()["holdings:hot"]
    real_sweep = ledger.Ledger.sweep

    def gas_not_covered(
        self: ledger.Ledger,
        amount: int,
        gas_bnb: int,
        journal_id: str,
        asset: ledger.Asset = ledger.Asset.USDT,
    ) -> ledger.Journal:
        if gas_bnb:
            raise ledger.InsufficientFunds(ledger.GAS, 0, gas_bnb)
        return real_sweep(self, amount, gas_bnb, journal_id, asset)

    monkeypatch.setattr(ledger.Ledger, "sweep", gas_not_covered)
    monkeypatch.setattr(worker._SweepRun, "_close", _die_before_close)
    with pytest.raises(_Died):
        worker.handle(message, settings=FAST)
    monkeypatch.undo()
    assert ledger.default().holdings()["holdings:hot"] - hot_before == 5 * USDT

    # When the message is delivered again and the ledger could now pay the gas
    outcome = worker.handle(message, settings=FAST)

    # Then the replay is the same booking (no JournalConflict), the sweep is CONFIRMED
    # and the USDT was booked once
    assert outcome.state == "CONFIRMED" and outcome.amount == 5 * USDT
    assert ledger.default().holdings()["holdings:hot"] - hot_before == 5 * USDT
    assert _due(deposit["address"]) is None
    record = outgoing.get_outgoing(message["sweep_id"])
    assert record is not None and record.state == "CONFIRMED"


def test_a_resumed_sweep_that_sweeps_new_funds_books_only_its_new_transactions(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a sweep of 4 USDT booked whose process died before recording CONFIRMED
    deposit = _paid_deposit(stack, merchant, 4)
    address = deposit["address"]
    message = _message([deposit])
    before = ledger.default().holdings()
    monkeypatch.setattr(worker._SweepRun, "_close", _die_before_close)
    with pytest.raises(_Died):
        worker.handle(message, settings=FAST)
    monkeypatch.undo()
    record = outgoing.get_outgoing(message["sweep_id"])
    assert record is not None and record.state == "BROADCAST"
    first_txs = list(record.tx_hashes)
    # And 2 more USDT became final on the address meanwhile (late funds)
    pay(stack, address, 2 * USDT)
    make_final(stack)
    scan()
    assert _due(address) == 2 * USDT

    # When the message is delivered again
    outcome = worker.handle(message, settings=FAST)

    # Then it sweeps the new funds too; each mined transaction has its own journal, the
    # first ones replayed, the new ones posted: 6 USDT reached the books, once
    assert outcome.state == "CONFIRMED" and outcome.amount == 6 * USDT and outcome.resumed
    assert _balance(stack, address) == 0 and _due(address) is None
    after = ledger.default().holdings()
    assert after["holdings:hot"] - before["holdings:hot"] == 6 * USDT
    record = outgoing.get_outgoing(message["sweep_id"])
    assert record is not None and record.tx_hashes[: len(first_txs)] == first_txs
    assert len(record.tx_hashes) > len(first_txs)
    # And once more, nothing changes
    assert worker.handle(message, settings=FAST).state == "CONFIRMED"
    assert ledger.default().holdings()["holdings:hot"] - before["holdings:hot"] == 6 * USDT
