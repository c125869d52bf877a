"""Per-API-key request budgets (issue 15 §3, docs/adr/0033): a merchant's own budget set
by an admin, 429 ``rate_limited`` with ``Retry-After`` past it, nothing done by a refused
request, other keys untouched, and the small budget of webhook redeliveries and tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from shared.admin import merchants
from shared.api import budgets
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import Reply, admin_call, as_admin, create_endpoint, merchant_call

WINDOW = budgets.WINDOW_S


def set_budget(merchant_id: str, per_minute: int | None) -> Reply:
    reply = admin_call(
        "POST", f"/admin/merchants/{merchant_id}", {"rate_limit_per_minute": per_minute}
    )
    budgets.overrides._seen.clear()  # this process's cache: as a new container would read
    return reply


def within_one_window(requests: Callable[[], list[Reply]]) -> list[Reply]:
    """Run ``requests`` so that all of them fall in one budget window (a run that
    straddles a minute boundary is repeated: the count starts again at a boundary)."""
    for _ in range(3):
        if time.time() % WINDOW > WINDOW - 10:  # too close to the boundary: wait it out
            time.sleep(WINDOW - time.time() % WINDOW + 0.05)
        start = int(time.time()) // WINDOW
        replies = requests()
        if int(time.time()) // WINDOW == start:
            return replies
    raise AssertionError("three runs in a row straddled a window boundary")


def test_a_key_over_its_merchants_budget_gets_429_with_retry_after(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a merchant whose keys may make 3 requests a minute
    reply = set_budget(merchant.merchant_id, 3)
    assert reply.status == 200, reply.body
    assert reply.body["rate_limit_per_minute"] == 3
    other, other_key, other_secret = merchants.create_merchant("Unthrottled Shop")
    neighbour = MerchantCreds(other.merchant_id, other_key.key_id, other_secret)

    # When one of its keys makes a fourth request within the minute (a payment create)
    def burst() -> list[Reply]:
        reads = [merchant_call(merchant, "GET", "/v1/payments?limit=1") for _ in range(3)]
        return [*reads, merchant_call(merchant, "POST", "/v1/payments", {"amount": "1"})]

    replies = within_one_window(burst)

    # Then the first three pass and the fourth is 429 rate_limited with Retry-After
    assert [r.status for r in replies[:3]] == [200, 200, 200], [r.body for r in replies]
    refused = replies[3]
    assert refused.status == 429, refused.body
    assert refused.error["code"] == "rate_limited"
    assert refused.error["type"] == "rate_limit_error"
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW
    # And the refused create did nothing
    listed = merchant_call(merchant, "GET", "/v1/payments?limit=10")
    assert listed.status == 429  # still over budget in this window
    # And another merchant's key is not affected
    assert merchant_call(neighbour, "GET", "/v1/payments?limit=1").status == 200


def test_a_refused_request_creates_nothing(stack: LocalStack, merchant: MerchantCreds) -> None:
    set_budget(merchant.merchant_id, 1)

    def two_creates() -> list[Reply]:
        return [
            merchant_call(merchant, "POST", "/v1/payments", {"amount": "1", "order_id": f"o-{i}"})
            for i in range(2)
        ]

    first, second = within_one_window(two_creates)
    assert first.status == 201, first.body
    assert second.status == 429, second.body
    set_budget(merchant.merchant_id, 1000)
    listed = merchant_call(merchant, "GET", "/v1/payments?limit=10")
    assert [p["order_id"] for p in listed.body["data"]] == ["o-0"]


def test_resetting_the_budget_returns_to_the_deployment_default_and_is_audited(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    set_budget(merchant.merchant_id, 5)
    reply = set_budget(merchant.merchant_id, None)
    assert reply.status == 200, reply.body
    assert reply.body["rate_limit_per_minute"] is None
    assert budgets.budget_of(merchant.merchant_id) == 100_000  # the test deployment's default
    records = admin_call("GET", f"/admin/audit?target=merchant:{merchant.merchant_id}").body
    changes = [
        (r["before"], r["after"]) for r in records["data"] if r["action"] == "merchant.updated"
    ]
    assert ({"rate_limit_per_minute": 5}, {"rate_limit_per_minute": None}) in changes


@pytest.mark.parametrize(
    "body",
    [
        {"rate_limit_per_minute": 0},
        {"rate_limit_per_minute": -1},
        {"rate_limit_per_minute": "60"},
        {"rate_limit_per_minute": 100_001},
        {"rate_limit_per_minute": 1.5},
        {},
        {"underpay_tolerance_bps": None},
    ],
)
def test_a_bad_budget_is_refused_and_changes_nothing(
    stack: LocalStack, merchant: MerchantCreds, body: dict[str, object]
) -> None:
    set_budget(merchant.merchant_id, 7)
    reply = admin_call("POST", f"/admin/merchants/{merchant.merchant_id}", body)
    assert reply.status == 422, reply.body
    got = admin_call("GET", "/admin/merchants?limit=100").body["data"]
    mine = next(m for m in got if m["id"] == merchant.merchant_id)
    assert mine["rate_limit_per_minute"] == 7
    assert mine["underpay_tolerance_bps"] == 0


def test_only_support_and_admin_change_a_budget(stack: LocalStack, merchant: MerchantCreds) -> None:
    path = f"/admin/merchants/{merchant.merchant_id}"
    body = {"rate_limit_per_minute": 9}
    for role in ("viewer", "finance"):
        refused = admin_call("POST", path, body, authorizer=as_admin(f"rl-{role}", (role,)))
        assert refused.status == 403, refused.body
    done = admin_call("POST", path, body, authorizer=as_admin("rl-support", ("support",)))
    assert done.status == 200, done.body


def test_webhook_tests_and_redeliveries_have_their_own_small_budget(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BSCPAY_WEBHOOK_ACTION_LIMIT_PER_MINUTE", "2")
    from shared import config

    config.reset()
    try:
        endpoint = create_endpoint(merchant, "http://127.0.0.1:9/hook", ["payment.paid"])
        path = f"/v1/webhook_endpoints/{endpoint['id']}/test"

        def three_tests() -> list[Reply]:
            return [merchant_call(merchant, "POST", path) for _ in range(3)]

        replies = within_one_window(three_tests)
        assert [r.status for r in replies] == [202, 202, 429], [r.body for r in replies]
        assert replies[2].error["code"] == "rate_limited"
        assert "webhook" in replies[2].error["message"]
        # reads are not part of that budget
        deliveries = f"/v1/webhook_endpoints/{endpoint['id']}/deliveries"
        assert merchant_call(merchant, "GET", deliveries).status == 200
    finally:
        monkeypatch.undo()
        config.reset()
