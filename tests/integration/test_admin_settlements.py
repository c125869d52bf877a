"""The admin's view of money going out: ``GET /admin/settlements`` lists every payout,
refund and cold move newest first, filterable by status, paged with a cursor."""

from __future__ import annotations

from typing import Any

from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import admin_call
from tests.integration.test_disbursements import (
    as_admin,
    drain_settlement_queue,
    paid,
    payout_settings,
    set_profile,
)

__all__ = ["payout_settings"]  # the fixture, used by name


def request_payout(merchant: MerchantCreds, amount: str) -> dict[str, Any]:
    path = f"/admin/merchants/{merchant.merchant_id}/payouts"
    reply = admin_call("POST", path, {"amount": amount}, authorizer=as_admin("ann"))
    assert reply.status == 201, reply.body
    return dict(reply.body)


def three_payouts(stack: LocalStack, merchant: MerchantCreds) -> list[dict[str, Any]]:
    """A queued, a pending and a rejected payout, oldest first."""
    paid(stack, merchant, "60")
    set_profile(merchant)
    queued = request_payout(merchant, "5")
    pending = request_payout(merchant, "25")
    rejected = request_payout(merchant, "21")
    path = f"/admin/settlements/{rejected['id']}/reject"
    reply = admin_call("POST", path, {"reason": "test"}, authorizer=as_admin("bob"))
    assert reply.status == 200, reply.body
    drain_settlement_queue()
    assert [queued["status"], pending["status"]] == ["queued", "pending_approval"]
    return [queued, pending, rejected]


def walk(path: str, page: int) -> list[dict[str, Any]]:
    """Every item of a list, following ``starting_after`` page by page."""
    items: list[dict[str, Any]] = []
    while True:
        cursor = f"&starting_after={items[-1]['id']}" if items else ""
        reply = admin_call("GET", f"{path}limit={page}{cursor}")
        assert reply.status == 200, reply.body
        assert len(reply.body["data"]) <= page
        items += reply.body["data"]
        if not reply.body["has_more"]:
            return items


def test_settlements_without_a_status_lists_every_status_newest_first(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    # Given a merchant with a queued, a pending and a rejected payout
    oldest, middle, newest = three_payouts(stack, merchant)

    # When an admin lists settlements without ?status=
    reply = admin_call("GET", "/admin/settlements?limit=100")

    # Then all three are there, whatever their status, newest first
    assert reply.status == 200, reply.body
    mine = [d for d in reply.body["data"] if d["merchant_id"] == merchant.merchant_id]
    assert [(d["id"], d["status"]) for d in mine] == [
        (newest["id"], "rejected"),
        (middle["id"], "pending_approval"),
        (oldest["id"], "queued"),
    ]
    created = [d["created_at"] for d in reply.body["data"]]
    assert created == sorted(created, reverse=True)


def test_settlements_are_filtered_by_status(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    # Given the three payouts
    _, pending, rejected = three_payouts(stack, merchant)

    # When listed with ?status=rejected, Then only rejected ones come back
    reply = admin_call("GET", "/admin/settlements?status=rejected&limit=100")
    assert reply.status == 200, reply.body
    assert {d["status"] for d in reply.body["data"]} == {"rejected"}
    ids = [d["id"] for d in reply.body["data"]]
    assert rejected["id"] in ids and pending["id"] not in ids


def test_the_whole_settlement_list_pages_with_a_cursor(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    # Given the three payouts among every other test's
    three = three_payouts(stack, merchant)

    # When the whole list is walked two at a time
    walked = walk("/admin/settlements?", page=2)

    # Then it is the one-page list in the same order, each item once
    whole = admin_call("GET", "/admin/settlements?limit=100").body
    assert not whole["has_more"], "more than 100 settlements: raise the limit of this test"
    assert [d["id"] for d in walked] == [d["id"] for d in whole["data"]]
    assert {d["id"] for d in three} <= {d["id"] for d in walked}
