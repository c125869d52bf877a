"""Admin rescans: a block range the scanner passed without crediting (e.g. a node that
answered wrongly) is scanned again on request, in chunks, idempotently."""

from __future__ import annotations

from shared import config
from shared.dal import system as system_repo
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    admin_call,
    block_of,
    create_payment,
    cursor,
    get_payment,
    make_final,
    pay,
    rewind_cursor,
    scan,
)

USDT = 10**18


def test_rescan_credits_a_transfer_the_cursor_passed_and_only_once(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a payment paid in a block the cursor then skipped past without seeing it
    scan()  # catch up
    payment = create_payment(merchant, "4")
    tx = pay(stack, payment["address"], 4 * USDT)
    paid_in = block_of(stack, tx)
    make_final(stack)
    head = paid_in + 4
    rewind_cursor(head)  # as if the range had been (wrongly) answered empty
    assert get_payment(merchant, payment["id"])["status"] == "pending"

    # When an admin asks for a rescan of a range around it, in 2-block chunks
    config.scanner().max_blocks_per_query = 2
    try:
        reply = admin_call(
            "POST", "/admin/chain/rescan", {"from_block": paid_in - 3, "to_block": paid_in + 2}
        )
        assert reply.status == 202, reply.body
        for _ in range(6):
            scan()
    finally:
        config.scanner().max_blocks_per_query = 2000

    # Then the payment is credited, the queue is empty, and the cursor never moved back
    got = get_payment(merchant, payment["id"])
    assert got["status"] == "paid"
    assert [t["tx_hash"] for t in got["transactions"]] == [tx.lower()]
    assert system_repo.pending_rescans() == []
    assert (cursor() or 0) >= head

    # And a second rescan of the same range credits nothing twice
    admin_call("POST", "/admin/chain/rescan", {"from_block": paid_in - 3, "to_block": paid_in + 2})
    scan(3)
    again = get_payment(merchant, payment["id"])
    assert again["amount_received"] == "4" and len(again["transactions"]) == 1


def test_rescan_request_is_validated() -> None:
    assert (
        admin_call("POST", "/admin/chain/rescan", {"from_block": 10, "to_block": 5}).status == 422
    )
    assert (
        admin_call("POST", "/admin/chain/rescan", {"from_block": "1", "to_block": 5}).status == 422
    )
    too_long = {"from_block": 0, "to_block": 10_000_000}
    assert admin_call("POST", "/admin/chain/rescan", too_long).status == 422
