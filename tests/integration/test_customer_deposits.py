"""Customer deposits through the scanner on a real local chain (issue 14 §2): seen,
final and credited once; a reorg that drops a deposit before finality announces
deposit.reversed and credits nothing; the same transaction re-included is one deposit."""

from __future__ import annotations

import pytest

from shared import ledger
from shared.dal import events as event_repo
from shared.local import chain
from shared.local.stack import LocalStack
from shared.models.domain import Event
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import USDT, make_final, merchant_call, scan
from tests.integration.test_reorgs import broadcast, receipt, signed_payment


def _customer(merchant: MerchantCreds, reference: str) -> dict[str, object]:
    reply = merchant_call(merchant, "POST", "/v1/customers", {"reference": reference})
    assert reply.status in (200, 201), reply.body
    return dict(reply.body)


def _deposit_events(merchant: MerchantCreds, customer_id: str) -> list[Event]:
    listed, _ = event_repo.list_events(merchant.merchant_id, 100, None, None, None)
    found = [event_repo.get_event(e.event_id) for e in listed]
    return sorted(
        (
            e
            for e in found
            if e is not None
            and e.type.startswith("deposit.")
            and e.data["object"]["customer"] == customer_id
        ),
        key=lambda e: e.created,
    )


def _available(merchant: MerchantCreds) -> int:
    return ledger.default().merchant_balance(merchant.merchant_id).available


def _deposits(merchant: MerchantCreds, customer_id: str) -> list[dict[str, object]]:
    reply = merchant_call(merchant, "GET", f"/v1/customers/{customer_id}/deposits")
    assert reply.status == 200, reply.body
    return list(reply.body["data"])


def test_a_deposit_is_credited_once_when_final(stack: LocalStack, merchant: MerchantCreds) -> None:
    customer = _customer(merchant, "it-final")
    before = _available(merchant)
    scan()
    raw = signed_payment(stack, str(customer["address"]), 6 * USDT)
    broadcast(stack, raw)
    assert scan().transfers_recorded == 1
    [pending] = _deposits(merchant, str(customer["id"]))
    assert pending["status"] == "pending"
    assert _available(merchant) == before  # nothing credited before finality
    make_final(stack)
    scan()
    scan()  # a second pass changes nothing
    [final] = _deposits(merchant, str(customer["id"]))
    assert final["status"] == "final" and final["amount"] == "6"
    assert _available(merchant) - before == 6 * USDT
    assert [e.type for e in _deposit_events(merchant, str(customer["id"]))] == ["deposit.received"]


@pytest.mark.parametrize("depth", [1, 2])
def test_a_reorg_that_drops_a_deposit_announces_deposit_reversed_and_credits_nothing(
    stack: LocalStack, merchant: MerchantCreds, depth: int
) -> None:
    customer = _customer(merchant, f"it-reorg-{depth}")
    before = _available(merchant)
    scan()
    raw = signed_payment(stack, str(customer["address"]), 3 * USDT)
    tx_hash, _ = broadcast(stack, raw)
    assert scan().transfers_recorded == 1
    if depth > 1:
        chain.mine(stack.info["rpc_url"], depth - 1)

    # When a reorg replaces the deposit's block without it
    chain.reorg(stack.info["rpc_url"], depth)
    assert receipt(stack, tx_hash) is None
    scan()

    # Then the deposit is reversed, announced, and nothing was credited
    [gone] = _deposits(merchant, str(customer["id"]))
    assert gone["status"] == "reversed"
    events = _deposit_events(merchant, str(customer["id"]))
    assert [e.type for e in events] == ["deposit.reversed"]
    assert events[0].data["object"]["tx_hash"] == tx_hash.lower()
    make_final(stack)
    scan()
    assert _available(merchant) == before

    # And the same transaction broadcast again is one deposit, credited once
    broadcast(stack, raw)
    scan()
    make_final(stack)
    scan()
    [again] = _deposits(merchant, str(customer["id"]))
    assert again["status"] == "final"
    assert _available(merchant) - before == 3 * USDT
    # (both may carry the same second: compare them as a set, each exactly once)
    assert sorted(e.type for e in _deposit_events(merchant, str(customer["id"]))) == [
        "deposit.received",
        "deposit.reversed",
    ]
