"""Settlement behind several RPC endpoints (docs/adr/0014): the first endpoint dies in
the middle of a sweep and of a payout, and both complete through the second endpoint
with nothing sent twice (one hot-wallet nonce, one token transfer each, the ledger
balanced). The first endpoint is the fault-injecting proxy in front of anvil."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from shared import config, ledger
from shared.chain.logs import TRANSFER_TOPIC
from shared.dal import addresses as address_repo
from shared.dal import outgoing as outgoing_repo
from shared.dal import payments as payment_repo
from shared.disbursements import worker as disbursements
from shared.local import chain
from shared.local.stack import LocalStack
from shared.models.domain import DisbursementStatus
from shared.settlement import custody, planner
from shared.settlement import worker as settlement
from shared.settlement.outbound import OutboundHooks, TransferStillPending
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    admin_call,
    as_admin,
    create_payment,
    make_final,
    pay,
    scan,
)
from tests.support.rpc_proxy import ANY_METHOD, Fault, RpcProxy

# anvil's public dev account #6: a merchant's own settlement address.
SETTLEMENT_ADDRESS = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"


# ---- fixtures and chores ---------------------------------------------------------------------


def _dies_before_the_first_broadcast(proxy: RpcProxy) -> OutboundHooks:
    """Kill the first endpoint right before the hot wallet's transaction is sent: every
    read so far went through it; from then on it drops every connection unanswered (it
    keeps counting what reached it, so a test can tell that the broadcast was tried
    there and never reached the node)."""
    return OutboundHooks(before_send=lambda tx_hash: proxy.fail(ANY_METHOD, Fault.DROP))


def _rpc(stack: LocalStack, method: str, *params: Any) -> Any:
    return chain.rpc_call(stack.info["rpc_url"], method, *params)


def _nonce(stack: LocalStack, address: str) -> int:
    return int(_rpc(stack, "eth_getTransactionCount", address, "latest"), 16)


def _head(stack: LocalStack) -> int:
    return int(_rpc(stack, "eth_blockNumber"), 16)


def _topic(address: str) -> str:
    return "0x" + address.lower().removeprefix("0x").rjust(64, "0")


def _token_transfers(stack: LocalStack, from_block: int, to: str) -> list[tuple[str, int, str]]:
    """(from, amount, tx hash) of every token Transfer to ``to`` since ``from_block``."""
    logs = _rpc(
        stack,
        "eth_getLogs",
        {
            "address": stack.info["token_address"],
            "topics": [TRANSFER_TOPIC, None, _topic(to)],
            "fromBlock": hex(from_block),
            "toBlock": "latest",
        },
    )
    return [
        ("0x" + log["topics"][1][-40:], int(log["data"], 16), log["transactionHash"])
        for log in logs
    ]


def _paid_deposit(stack: LocalStack, merchant: MerchantCreds, usdt: int) -> dict[str, Any]:
    payment = create_payment(merchant, str(usdt))
    pay(stack, payment["address"], usdt * USDT)
    make_final(stack)
    scan()
    stored = payment_repo.get_payment(payment["id"], with_transfers=False)
    assert stored is not None and stored.status.value == "paid"
    return {"address": payment["address"].lower(), "index": stored.derivation_index}


def _sweep_message(deposits: list[dict[str, Any]], salt: str) -> dict[str, Any]:
    sweep_id = planner.sweep_id([d["address"] for d in deposits], salt)
    return {"kind": "sweep", "sweep_id": sweep_id, "deposits": deposits}


@pytest.fixture
def small_payouts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A 10 USDT payout goes out without approval: fee 1 % + 0.5, network fee 0.1."""
    for name, value in {
        "BSCPAY_PAYOUT_FEE_BPS": "100",
        "BSCPAY_PAYOUT_FEE_FIXED": "0.5",
        "BSCPAY_PAYOUT_NETWORK_FEE": "0.1",
        "BSCPAY_PAYOUT_APPROVAL_THRESHOLD": "20",
        "BSCPAY_PAYOUT_MINIMUM": "1",
        "BSCPAY_PAYOUT_ADDRESS_COOLDOWN_S": "0",
    }.items():
        monkeypatch.setenv(name, value)
    config.reset()
    yield
    monkeypatch.undo()
    config.reset()


# ---- the tests -------------------------------------------------------------------------------


def test_a_sweep_completes_through_the_second_endpoint_when_the_first_dies(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two paid deposits (one batched sweepMany transaction for both)
    deposits = [_paid_deposit(stack, merchant, 4), _paid_deposit(stack, merchant, 6)]
    hot = custody.load_keys([]).hot_wallet.address
    nonce_before, start = _nonce(stack, hot), _head(stack) + 1
    book = ledger.default()
    hot_before = book.holdings()["holdings:hot"]

    # And BSCPAY_RPC_URLS whose first endpoint dies right before the sweep is sent
    with RpcProxy(stack.info["rpc_url"]) as proxy:
        monkeypatch.setenv("BSCPAY_RPC_URLS", f"{proxy.url},{stack.info['rpc_url']}")
        config.reset()

        # When settlement handles the sweep
        outcome = settlement.handle(
            _sweep_message(deposits, "failover"), hooks=_dies_before_the_first_broadcast(proxy)
        )
        reads_through_the_first = sum(proxy.requests.values())

    # Then the first endpoint served the sweep until it died: the broadcast was tried
    # there and never reached the node
    assert reads_through_the_first > proxy.requests["eth_sendRawTransaction"] >= 1
    assert proxy.forwarded["eth_sendRawTransaction"] == 0
    # And the sweep completed through the second: one hot-wallet nonce used, one token
    # transfer per deposit, both in that one transaction
    assert outcome.state == "CONFIRMED" and outcome.amount == 10 * USDT
    assert _nonce(stack, hot) == nonce_before + 1
    moved = _token_transfers(stack, start, hot)
    assert sorted((source, amount) for source, amount, _ in moved) == sorted(
        [(deposits[0]["address"], 4 * USDT), (deposits[1]["address"], 6 * USDT)]
    )
    assert len({tx for _, _, tx in moved}) == 1
    # And the ledger booked it once, balanced; the deposits are no longer due
    assert book.holdings()["holdings:hot"] - hot_before == 10 * USDT
    assert book.trial_balance() == {a: 0 for a in ledger.Asset}
    due = {d.address for d in address_repo.due_deposits(500)}
    assert not due & {d["address"] for d in deposits}


def test_a_payout_completes_through_the_second_endpoint_when_the_first_dies(
    stack: LocalStack,
    merchant: MerchantCreds,
    small_payouts: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given 10 USDT swept into the hot wallet and a queued payout of it (9.3 USDT net)
    deposit = _paid_deposit(stack, merchant, 10)
    settlement.handle(_sweep_message([deposit], "failover-payout"))
    path = f"/admin/merchants/{merchant.merchant_id}/settlement"
    set_by = admin_call("POST", path, {"address": SETTLEMENT_ADDRESS}, as_admin("setter"))
    assert set_by.status == 200, set_by.body
    confirmed = admin_call("POST", f"{path}/confirm", authorizer=as_admin("confirmer"))
    assert confirmed.status == 200, confirmed.body
    payout = admin_call("POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {}).body
    assert payout["status"] == "queued", payout
    hot = custody.load_keys([]).hot_wallet.address
    nonce_before, start = _nonce(stack, hot), _head(stack) + 1
    book = ledger.default()
    hot_before = book.holdings()["holdings:hot"]

    # And BSCPAY_RPC_URLS whose first endpoint dies right before the transfer is sent
    with RpcProxy(stack.info["rpc_url"]) as proxy:
        monkeypatch.setenv("BSCPAY_RPC_URLS", f"{proxy.url},{stack.info['rpc_url']}")
        config.reset()

        # When settlement handles the payout's message, and then again (a redelivery)
        done = disbursements.handle(
            {"kind": "disbursement", "disbursement_id": payout["id"]},
            hooks=_dies_before_the_first_broadcast(proxy),
        )
        again = disbursements.handle({"kind": "disbursement", "disbursement_id": payout["id"]})
        reads_through_the_first = sum(proxy.requests.values())

    # Then the first endpoint served the payout until it died: the broadcast was tried
    # there and never reached the node
    assert reads_through_the_first > proxy.requests["eth_sendRawTransaction"] >= 1
    assert proxy.forwarded["eth_sendRawTransaction"] == 0
    # And the payout is paid through the second: one nonce, one transfer of 9.3 USDT
    assert done is not None and done.status is DisbursementStatus.PAID
    assert again is not None and again.status is DisbursementStatus.PAID
    assert _nonce(stack, hot) == nonce_before + 1
    net = int(Decimal("9.3") * USDT)
    assert [
        (source, amount) for source, amount, _ in _token_transfers(stack, start, SETTLEMENT_ADDRESS)
    ] == [(hot.lower(), net)]
    # And the ledger: the hot wallet lower by exactly that, balanced
    assert hot_before - book.holdings()["holdings:hot"] == net
    assert book.trial_balance() == {a: 0 for a in ledger.Asset}


# ---- an answer lost after the node took the transaction; a crash; the naive path ------------


def _queued_payout(stack: LocalStack, merchant: MerchantCreds, salt: str) -> dict[str, Any]:
    """10 USDT swept into the hot wallet and a queued payout of it (9.3 USDT net)."""
    deposit = _paid_deposit(stack, merchant, 10)
    settlement.handle(_sweep_message([deposit], salt))
    path = f"/admin/merchants/{merchant.merchant_id}/settlement"
    set_by = admin_call("POST", path, {"address": SETTLEMENT_ADDRESS}, as_admin("setter"))
    assert set_by.status == 200, set_by.body
    confirmed = admin_call("POST", f"{path}/confirm", authorizer=as_admin("confirmer"))
    assert confirmed.status == 200, confirmed.body
    payout: dict[str, Any] = admin_call(
        "POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {}
    ).body
    assert payout["status"] == "queued", payout
    return payout


def _paid_once(stack: LocalStack, payout_id: str, nonce_before: int, start: int) -> None:
    """One hot-wallet nonce, one 9.3 USDT transfer, one signed transaction (no cancel)."""
    hot = custody.load_keys([]).hot_wallet.address
    assert _nonce(stack, hot) == nonce_before + 1
    net = int(Decimal("9.3") * USDT)
    assert [
        (source, amount) for source, amount, _ in _token_transfers(stack, start, SETTLEMENT_ADDRESS)
    ] == [(hot.lower(), net)]
    record = outgoing_repo.get_transfer(payout_id)
    assert record is not None and record.state == "CONFIRMED"
    assert [a.kind for a in record.attempts] == ["transfer"]


@pytest.mark.parametrize("fault", [Fault.FORWARD_THEN_500, Fault.FORWARD_THEN_DROP])
def test_a_payout_whose_broadcast_answer_was_lost_is_paid_once_without_a_cancel(
    stack: LocalStack,
    merchant: MerchantCreds,
    small_payouts: None,
    monkeypatch: pytest.MonkeyPatch,
    fault: Fault,
) -> None:
    # Given a queued payout
    payout = _queued_payout(stack, merchant, f"lost-answer-{fault}")
    hot = custody.load_keys([]).hot_wallet.address
    nonce_before, start = _nonce(stack, hot), _head(stack) + 1
    message = {"kind": "disbursement", "disbursement_id": payout["id"]}

    # And a first endpoint that hands the broadcast to the node and then loses the answer
    # (an HTTP 500 or a dropped connection), a second endpoint in front of the same node
    with RpcProxy(stack.info["rpc_url"]) as first, RpcProxy(stack.info["rpc_url"]) as second:
        first.fail("eth_sendRawTransaction", fault)
        monkeypatch.setenv("BSCPAY_RPC_URLS", f"{first.url},{second.url}")
        config.reset()

        # When settlement handles the payout
        done = disbursements.handle(message)
        sent = first.raw_txs + second.raw_txs

    # Then the node got it through the first endpoint, and the payout is paid: one
    # nonce, one transfer, and only ever the same signed bytes (no cancellation)
    assert first.forwarded["eth_sendRawTransaction"] == 1
    assert done is not None and done.status is DisbursementStatus.PAID
    assert len(set(sent)) == 1
    _paid_once(stack, payout["id"], nonce_before, start)


def test_a_payout_crashed_after_its_broadcast_is_redelivered_through_the_second_endpoint(
    stack: LocalStack,
    merchant: MerchantCreds,
    small_payouts: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a queued payout, two endpoints in front of one node
    payout = _queued_payout(stack, merchant, "crash-after-send")
    hot = custody.load_keys([]).hot_wallet.address
    nonce_before, start = _nonce(stack, hot), _head(stack) + 1
    message = {"kind": "disbursement", "disbursement_id": payout["id"]}
    with RpcProxy(stack.info["rpc_url"]) as first, RpcProxy(stack.info["rpc_url"]) as second:
        monkeypatch.setenv("BSCPAY_RPC_URLS", f"{first.url},{second.url}")
        config.reset()

        # And the worker crashes right after the broadcast, and the first endpoint dies
        def crash(tx_hash: str) -> None:
            first.fail(ANY_METHOD, Fault.DROP)
            raise RuntimeError("crashed after the broadcast")

        with pytest.raises(RuntimeError, match="crashed after the broadcast"):
            disbursements.handle(message, hooks=OutboundHooks(after_send=crash))
        taken = (
            first.forwarded["eth_sendRawTransaction"] + second.forwarded["eth_sendRawTransaction"]
        )
        reached_first = first.forwarded.total()

        # When the message is redelivered
        done = disbursements.handle(message)
        sent = first.raw_txs + second.raw_txs

    # Then the redelivery went through the second endpoint (nothing reached the node
    # through the first), and the payout is paid once: the same signed bytes only
    assert taken >= 1
    assert first.forwarded.total() == reached_first
    assert second.forwarded.total() > 0
    assert done is not None and done.status is DisbursementStatus.PAID
    assert len(set(sent)) == 1
    _paid_once(stack, payout["id"], nonce_before, start)


def test_a_naive_sweep_completes_through_the_second_endpoint_when_the_first_dies(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two paid deposits and no Sweeper: each deposit sends its own token transfer
    # (after a gas top-up from the hot wallet)
    monkeypatch.setenv("BSCPAY_SWEEP_SWEEPER_ADDRESS", "")
    config.reset()
    deposits = [_paid_deposit(stack, merchant, 3), _paid_deposit(stack, merchant, 5)]
    hot = custody.load_keys([]).hot_wallet.address
    start = _head(stack) + 1
    book = ledger.default()
    hot_before = book.holdings()["holdings:hot"]

    # And a first endpoint that dies right before the first hot-wallet broadcast
    with RpcProxy(stack.info["rpc_url"]) as first, RpcProxy(stack.info["rpc_url"]) as second:
        monkeypatch.setenv("BSCPAY_RPC_URLS", f"{first.url},{second.url}")
        config.reset()

        # When settlement handles the sweep
        outcome = settlement.handle(
            _sweep_message(deposits, "naive-failover"),
            hooks=_dies_before_the_first_broadcast(first),
        )

    # Then nothing reached the node through the first endpoint after it died; the
    # deposits' own transactions went through the second
    assert first.requests["eth_sendRawTransaction"] >= 1
    assert first.forwarded["eth_sendRawTransaction"] == 0
    assert second.forwarded["eth_sendRawTransaction"] >= len(deposits)
    # And every deposit moved its tokens exactly once
    assert outcome.state == "CONFIRMED" and outcome.amount == 8 * USDT
    moved = _token_transfers(stack, start, hot)
    assert sorted((source, amount) for source, amount, _ in moved) == sorted(
        [(deposits[0]["address"], 3 * USDT), (deposits[1]["address"], 5 * USDT)]
    )
    assert book.holdings()["holdings:hot"] - hot_before == 8 * USDT
    assert book.trial_balance() == {a: 0 for a in ledger.Asset}


def test_after_a_failover_a_resumed_sweep_reads_balances_at_its_receipts_block_not_a_lagging_head(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a paid deposit whose sweep was sent and mined, the worker dying right after
    deposit = _paid_deposit(stack, merchant, 7)
    hot = custody.load_keys([]).hot_wallet.address
    start = _head(stack) + 1
    message = _sweep_message([deposit], "lagging-balance")
    book = ledger.default()
    hot_before = book.holdings()["holdings:hot"]

    class Crash(RuntimeError):
        pass

    def crash(tx_hash: str) -> None:
        raise Crash("killed after send")

    with RpcProxy(stack.info["rpc_url"]) as first, RpcProxy(stack.info["rpc_url"]) as second:
        monkeypatch.setenv("BSCPAY_RPC_URLS", f"{first.url},{second.url}")
        config.reset()
        with pytest.raises(Crash):
            settlement.handle(message, hooks=OutboundHooks(after_send=crash))
        nonce_after_sweep = _nonce(stack, hot)
        signed = set(first.raw_txs) | set(second.raw_txs)
        assert signed

        # And on redelivery the first endpoint gives the receipts, then dies; the
        # second is behind the block that mined the sweep
        settle = settlement._SweepRun._settle_recorded

        def settle_then_fail_over(run: Any, record: Any) -> Any:
            tally = settle(run, record)
            first.fail(ANY_METHOD, Fault.DROP)
            second.lag(_head(stack) - start + 1)
            return tally

        monkeypatch.setattr(settlement._SweepRun, "_settle_recorded", settle_then_fail_over)
        first.reset_counts()
        second.reset_counts()

        # When the message is redelivered
        with pytest.raises(TransferStillPending):
            settlement.handle(message)

        # Then the lagging node's old balance did not start a second sweep: it cannot
        # answer at the receipts' block, so the sweep is still pending, nothing new
        # signed (resuming re-sent only the recorded bytes)
        assert set(first.raw_txs) | set(second.raw_txs) <= signed
        assert _nonce(stack, hot) == nonce_after_sweep

        # When the nodes are healthy again and the message comes once more
        monkeypatch.setattr(settlement._SweepRun, "_settle_recorded", settle)
        first.heal()
        second.heal()
        outcome = settlement.handle(message)

    # Then the sweep is CONFIRMED once: one token transfer, booked once, balanced
    assert outcome.state == "CONFIRMED" and outcome.amount == 7 * USDT
    assert _nonce(stack, hot) == nonce_after_sweep
    assert [(s, a) for s, a, _ in _token_transfers(stack, start, hot)] == [
        (deposit["address"], 7 * USDT)
    ]
    assert book.holdings()["holdings:hot"] - hot_before == 7 * USDT
    assert book.trial_balance() == {a: 0 for a in ledger.Asset}
