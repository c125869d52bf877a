"""The admin API (behind API Gateway's Cognito authorizer): merchants, API keys with
secrets shown once, revocation, and payments across merchants."""

from __future__ import annotations

import json

import pytest

from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    admin_call,
    as_admin,
    create_payment,
    make_final,
    merchant_call,
    pay,
    scan,
)


def new_merchant(name: str = "Admin Made Shop") -> tuple[dict, MerchantCreds]:  # type: ignore[type-arg]
    reply = admin_call("POST", "/admin/merchants", {"name": name})
    assert reply.status == 201, reply.body
    key = reply.body["api_key"]
    return reply.body, MerchantCreds(reply.body["id"], key["id"], key["secret"])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/payments", None),
        ("GET", "/admin/merchants", None),
        ("POST", "/admin/merchants", {"name": "Sneaky"}),
        ("POST", "/admin/merchants", {"bogus": True}),
    ],
)
@pytest.mark.parametrize("authorizer", [None, {"claims": {}}, {"claims": {"sub": ""}}])
def test_requests_without_admin_claims_are_refused(
    stack: LocalStack, method: str, path: str, body: object, authorizer: object
) -> None:
    # Given a request that did not pass the Cognito authorizer
    reply = admin_call(method, path, body, authorizer=authorizer)  # type: ignore[arg-type]

    # Then 401 in the documented error format, and nothing was created
    assert reply.status == 401, reply.body
    assert reply.error["type"] == "authentication_error"
    names = [m["name"] for m in admin_call("GET", "/admin/merchants?limit=100").body["data"]]
    assert "Sneaky" not in names


def test_created_merchant_gets_a_working_key_whose_secret_is_shown_once(
    stack: LocalStack,
) -> None:
    # Given an admin creating a merchant
    merchant, creds = new_merchant("Acme Coffee")

    # Then the answer carries the merchant and its first key with the secret
    assert merchant["id"].startswith("mer_")
    assert merchant["name"] == "Acme Coffee"
    assert creds.key_id.startswith("ak_")
    assert creds.secret.startswith("sk_")

    # And the secret signs requests
    assert merchant_call(creds, "GET", "/v1/payments").status == 200

    # But it never appears again: not in the merchant list, not in the key list
    listed = admin_call("GET", "/admin/merchants?limit=100")
    keys = admin_call("GET", f"/admin/merchants/{creds.merchant_id}/api_keys")
    assert creds.merchant_id in [m["id"] for m in listed.body["data"]]
    assert [k["id"] for k in keys.body["data"]] == [creds.key_id]
    for reply in (listed, keys):
        text = json.dumps(reply.body)
        assert creds.secret not in text
        assert "secret" not in text


def test_create_merchant_validates_its_body(stack: LocalStack) -> None:
    for body in ({}, {"name": ""}, {"name": 5}, {"name": "x", "extra": 1}):
        reply = admin_call("POST", "/admin/merchants", body)
        assert reply.status == 422, (body, reply.body)


def test_second_api_key_with_allowlist_then_revocation(stack: LocalStack) -> None:
    # Given a merchant, When an admin adds a key limited to a network
    _, first = new_merchant()
    reply = admin_call(
        "POST",
        f"/admin/merchants/{first.merchant_id}/api_keys",
        {"ip_allowlist": ["198.51.100.0/24"]},
    )
    assert reply.status == 201, reply.body
    assert reply.body["ip_allowlist"] == ["198.51.100.0/24"]
    assert reply.body["status"] == "pending_approval"
    second = MerchantCreds(first.merchant_id, reply.body["id"], reply.body["secret"])
    # (until a second admin approves it, it authenticates nothing)
    assert merchant_call(second, "GET", "/v1/payments", source_ip="198.51.100.9").status == 401
    key_path = f"/admin/merchants/{first.merchant_id}/api_keys/{second.key_id}"
    approved = admin_call("POST", f"{key_path}/approve", authorizer=as_admin("second-admin"))
    assert approved.status == 200, approved.body

    # Then the new key works from inside its network only
    inside = merchant_call(second, "GET", "/v1/payments", source_ip="198.51.100.9")
    outside = merchant_call(second, "GET", "/v1/payments", source_ip="192.0.2.1")
    assert (inside.status, outside.status) == (200, 403)

    # When the admin revokes it
    revoked = admin_call(
        "POST", f"/admin/merchants/{first.merchant_id}/api_keys/{second.key_id}/revoke"
    )
    assert revoked.status == 200, revoked.body
    assert revoked.body["status"] == "revoked"

    # Then it fails at once while the first key keeps working
    assert merchant_call(second, "GET", "/v1/payments", source_ip="198.51.100.9").status == 401
    assert merchant_call(first, "GET", "/v1/payments").status == 200
    keys = admin_call("GET", f"/admin/merchants/{first.merchant_id}/api_keys").body["data"]
    assert {k["id"]: k["status"] for k in keys} == {
        first.key_id: "active",
        second.key_id: "revoked",
    }


def test_key_cannot_be_revoked_through_another_merchant(stack: LocalStack) -> None:
    _, a = new_merchant()
    _, b = new_merchant()

    reply = admin_call("POST", f"/admin/merchants/{b.merchant_id}/api_keys/{a.key_id}/revoke")

    assert reply.status == 404, reply.body
    assert merchant_call(a, "GET", "/v1/payments").status == 200


def test_invalid_allowlist_and_unknown_merchant_are_refused(stack: LocalStack) -> None:
    _, creds = new_merchant()
    bad = admin_call(
        "POST", f"/admin/merchants/{creds.merchant_id}/api_keys", {"ip_allowlist": ["nope"]}
    )
    missing = admin_call("POST", "/admin/merchants/mer_doesnotexist/api_keys", {})
    assert bad.status == 422, bad.body
    assert missing.status == 404, missing.body


def test_admin_lists_payments_across_merchants(stack: LocalStack) -> None:
    # Given two merchants with a payment each
    _, a = new_merchant("Shop A")
    _, b = new_merchant("Shop B")
    pa = create_payment(a, "1.25")
    pb = create_payment(b, "2.5")

    # When the admin lists all payments, and one merchant's
    everything = admin_call("GET", "/admin/payments?limit=100")
    only_a = admin_call("GET", f"/admin/payments?merchant_id={a.merchant_id}")

    # Then the first shows both with their merchant, the second only A's
    assert everything.status == 200, everything.body
    by_id = {p["id"]: p for p in everything.body["data"]}
    assert by_id[pa["id"]]["merchant_id"] == a.merchant_id
    assert by_id[pb["id"]]["merchant_id"] == b.merchant_id
    assert by_id[pa["id"]]["amount"] == "1.25"
    assert [p["id"] for p in only_a.body["data"]] == [pa["id"]]


def test_admin_payment_list_pages_with_a_cursor(stack: LocalStack) -> None:
    _, creds = new_merchant()
    for i in range(3):
        create_payment(creds, str(i + 1))

    first = admin_call("GET", "/admin/payments?limit=2")
    after = first.body["data"][-1]["id"]
    second = admin_call("GET", f"/admin/payments?limit=2&starting_after={after}")

    assert first.body["has_more"] is True
    assert len(first.body["data"]) == 2
    first_ids = {p["id"] for p in first.body["data"]}
    assert first_ids.isdisjoint(p["id"] for p in second.body["data"])
    assert second.body["data"], "the second page continues the walk"


def test_one_payment_for_the_console_carries_its_transfers_and_events(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    created = create_payment(merchant, "2.00")
    pay(stack, created["address"], 2 * USDT)
    scan()
    make_final(stack)
    scan()

    viewer = as_admin("detail-viewer", ("viewer",))
    reply = admin_call("GET", f"/admin/payments/{created['id']}", authorizer=viewer)
    assert reply.status == 200, reply.body
    assert reply.body["merchant_id"] == merchant.merchant_id
    assert reply.body["status"] == "paid"
    assert [t["status"] for t in reply.body["transactions"]] == ["final"]
    assert {"payment.confirming", "payment.paid"} <= {e["type"] for e in reply.body["events"]}

    for missing in ("pay_00000000000000000000000000000000", "nonsense"):
        assert admin_call("GET", f"/admin/payments/{missing}", authorizer=viewer).status == 404
