"""Outgoing hot-wallet transfers on anvil + moto (docs/adr/0012): a duplicate call, a
crash after SIGNED or after BROADCAST, a stuck transaction, a revert, a refusal and
concurrent writers never send twice and never leave a nonce gap; sweeps take their
nonces from the same DynamoDB item."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError

from shared import ids
from shared.chain import evm
from shared.custody.signer import LocalKeySigner
from shared.dal import outgoing
from shared.dal import payments as payment_repo
from shared.dal.outgoing import Attempt, NonceTaken
from shared.local import chain
from shared.local.stack import LocalStack
from shared.settlement import custody, outbound, planner, worker
from shared.settlement.nonces import NonceAllocator
from shared.settlement.outbound import (
    OutboundHooks,
    OutboundSettings,
    TransferMismatch,
    TransferStillPending,
    send_token,
)
from shared.settlement.sweeps import GWEI, GasPolicy
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import USDT, create_payment, make_final, pay, scan
from tests.integration.helpers import manual_mining as mining_by_hand
from tests.support.rpc_proxy import Fault, RpcProxy

WIDE = GasPolicy(floor_wei=0, ceiling_wei=100 * GWEI)
FAST = OutboundSettings(wait_s=10, poll_interval_s=0.05, stuck_after_s=60)
NOW = OutboundSettings(wait_s=0, poll_interval_s=0.05, stuck_after_s=60)  # one look, no wait


class Crash(RuntimeError):
    """The process dies here."""


@pytest.fixture(scope="module")
def hot(stack: LocalStack) -> LocalKeySigner:
    """The deployment's hot wallet, holding plenty of USDT (and BNB from the stack)."""
    signer = custody.load_keys([]).hot_wallet
    pay(stack, signer.address, 10_000 * USDT)
    return signer


@pytest.fixture
def w3(stack: LocalStack) -> Web3:
    return chain.web3_for(stack.info["rpc_url"])


@pytest.fixture
def manual_mining(stack: LocalStack) -> Iterator[None]:
    """Blocks only when the test mines one (transactions wait in the pool)."""
    with mining_by_hand(stack):
        yield


def _send(
    stack: LocalStack,
    hot: LocalKeySigner,
    tx_id: str,
    to: str,
    amount: int,
    settings: OutboundSettings = FAST,
    **kwargs: Any,
) -> Any:
    w3 = kwargs.pop("w3", None) or chain.web3_for(stack.info["rpc_url"])
    return send_token(
        w3,
        hot,
        tx_id,
        to,
        amount,
        token=stack.info["token_address"],
        gas=kwargs.pop("gas", WIDE),
        settings=settings,
        **kwargs,
    )


def _usdt(stack: LocalStack, address: str) -> int:
    return chain.token_balance(stack.info["rpc_url"], stack.info["token_address"], address)


def _nonce(w3: Web3, address: str, block: str = "latest") -> int:
    return int(w3.eth.get_transaction_count(Web3.to_checksum_address(address), block))  # type: ignore[arg-type]


def _recipient() -> str:
    return str(Account.create().address)


def _record(tx_id: str) -> outgoing.TransferRecord:
    record = outgoing.get_transfer(tx_id)
    assert record is not None
    return record


# --- idempotency and crashes -----------------------------------------------------------------


def test_a_duplicate_call_sends_one_transaction(
    stack: LocalStack, hot: LocalKeySigner, w3: Web3
) -> None:
    # Given a payout sent once
    to, tx_id = _recipient(), ids.new_id("po")
    first = _send(stack, hot, tx_id, to, 5 * USDT)
    assert first.state == "CONFIRMED" and first.fee_wei > 0 and first.error is None
    nonce = _nonce(w3, hot.address)

    # When the same trigger arrives again (a redelivered message)
    again = _send(stack, hot, tx_id, to, 5 * USDT)

    # Then nothing is signed or sent: same outcome, same nonce, the amount moved once
    assert again == first
    assert _nonce(w3, hot.address) == nonce
    assert _usdt(stack, to) == 5 * USDT
    record = _record(tx_id)
    assert [a.state for a in record.attempts] == ["CONFIRMED"]
    assert record.nonce == nonce - 1 and record.tx_hash == first.tx_hash
    # And the same id for another transfer is refused, not sent
    with pytest.raises(TransferMismatch):
        _send(stack, hot, tx_id, to, 6 * USDT)
    with pytest.raises(TransferMismatch):
        _send(stack, hot, tx_id, _recipient(), 5 * USDT)


def test_a_crash_after_signed_resumes_by_sending_the_same_bytes(
    stack: LocalStack, hot: LocalKeySigner, w3: Web3
) -> None:
    # Given a transfer whose process dies after recording SIGNED, before sending
    to, tx_id = _recipient(), ids.new_id("rf")
    nonce = _nonce(w3, hot.address)

    def die(tx_hash: str) -> None:
        raise Crash("killed before send")

    with pytest.raises(Crash):
        _send(stack, hot, tx_id, to, 3 * USDT, hooks=OutboundHooks(before_send=die))
    signed = _record(tx_id)
    assert signed.state == "SIGNED" and signed.nonce == nonce
    (attempt,) = signed.attempts
    assert attempt.state == "SIGNED"
    assert _nonce(w3, hot.address, "pending") == nonce  # nothing reached the node

    # When the message is delivered again
    outcome = _send(stack, hot, tx_id, to, 3 * USDT)

    # Then the recorded bytes were sent: the mined transaction is the recorded one
    assert outcome.state == "CONFIRMED" and outcome.tx_hash == attempt.tx_hash
    mined = w3.eth.get_raw_transaction(attempt.tx_hash)  # type: ignore[arg-type]
    assert mined.to_0x_hex() == attempt.raw_tx
    assert _nonce(w3, hot.address) == nonce + 1 and _usdt(stack, to) == 3 * USDT


def test_a_crash_after_broadcast_resumes_and_the_transfer_happens_once(
    stack: LocalStack, hot: LocalKeySigner, w3: Web3, manual_mining: None
) -> None:
    # Given a transfer whose process dies right after the node accepted it
    to, tx_id = _recipient(), ids.new_id("cold")
    nonce = _nonce(w3, hot.address)

    def die(tx_hash: str) -> None:
        raise Crash("killed after broadcast")

    with pytest.raises(Crash):
        _send(stack, hot, tx_id, to, 7 * USDT, hooks=OutboundHooks(after_send=die))
    broadcast = _record(tx_id)
    assert broadcast.state == "BROADCAST" and broadcast.nonce == nonce

    # When it is delivered again before a block: still pending, the same bytes re-sent
    with pytest.raises(TransferStillPending) as pending:
        _send(stack, hot, tx_id, to, 7 * USDT, settings=NOW)
    assert pending.value.tx_hash == broadcast.tx_hash
    assert _nonce(w3, hot.address, "pending") == nonce + 1  # one transaction in the pool
    chain.mine(stack.info["rpc_url"])
    outcome = _send(stack, hot, tx_id, to, 7 * USDT)

    # Then exactly one transfer happened, the recorded one
    assert outcome.state == "CONFIRMED" and outcome.tx_hash == broadcast.tx_hash
    assert _nonce(w3, hot.address) == nonce + 1 and _usdt(stack, to) == 7 * USDT
    assert [a.state for a in _record(tx_id).attempts] == ["CONFIRMED"]


# --- stuck transactions -----------------------------------------------------------------------


def test_a_stuck_transaction_is_replaced_with_higher_gas_and_moves_the_amount_once(
    stack: LocalStack, hot: LocalKeySigner, w3: Web3, manual_mining: None
) -> None:
    # Given a transfer broadcast and not mined
    to, tx_id = _recipient(), ids.new_id("po")
    nonce = _nonce(w3, hot.address)
    with pytest.raises(TransferStillPending):
        _send(stack, hot, tx_id, to, 11 * USDT, settings=NOW)
    (first,) = _record(tx_id).attempts
    assert first.state == "BROADCAST"
    stuck = OutboundSettings(wait_s=0, poll_interval_s=0.05, stuck_after_s=0.001)

    # When it is stuck but the gas ceiling leaves no room for a bump
    capped = GasPolicy(floor_wei=0, ceiling_wei=first.gas_price_wei)
    with pytest.raises(TransferStillPending):
        _send(stack, hot, tx_id, to, 11 * USDT, settings=stuck, gas=capped)
    # Then it keeps waiting with the one transaction (an alert is logged)
    assert len(_record(tx_id).attempts) == 1

    # When it is stuck with room under the ceiling
    with pytest.raises(TransferStillPending):
        _send(stack, hot, tx_id, to, 11 * USDT, settings=stuck)
    first_again, second = _record(tx_id).attempts
    # Then a replacement with the same nonce and >= 12.5 % more gas price was sent
    assert first_again == first
    assert second.gas_price_wei * 8 >= first.gas_price_wei * 9
    assert second.state == "BROADCAST" and second.tx_hash != first.tx_hash
    replacement = w3.eth.get_transaction(second.tx_hash)  # type: ignore[arg-type]
    assert replacement["nonce"] == nonce and replacement["maxFeePerGas"] == second.gas_price_wei

    # When a block is mined and the message comes back
    chain.mine(stack.info["rpc_url"])
    outcome = _send(stack, hot, tx_id, to, 11 * USDT)

    # Then the replacement won, the first is REPLACED, and the amount moved exactly once
    assert outcome.state == "CONFIRMED" and outcome.tx_hash == second.tx_hash
    assert [a.state for a in _record(tx_id).attempts] == ["REPLACED", "CONFIRMED"]
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction_receipt(first.tx_hash)  # type: ignore[arg-type]
    assert _usdt(stack, to) == 11 * USDT
    assert _nonce(w3, hot.address) == nonce + 1


# --- failures ---------------------------------------------------------------------------------


def test_a_transfer_that_cannot_be_signed_fails_without_taking_a_nonce(
    stack: LocalStack, hot: LocalKeySigner, w3: Web3
) -> None:
    # Given a payout larger than the hot wallet holds
    too_much = _usdt(stack, hot.address) + 1
    nonce = _nonce(w3, hot.address)
    stored = outgoing.stored_nonce(hot.address)

    # When it is sent
    outcome = _send(stack, hot, ids.new_id("po"), _recipient(), too_much)

    # Then it FAILED before signing: no transaction, no nonce taken
    assert outcome.state == "FAILED" and outcome.tx_hash is None and outcome.fee_wei == 0
    assert outcome.error is not None and "reverts" in outcome.error
    assert _nonce(w3, hot.address, "pending") == nonce
    assert outgoing.stored_nonce(hot.address) == stored
    # And the next transfer uses the very nonce and confirms
    to, tx_id = _recipient(), ids.new_id("po")
    assert _send(stack, hot, tx_id, to, USDT).state == "CONFIRMED"
    assert _record(tx_id).nonce == nonce


def test_a_reverted_transfer_fails_and_leaves_no_nonce_gap(
    stack: LocalStack, hot: LocalKeySigner, w3: Web3, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a transfer signed with a gas estimate that hides its revert (too much)
    too_much = _usdt(stack, hot.address) + 1
    nonce = _nonce(w3, hot.address)
    lying = chain.web3_for(stack.info["rpc_url"])
    monkeypatch.setattr(lying.eth, "estimate_gas", lambda *a, **k: 60_000)
    to, tx_id = _recipient(), ids.new_id("po")

    # When it is sent
    outcome = _send(stack, hot, tx_id, to, too_much, w3=lying)

    # Then it was mined, reverted, and is FAILED with its fee; nothing moved
    assert outcome.state == "FAILED" and outcome.error == "the transfer reverted on chain"
    assert outcome.tx_hash is not None and outcome.fee_wei > 0
    assert w3.eth.get_transaction_receipt(outcome.tx_hash)["status"] == 0  # type: ignore[arg-type]
    assert [a.state for a in _record(tx_id).attempts] == ["FAILED"]
    assert _usdt(stack, to) == 0
    # And its nonce is used: the next transfer takes the following one and confirms
    monkeypatch.undo()
    follow = ids.new_id("po")
    assert _send(stack, hot, follow, to, USDT).state == "CONFIRMED"
    assert _record(follow).nonce == nonce + 1 and _nonce(w3, hot.address) == nonce + 2


def test_a_refused_transaction_is_cancelled_so_no_gap_blocks_the_next(
    stack: LocalStack, hot: LocalKeySigner, w3: Web3, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a node that refuses the transfer for good (but takes other transactions)
    node = chain.web3_for(stack.info["rpc_url"])
    real_send = node.eth.send_raw_transaction
    refused: list[str] = []

    def refuse_transfers(raw: Any) -> Any:
        tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        if tx["data"]:  # the token transfer; the 0-value cancellation has no data
            refused.append(Web3.keccak(bytes(raw)).to_0x_hex())
            raise Web3RPCError("rejected", rpc_response={"jsonrpc": "2.0", "id": 1})
        return real_send(raw)

    monkeypatch.setattr(node.eth, "send_raw_transaction", refuse_transfers)
    to, tx_id = _recipient(), ids.new_id("rf")
    nonce = _nonce(w3, hot.address)

    # When a transfer is sent
    outcome = _send(stack, hot, tx_id, to, 2 * USDT, w3=node)

    # Then its nonce was filled by a 0-value self-transfer and it is FAILED
    assert outcome.state == "FAILED" and outcome.tx_hash is None and outcome.fee_wei > 0
    assert outcome.error is not None and "refused" in outcome.error
    record = _record(tx_id)
    assert [(a.kind, a.state) for a in record.attempts] == [
        ("transfer", "REFUSED"),
        ("cancel", "CONFIRMED"),
    ]
    assert refused == [record.attempts[0].tx_hash]
    cancel = w3.eth.get_transaction(record.attempts[1].tx_hash)  # type: ignore[arg-type]
    assert (cancel["to"], cancel["value"], cancel["nonce"]) == (hot.address, 0, nonce)
    assert _usdt(stack, to) == 0
    # And the next transfer (through a healthy node) confirms right after it
    monkeypatch.undo()
    follow = ids.new_id("rf")
    assert _send(stack, hot, follow, to, USDT).state == "CONFIRMED"
    assert _record(follow).nonce == nonce + 1


# --- the nonce is used, no receipt of ours (a lagging node) -----------------------------------

GRACE_OVER = OutboundSettings(
    wait_s=0, poll_interval_s=0.05, stuck_after_s=60, nonce_lost_after_s=0, nonce_scan_blocks=10_000
)


def _lagging_node(stack: LocalStack) -> Web3:
    """A node behind the load balancer that counts the hot wallet's nonces like the
    others but has no receipt yet (or no transaction index): every lookup by hash
    finds nothing."""
    node = Web3(Web3.HTTPProvider(stack.info["rpc_url"]))  # not the cached client

    def no_receipt(tx_hash: Any) -> Any:
        raise TransactionNotFound(f"{tx_hash!r} not found")

    node.eth.get_transaction_receipt = no_receipt  # type: ignore[method-assign,assignment]
    return node


@pytest.fixture
def alerts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    raised: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        outbound, "raise_alert", lambda kind, subject, **kw: raised.append((kind, kw))
    )
    return raised


def test_a_mined_transfer_a_lagging_node_has_no_receipt_for_stays_open_and_confirms_later(
    stack: LocalStack, hot: LocalKeySigner, w3: Web3, alerts: list[tuple[str, Any]]
) -> None:
    # Given an RPC node that sees the hot wallet's nonce used but has no receipt yet
    lagging = _lagging_node(stack)
    to, tx_id = _recipient(), ids.new_id("po")
    nonce = _nonce(w3, hot.address)

    # When a payout is sent through it (and mined at once)
    with pytest.raises(TransferStillPending):
        _send(stack, hot, tx_id, to, 4 * USDT, settings=NOW, w3=lagging)

    # Then it is not FAILED (its reservation would be paid again): it stays open, with
    # the moment the nonce was first seen used, and nobody is paged yet
    record = _record(tx_id)
    assert record.state == "BROADCAST" and record.nonce == nonce
    assert record.nonce_used is not None and record.nonce_used.alerted_ms is None
    assert alerts == [] and _usdt(stack, to) == 4 * USDT
    # And a second look through the lagging node still waits, counting from the first
    with pytest.raises(TransferStillPending):
        _send(stack, hot, tx_id, to, 4 * USDT, settings=NOW, w3=lagging)
    assert _record(tx_id).nonce_used == record.nonce_used

    # When a later call reaches a node that has the receipt
    outcome = _send(stack, hot, tx_id, to, 4 * USDT)

    # Then the transfer is CONFIRMED as the transaction that was mined, once
    assert outcome.state == "CONFIRMED" and outcome.tx_hash == record.tx_hash
    assert [a.state for a in _record(tx_id).attempts] == ["CONFIRMED"]
    assert _usdt(stack, to) == 4 * USDT and _nonce(w3, hot.address) == nonce + 1


def test_after_the_grace_a_transfer_without_a_receipt_is_found_in_its_finalized_block(
    stack: LocalStack, hot: LocalKeySigner, w3: Web3, alerts: list[tuple[str, Any]]
) -> None:
    # Given a payout mined where the node never finds its receipt by hash
    lagging = _lagging_node(stack)
    to, tx_id = _recipient(), ids.new_id("po")

    # When BSCPAY_OUTBOUND_NONCE_LOST_AFTER_S is over before its block is finalized
    with pytest.raises(TransferStillPending):
        _send(stack, hot, tx_id, to, 3 * USDT, settings=GRACE_OVER, w3=lagging)

    # Then the operator is alerted once and the record stays open
    assert [kind for kind, _ in alerts] == ["nonce_used_elsewhere"]
    record = _record(tx_id)
    assert record.state == "BROADCAST" and record.nonce_used is not None
    assert record.nonce_used.alerted_ms is not None

    # When the chain finalizes its block and the message comes again
    make_final(stack)
    outcome = _send(stack, hot, tx_id, to, 3 * USDT, settings=GRACE_OVER, w3=lagging)

    # Then the scan of finalized blocks found our transaction at the nonce and settled
    # it from the block's receipts: CONFIRMED, never FAILED, no second alert
    assert outcome.state == "CONFIRMED" and outcome.tx_hash == record.tx_hash
    assert [kind for kind, _ in alerts] == ["nonce_used_elsewhere"]
    assert _usdt(stack, to) == 3 * USDT


def test_a_nonce_used_by_a_foreign_transaction_fails_only_once_that_is_finalized(
    stack: LocalStack, hot: LocalKeySigner, w3: Web3, alerts: list[tuple[str, Any]]
) -> None:
    # Given a refund signed for nonce N whose process died before sending it
    to, tx_id = _recipient(), ids.new_id("rf")
    nonce = _nonce(w3, hot.address)

    def die(tx_hash: str) -> None:
        raise Crash("killed before send")

    with pytest.raises(Crash):
        _send(stack, hot, tx_id, to, 2 * USDT, hooks=OutboundHooks(before_send=die))
    # And a transaction from outside bscpay (someone holding the key) that used N
    _fill(stack, hot, nonce)

    # When the refund resumes: the nonce is used and no attempt of ours has a receipt
    with pytest.raises(TransferStillPending):
        _send(stack, hot, tx_id, to, 2 * USDT, settings=NOW)

    # Then within the grace it stays open (a lagging node would look the same)
    record = _record(tx_id)
    assert record.state == "SIGNED" and record.nonce_used is not None and alerts == []

    # When the grace is over but the foreign transaction's block is not finalized
    with pytest.raises(TransferStillPending):
        _send(stack, hot, tx_id, to, 2 * USDT, settings=GRACE_OVER)
    assert _record(tx_id).state == "SIGNED"

    # When it is finalized
    make_final(stack)
    outcome = _send(stack, hot, tx_id, to, 2 * USDT, settings=GRACE_OVER)

    # Then the refund is FAILED (nothing of it can be mined any more), naming the
    # transaction that took its nonce; nothing moved
    assert outcome.state == "FAILED" and outcome.tx_hash is None and outcome.fee_wei == 0
    assert outcome.error is not None and "outside bscpay" in outcome.error
    assert [kind for kind, _ in alerts] == ["nonce_used_elsewhere", "nonce_used_elsewhere"]
    assert alerts[-1][1]["tx"] != record.attempts[0].tx_hash
    assert [a.state for a in _record(tx_id).attempts] == ["REPLACED"]
    assert _usdt(stack, to) == 0


# --- a foreign transaction at our nonce: a second endpoint must confirm it -------------------

FOREIGN_LIE = "0x" + "ab" * 32


@pytest.fixture
def proxy(stack: LocalStack) -> Iterator[RpcProxy]:
    with RpcProxy(stack.info["rpc_url"]) as running:
        yield running


def test_a_lying_node_showing_a_foreign_transaction_at_our_nonce_cannot_fail_a_mined_payout(
    stack: LocalStack,
    hot: LocalKeySigner,
    w3: Web3,
    proxy: RpcProxy,
    alerts: list[tuple[str, Any]],
) -> None:
    # Given two endpoints, the first one (preferred) has no receipts by hash and, in
    # the block holding our payout, shows someone else's transaction at its nonce
    hot_address = hot.address.lower()

    def lie(params: list[Any], block: Any) -> Any:
        if isinstance(block, dict) and len(params) > 1 and params[1]:
            for tx in block["transactions"]:
                if str(tx["from"]).lower() == hot_address:
                    tx["hash"] = FOREIGN_LIE
        return block

    proxy.fail("eth_getTransactionReceipt", Fault.NULL)
    proxy.rewrite("eth_getBlockByNumber", lie)
    two = evm.client([proxy.url, stack.info["rpc_url"]])
    to, tx_id = _recipient(), ids.new_id("po")
    nonce = _nonce(w3, hot.address)

    # When a payout is sent through them (mined at once), and once its block is
    # finalized the grace is over and the nonce scan finds the "foreign" transaction
    with pytest.raises(TransferStillPending):
        _send(stack, hot, tx_id, to, 5 * USDT, settings=GRACE_OVER, w3=two)
    make_final(stack)
    with pytest.raises(TransferStillPending):
        _send(stack, hot, tx_id, to, 5 * USDT, settings=GRACE_OVER, w3=two)

    # Then the payout is not FAILED (its reservation would be paid again): the second
    # endpoint shows our transaction there, so the record stays open and the operator
    # is alerted with both answers
    record = _record(tx_id)
    assert record.state == "BROADCAST" and record.nonce == nonce
    assert [kind for kind, _ in alerts] == ["nonce_used_elsewhere", "nonce_foreign_unconfirmed"]
    unconfirmed = alerts[-1][1]
    assert unconfirmed["tx"] == FOREIGN_LIE
    assert list(unconfirmed["disagree"].values()) == [record.tx_hash]
    assert _usdt(stack, to) == 5 * USDT

    # When a later call reaches an honest node
    outcome = _send(stack, hot, tx_id, to, 5 * USDT)

    # Then the payout is CONFIRMED as the transaction that was mined, once
    assert outcome.state == "CONFIRMED" and outcome.tx_hash == record.tx_hash
    assert _usdt(stack, to) == 5 * USDT and _nonce(w3, hot.address) == nonce + 1


def test_a_foreign_transaction_at_our_nonce_fails_the_transfer_only_once_a_second_endpoint_confirms(
    stack: LocalStack,
    hot: LocalKeySigner,
    w3: Web3,
    proxy: RpcProxy,
    alerts: list[tuple[str, Any]],
) -> None:
    # Given two endpoints (the node itself first, the proxy second) and a refund whose
    # nonce a transaction from outside bscpay used, finalized
    two = evm.client([stack.info["rpc_url"], proxy.url])
    to, tx_id = _recipient(), ids.new_id("rf")
    nonce = _nonce(w3, hot.address)

    def die(tx_hash: str) -> None:
        raise Crash("killed before send")

    with pytest.raises(Crash):
        _send(stack, hot, tx_id, to, 2 * USDT, hooks=OutboundHooks(before_send=die), w3=two)
    _fill(stack, hot, nonce)
    make_final(stack)

    # When the grace is over and the second endpoint cannot answer the confirmation
    proxy.fail("eth_getBlockByNumber", Fault.DROP, times=1)
    with pytest.raises(TransferStillPending):
        _send(stack, hot, tx_id, to, 2 * USDT, settings=GRACE_OVER, w3=two)

    # Then the refund stays open and the operator is alerted
    assert _record(tx_id).state == "SIGNED"
    assert [kind for kind, _ in alerts] == ["nonce_used_elsewhere", "nonce_foreign_unconfirmed"]
    assert alerts[-1][1]["confirmed"] and alerts[-1][1]["unanswered"]

    # When the message comes again and the second endpoint answers the same
    outcome = _send(stack, hot, tx_id, to, 2 * USDT, settings=GRACE_OVER, w3=two)

    # Then the refund is FAILED as before, nothing moved
    assert outcome.state == "FAILED" and outcome.tx_hash is None and outcome.fee_wei == 0
    assert outcome.error is not None and "outside bscpay" in outcome.error
    assert [kind for kind, _ in alerts][-1] == "nonce_used_elsewhere"
    assert _usdt(stack, to) == 0


# --- one nonce, many writers --------------------------------------------------------------


def _pending_record(tx_id: str, hot: LocalKeySigner) -> outgoing.TransferRecord:
    assert outgoing.create_transfer(tx_id, "test", hot.address, {"n": tx_id}, ids.now())
    return _record(tx_id)


def _fake_attempt(tag: str) -> Attempt:
    return Attempt(
        tx_hash="0x" + tag.encode().hex().ljust(64, "0")[:64],
        raw_tx="0x00",
        gas_price_wei=1,
        kind="transfer",
        state="SIGNED",
        signed_at_ms=0,
    )


def test_two_writers_reading_the_same_nonce_cannot_both_take_it(
    stack: LocalStack, hot: LocalKeySigner, w3: Web3
) -> None:
    # Given two writers that read the nonce item at the same moment
    first, second = NonceAllocator(w3, hot.address), NonceAllocator(w3, hot.address)
    claim_a, claim_b = first.claim(), second.claim()
    assert claim_a == claim_b
    a = _pending_record(ids.new_id("po"), hot)
    b = _pending_record(ids.new_id("po"), hot)

    # When both record a signed transaction with it
    signed = outgoing.sign(
        outgoing.TransferRecord(**{**a.__dict__, "attempts": (_fake_attempt("a"),)}),
        claim_a,
        21_000,
        ids.now(),
    )

    # Then only the first takes it; the second's record is untouched
    assert signed.state == "SIGNED" and signed.nonce == claim_a.nonce
    with pytest.raises(NonceTaken):
        outgoing.sign(
            outgoing.TransferRecord(**{**b.__dict__, "attempts": (_fake_attempt("b"),)}),
            claim_b,
            21_000,
            ids.now(),
        )
    assert _record(b.tx_id).state == "PENDING"
    assert outgoing.stored_nonce(hot.address) == claim_a.nonce + 1
    # (Give the nonce back to the chain: a real transaction must fill it.)
    _fill(stack, hot, claim_a.nonce)


def _fill(stack: LocalStack, hot: LocalKeySigner, nonce: int) -> None:
    w3 = chain.web3_for(stack.info["rpc_url"])
    raw = hot.sign_transaction(
        {
            "to": hot.address,
            "value": 0,
            "gas": 21_000,
            "nonce": nonce,
            "chainId": w3.eth.chain_id,
            "maxFeePerGas": 50 * GWEI,
            "maxPriorityFeePerGas": GWEI,
        }
    )
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw), timeout=10)


def test_concurrent_transfers_never_share_a_nonce(
    stack: LocalStack, hot: LocalKeySigner, w3: Web3
) -> None:
    # Given six transfers started at the same instant (a duplicate trigger, no FIFO)
    nonce = _nonce(w3, hot.address)
    jobs = [(ids.new_id("po"), _recipient()) for _ in range(6)]
    outcomes: dict[str, Any] = {}
    start = threading.Barrier(len(jobs))

    def run(tx_id: str, to: str) -> None:
        start.wait()
        try:
            outcomes[tx_id] = _send(stack, hot, tx_id, to, USDT).state
        except Exception as exc:  # reported below
            outcomes[tx_id] = repr(exc)

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # Then each took its own nonce, all confirmed, and the nonces are contiguous
    assert set(outcomes.values()) == {"CONFIRMED"}, outcomes
    nonces = sorted(_record(tx_id).nonce or -1 for tx_id, _ in jobs)
    assert nonces == list(range(nonce, nonce + len(jobs)))
    assert _nonce(w3, hot.address) == nonce + len(jobs)
    assert all(_usdt(stack, to) == USDT for _, to in jobs)


# --- sweeps share the allocator ---------------------------------------------------------------


def _paid_deposit(stack: LocalStack, merchant: MerchantCreds, usdt: int) -> dict[str, Any]:
    payment = create_payment(merchant, str(usdt))
    pay(stack, payment["address"], usdt * USDT)
    make_final(stack)
    scan()
    stored = payment_repo.get_payment(payment["id"], with_transfers=False)
    assert stored is not None and stored.status.value == "paid"
    return {"address": payment["address"].lower(), "index": stored.derivation_index}


def test_a_sweep_interleaved_with_a_transfer_takes_the_next_nonce(
    stack: LocalStack, merchant: MerchantCreds, hot: LocalKeySigner, w3: Web3
) -> None:
    # Given a payout that took nonce N and crashed before sending it (the node has not
    # seen N: its `pending` count would hand N to the next writer)
    deposit = _paid_deposit(stack, merchant, 4)
    to, payout = _recipient(), ids.new_id("po")
    nonce = _nonce(w3, hot.address)

    def die(tx_hash: str) -> None:
        raise Crash("killed before send")

    with pytest.raises(Crash):
        _send(stack, hot, payout, to, 2 * USDT, hooks=OutboundHooks(before_send=die))
    assert _nonce(w3, hot.address, "pending") == nonce

    # When a sweep runs meanwhile, and the payout resumes while the sweep waits
    resumed: dict[str, Any] = {}

    def resume_payout() -> None:
        threading.Event().wait(1.0)
        resumed["outcome"] = _send(stack, hot, payout, to, 2 * USDT)

    helper = threading.Thread(target=resume_payout)
    helper.start()
    sweep_id = planner.sweep_id([deposit["address"]], ids.new_id("t"))
    message = {"kind": "sweep", "sweep_id": sweep_id, "deposits": [deposit]}
    swept = worker.handle(message)
    helper.join(30)

    # Then the sweep's hot-wallet transaction took N+1 from DynamoDB, not N again
    assert swept.state == "CONFIRMED" and swept.amount == 4 * USDT
    sweep_record = outgoing.get_outgoing(sweep_id)
    assert sweep_record is not None
    hot_nonces = [
        w3.eth.get_transaction(h)["nonce"]  # type: ignore[arg-type]
        for h in sweep_record.tx_hashes
        if w3.eth.get_transaction(h)["from"] == hot.address  # type: ignore[arg-type]
    ]
    assert hot_nonces == [nonce + 1]
    # And the payout confirmed with N: both moved their amounts, once each
    assert resumed["outcome"].state == "CONFIRMED" and _record(payout).nonce == nonce
    assert _usdt(stack, to) == 2 * USDT and _usdt(stack, deposit["address"]) == 0
    assert _nonce(w3, hot.address) == nonce + 2
    assert outgoing.stored_nonce(hot.address) == nonce + 2


def test_a_sweep_transaction_signed_on_a_taken_nonce_is_nonce_taken(
    stack: LocalStack, hot: LocalKeySigner, w3: Web3
) -> None:
    # Given two writers that read the nonce item at the same moment, one already signed
    first, second = NonceAllocator(w3, hot.address), NonceAllocator(w3, hot.address)
    claim_a, claim_b = first.claim(), second.claim()
    a = _pending_record(ids.new_id("po"), hot)
    outgoing.sign(
        outgoing.TransferRecord(**{**a.__dict__, "attempts": (_fake_attempt("a"),)}),
        claim_a,
        21_000,
        ids.now(),
    )
    sweep_id = f"sweep_{uuid.uuid4().hex}"
    assert outgoing.create_sweep(sweep_id, {"deposits": []}, ids.now())
    shape = _pending_record(ids.new_id("po"), hot)  # the child itself is not stored yet
    child = outgoing.TransferRecord(**{**shape.__dict__, "tx_id": f"{sweep_id}~1"})

    # When the other records a sweep's transaction with the same nonce (its transaction
    # puts the child record before it updates the nonce: reasons are not in call order)
    with pytest.raises(NonceTaken):
        outgoing.sign_sweep_tx(
            sweep_id,
            outgoing.TransferRecord(**{**child.__dict__, "attempts": (_fake_attempt("c"),)}),
            claim_b,
            21_000,
            "PENDING",
            ids.now(),
        )

    # Then neither the child nor the sweep changed
    assert outgoing.get_transfer(child.tx_id) is None
    assert outgoing.get_transfer(sweep_id).state == "PENDING"  # type: ignore[union-attr]
    _fill(stack, hot, claim_a.nonce)
