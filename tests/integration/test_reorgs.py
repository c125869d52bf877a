"""Reorgs on a real local chain (anvil_reorg, automine): a transfer announced as
confirming whose block leaves the chain is reversed, funds count only once final,
and a transaction re-included in another block is counted once (DESIGN §4).

Each test pays into a fresh block at the head and mines only empty blocks on top, so
a reorg of ``depth`` blocks replaces this test's blocks and nothing older. With one
slot per epoch anvil's ``finalized`` trails the head by 2 blocks, so depths 1 and 2
stay above finality, and depth 5 also rewrites blocks the node had called final
(the scanner never looked at them in between)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_typing import HexStr
from web3 import Web3

from shared.local import chain
from shared.local.stack import LocalStack
from shared.models.domain import Event
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    create_payment,
    events_of_payment,
    get_payment,
    make_final,
    scan,
)

DEPTHS = [1, 2, 5]


# ---- chain chores -----------------------------------------------------------------------


def signed_payment(stack: LocalStack, to: str, amount_units: int) -> str:
    """The customer's USDT transfer to ``to``, signed but not sent: its raw bytes (0x hex)
    are what a reorg can re-include, or a wallet can broadcast again."""
    url = stack.info["rpc_url"]
    w3 = chain.web3_for(url)
    account = Account.from_key(stack.info["customer"]["private_key"])
    call = chain.token_contract(url, stack.info["token_address"]).functions.transfer(
        Web3.to_checksum_address(to), amount_units
    )
    tx = call.build_transaction(
        {
            "from": account.address,
            "nonce": w3.eth.get_transaction_count(account.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
    )
    return str(account.sign_transaction(tx).raw_transaction.to_0x_hex())


def broadcast(stack: LocalStack, raw_tx: str) -> tuple[str, int]:
    """eth_sendRawTransaction (automine puts it in a block of its own); the tx hash and
    the number of that block."""
    url = stack.info["rpc_url"]
    tx_hash = str(chain.rpc_call(url, "eth_sendRawTransaction", raw_tx))
    mined = chain.web3_for(url).eth.wait_for_transaction_receipt(
        HexStr(tx_hash), timeout=chain.RECEIPT_TIMEOUT_S, poll_latency=0.05
    )
    return tx_hash, int(mined["blockNumber"])


def receipt(stack: LocalStack, tx_hash: str) -> dict[str, Any] | None:
    found = chain.rpc_call(stack.info["rpc_url"], "eth_getTransactionReceipt", tx_hash)
    return dict(found) if found else None


def block_hash(stack: LocalStack, number: int) -> str:
    block = chain.rpc_call(stack.info["rpc_url"], "eth_getBlockByNumber", hex(number), False)
    return str(block["hash"]).lower()


def head(stack: LocalStack) -> int:
    return int(chain.rpc_call(stack.info["rpc_url"], "eth_blockNumber"), 16)


def finalized(stack: LocalStack) -> int:
    block = chain.rpc_call(stack.info["rpc_url"], "eth_getBlockByNumber", "finalized", False)
    return int(block["number"], 16)


def event_types(merchant: MerchantCreds, payment_id: str) -> list[str]:
    return [e.type for e in events_of_payment(merchant.merchant_id, payment_id)]


def last_event(merchant: MerchantCreds, payment_id: str) -> Event:
    return events_of_payment(merchant.merchant_id, payment_id)[-1]


def confirming_payment(
    stack: LocalStack, merchant: MerchantCreds, amount: str, depth: int
) -> tuple[dict[str, Any], str, str, int]:
    """Given a payment whose transfer the scanner announced as confirming, in block P,
    and ``depth - 1`` empty blocks mined on top of P (so a reorg of ``depth`` starts
    exactly at P). Returns (payment, raw tx, tx hash, P)."""
    scan()  # catch up first: only this test's blocks are outstanding
    payment = create_payment(merchant, amount)
    raw = signed_payment(stack, payment["address"], int(amount) * USDT)
    tx_hash, paid_in = broadcast(stack, raw)
    assert paid_in == head(stack)
    assert scan().transfers_recorded == 1
    seen = get_payment(merchant, payment["id"])
    assert (seen["status"], seen["amount_pending"]) == ("confirming", amount)
    assert event_types(merchant, payment["id"]) == ["payment.confirming"]
    if depth > 1:
        chain.mine(stack.info["rpc_url"], depth - 1)
    return payment, raw, tx_hash, paid_in


# ---- a transfer whose block left the chain ------------------------------------------------


@pytest.mark.parametrize("depth", DEPTHS)
def test_reorg_that_drops_a_confirming_transfer_reverses_it(
    stack: LocalStack, merchant: MerchantCreds, depth: int
) -> None:
    # Given a 10 USDT transfer announced as confirming, carrying the hash of its block P
    payment, _, tx_hash, paid_in = confirming_payment(stack, merchant, "10", depth)
    [seen] = get_payment(merchant, payment["id"])["transactions"]
    orphaned = block_hash(stack, paid_in)
    assert (seen["block_number"], seen["block_hash"]) == (paid_in, orphaned)

    # When a reorg of `depth` blocks replaces P without the transaction, and the scanner runs
    chain.reorg(stack.info["rpc_url"], depth)
    assert receipt(stack, tx_hash) is None
    assert block_hash(stack, paid_in) != orphaned
    report = scan()

    # Then the transfer is reversed and the totals recomputed: nothing pending, nothing received
    assert report.rewinds == 1
    after = get_payment(merchant, payment["id"])
    assert (after["status"], after["amount_pending"], after["amount_received"]) == (
        "pending",
        "0",
        "0",
    )
    [reversed_transfer] = after["transactions"]
    assert reversed_transfer["tx_hash"] == tx_hash.lower()
    assert reversed_transfer["status"] == "reversed"

    # And payment.reversed is announced, carrying the recomputed payment
    assert event_types(merchant, payment["id"]) == ["payment.confirming", "payment.reversed"]
    announced = last_event(merchant, payment["id"]).data["object"]
    assert (announced["status"], announced["amount_pending"]) == ("pending", "0")
    assert announced["transactions"][0]["status"] == "reversed"

    # And once the replacing blocks are final, still nothing is credited
    make_final(stack)
    scan()
    final = get_payment(merchant, payment["id"])
    assert (final["status"], final["amount_received"]) == ("pending", "0")
    assert event_types(merchant, payment["id"]) == ["payment.confirming", "payment.reversed"]


def test_reversed_transfer_broadcast_again_is_revived_and_counted_once(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a confirming transfer reversed by a reorg of 2 blocks
    payment, raw, tx_hash, _ = confirming_payment(stack, merchant, "4", depth=2)
    chain.reorg(stack.info["rpc_url"], 2)
    scan()
    assert get_payment(merchant, payment["id"])["transactions"][0]["status"] == "reversed"

    # When the wallet broadcasts the very same signed transaction again and it lands anew
    again, new_block = broadcast(stack, raw)
    assert again == tx_hash
    scan()

    # Then the same transfer (same tx hash and log index) is pending again, in its new block
    revived = get_payment(merchant, payment["id"])
    assert (revived["status"], revived["amount_pending"]) == ("confirming", "4")
    [transfer] = revived["transactions"]
    assert (transfer["status"], transfer["block_number"]) == ("pending", new_block)
    assert transfer["block_hash"] == block_hash(stack, new_block)

    # And once final it counts exactly once
    make_final(stack)
    scan()
    paid = get_payment(merchant, payment["id"])
    assert (paid["status"], paid["amount_received"], paid["amount_pending"]) == ("paid", "4", "0")
    assert [t["status"] for t in paid["transactions"]] == ["final"]
    assert event_types(merchant, payment["id"]) == [
        "payment.confirming",
        "payment.reversed",
        "payment.confirming",
        "payment.paid",
    ]


# ---- the same transaction re-included by the reorg ----------------------------------------


@pytest.mark.parametrize("depth", DEPTHS)
def test_transfer_re_included_by_a_reorg_is_paid_once_and_only_when_final(
    stack: LocalStack, merchant: MerchantCreds, depth: int
) -> None:
    # Given a confirming 6 USDT transfer in block P, `depth - 1` blocks below the head
    payment, raw, tx_hash, paid_in = confirming_payment(stack, merchant, "6", depth)
    orphaned = block_hash(stack, paid_in)

    # When a reorg replaces P.. with new blocks that include the same transaction in the
    # newest of them (so it moves up to P + depth - 1, or to a new block P at depth 1)
    chain.reorg(stack.info["rpc_url"], depth, [(raw, depth - 1)])
    moved = receipt(stack, tx_hash)
    assert moved is not None
    moved_to = int(moved["blockNumber"], 16)
    assert moved_to == paid_in + depth - 1
    assert str(moved["blockHash"]).lower() != orphaned

    # Then, scanning block by block, the payment is paid exactly when the new block is final
    statuses, rewinds = [], 0
    for _ in range(8):
        rewinds += scan().rewinds
        final_now = finalized(stack)
        seen = get_payment(merchant, payment["id"])
        statuses.append(seen["status"])
        assert (seen["status"] == "paid") == (moved_to <= final_now), (moved_to, final_now)
        if seen["status"] == "paid":
            break
        assert (seen["amount_pending"], seen["amount_received"]) == ("6", "0")
        chain.mine(stack.info["rpc_url"], 1)
    assert statuses[-1] == "paid", statuses
    assert rewinds == 1

    # And the transfer was counted once, from the block it is in now, never reversed
    paid = get_payment(merchant, payment["id"])
    assert (paid["amount_received"], paid["amount_pending"]) == ("6", "0")
    [transfer] = paid["transactions"]
    assert transfer["status"] == "final"
    assert (transfer["block_number"], transfer["block_hash"]) == (
        moved_to,
        str(moved["blockHash"]).lower(),
    )
    assert event_types(merchant, payment["id"]) == ["payment.confirming", "payment.paid"]
