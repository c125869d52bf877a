"""The admin control plane on the local stack, over HTTP with real Cognito tokens:
every admin route by every role, the review's drain scenario, the audit trail and its
verification, a suspended merchant, and a replayed merchant request."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import boto3
import pytest
import requests
from bscpay_merchant import ApiError, Client, sign_request

from shared import config, ids
from shared.admin import roles
from shared.local import admins, chain
from tests.e2e.conftest import user_headers

pytestmark = pytest.mark.e2e

PAYER = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"  # anvil dev account #8 (public)
SETTLEMENT = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"  # anvil dev account #7 (public)
USDT = 10**18
ROLE_USERS = ("viewer", "support", "finance", "admin")


def _call(
    stack: dict[str, Any], user: str | dict[str, str], method: str, path: str, body: Any = None
) -> requests.Response:
    headers = user_headers(stack, user) if isinstance(user, str) else user
    return requests.request(
        method, f"{stack['api_url']}{path}", json=body, headers=headers, timeout=30
    )


def _ok(response: requests.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def _until(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        current = fetch()
        if done(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s: {current}")
        time.sleep(0.3)


def _concrete(template: str) -> str:
    """A route template with ids that exist nowhere: no call of the matrix changes
    anything, whatever the role."""
    values = {
        "merchant_id": ids.new_id("mer"),
        "key_id": ids.new_id("ak"),
        "disbursement_id": ids.new_id("po"),
        "event_id": ids.new_id("evt"),
        "username": f"nobody-{uuid.uuid4().hex[:8]}@bscpay.local",
    }
    path = template
    for name, value in values.items():
        path = path.replace(f"<{name}>", value)
    return path


# Allowed calls that would change the caller's own session: checked by the role table
# test; here only their refusals are called.
SELF_CHANGING = {("POST", "/admin/me/sign_out")}


def test_every_admin_route_answers_each_role_as_the_role_table_says(
    stack: dict[str, Any],
) -> None:
    headers = {user: user_headers(stack, user) for user in ROLE_USERS}
    wrong: list[str] = []
    for rule in roles.RULES:
        path = _concrete(rule.path)
        for user in ROLE_USERS:
            allowed = user in {r.value for r in rule.roles}
            if allowed and (rule.method, rule.path) in SELF_CHANGING:
                continue
            body: dict[str, Any] | None = {} if rule.method == "POST" else None
            reply = _call(stack, headers[user], rule.method, path, body)
            code = reply.json().get("error", {}).get("code") if reply.content else None
            refused = reply.status_code == 403 and code == "forbidden_role"
            if reply.status_code >= 500 or allowed == refused:
                wrong.append(f"{user} {rule.method} {rule.path}: {reply.status_code} {code}")
            if refused:
                assert all(r.value in reply.json()["error"]["message"] for r in rule.roles)
    assert wrong == []


def _new_merchant(stack: dict[str, Any], name: str) -> tuple[dict[str, Any], Client]:
    shop = _ok(_call(stack, "admin", "POST", "/admin/merchants", {"name": name}), 201)
    assert shop["api_key"]["status"] == "active"  # the first key needs no approval
    return shop, Client(stack["api_url"], shop["api_key"]["id"], shop["api_key"]["secret"])


def _paid(stack: dict[str, Any], client: Client, usdt: int) -> dict[str, Any]:
    payment = client.request("POST", "/v1/payments", {"amount": str(usdt)})
    chain.transfer(
        stack["rpc_url"],
        stack["token_address"],
        stack["customer"]["private_key"],
        payment["address"],
        usdt * USDT,
    )
    return dict(
        _until(
            lambda: client.request("GET", f"/v1/payments/{payment['id']}"),
            lambda p: p["status"] == "paid",
        )
    )


def _user(stack: dict[str, Any], name: str, *groups: str) -> dict[str, str]:
    """A user of the local pool in ``groups``, signed in."""
    password = admins.add(stack, name, roles=list(groups))
    return {"Authorization": admins.id_token(stack, name, password)}


def test_one_admin_cannot_drain_a_merchant(stack: dict[str, Any]) -> None:
    # Given a merchant with a paid payment, and an insider who is both admin and finance
    shop, client = _new_merchant(stack, "Drain Target")
    payment = _paid(stack, client, 1500)
    insider = _user(stack, f"insider-{uuid.uuid4().hex[:6]}@bscpay.local", "admin", "finance")
    keys = f"/admin/merchants/{shop['id']}/api_keys"

    # When the insider mints a key, it waits for another admin and authenticates nothing
    key = _ok(_call(stack, insider, "POST", keys, {}), 201)
    assert key["status"] == "pending_approval"
    stolen = Client(stack["api_url"], key["id"], key["secret"])
    with pytest.raises(ApiError) as refused:
        stolen.request("GET", "/v1/balance")
    assert refused.value.status == 401

    # and the insider cannot approve it
    approve = f"{keys}/{key['id']}/approve"
    own = _call(stack, insider, "POST", approve)
    assert (own.status_code, own.json()["error"]["code"]) == (403, "four_eyes")

    # Once a second admin approved it, a refund made with it never passes its creator
    assert _ok(_call(stack, "admin2", "POST", approve))["status"] == "active"
    refund = stolen.request(
        "POST", f"/v1/payments/{payment['id']}/refunds", {"address": PAYER, "amount": "1200"}
    )
    assert refund["status"] == "pending_approval"  # above the daily refund threshold
    mine = _call(stack, insider, "POST", f"/admin/settlements/{refund['id']}/approve")
    assert (mine.status_code, mine.json()["error"]["code"]) == (403, "four_eyes")
    rejected = _call(
        stack, "finance", "POST", f"/admin/settlements/{refund['id']}/reject", {"reason": "drill"}
    )
    assert _ok(rejected)["status"] == "rejected"

    # The merchant was told of the key and its approval (never its secret)
    told = client.request("GET", "/v1/events?limit=20")["data"]
    kinds = [e["type"] for e in told]
    assert "api_key.created" in kinds and "api_key.approved" in kinds
    assert key["secret"] not in str(told)

    # The trail names who did what
    actions = {
        (r["action"], r["actor"]["label"]) for r in _trail(stack, f"&target=api_key:{key['id']}")
    }
    assert ("api_key.created", f"admin:{_username(insider)}") in actions
    assert ("api_key.approved", f"admin:{stack['users']['admin2']['username']}") in actions


def _trail(stack: dict[str, Any], query: str = "", pages: int = 20) -> list[dict[str, Any]]:
    """The newest audit records (at most ``pages`` pages of 100), newest first."""
    records: list[dict[str, Any]] = []
    after = ""
    for _ in range(pages):
        page = _ok(_call(stack, "viewer", "GET", f"/admin/audit?limit=100{query}{after}"))
        records += page["data"]
        if not page["has_more"]:
            break
        after = f"&starting_after={page['data'][-1]['id']}"
    return records


def _username(headers: dict[str, str]) -> str:
    import jwt

    return str(
        jwt.decode(headers["Authorization"], options={"verify_signature": False})[
            "cognito:username"
        ]
    )


def test_a_settlement_address_needs_a_second_admin_before_any_payout(
    stack: dict[str, Any],
) -> None:
    # Given a merchant with a balance and a new settlement address
    shop, client = _new_merchant(stack, "Address Shop")
    _paid(stack, client, 20)
    base = f"/admin/merchants/{shop['id']}"
    profile = _ok(_call(stack, "admin", "POST", f"{base}/settlement", {"address": SETTLEMENT}))
    assert profile["address_status"] == "pending_confirmation"

    # Then no payout goes to it, and its setter cannot confirm it
    early = _call(stack, "finance", "POST", f"{base}/payouts", {})
    assert early.status_code == 409, early.text
    own = _call(stack, "admin", "POST", f"{base}/settlement/confirm")
    assert (own.status_code, own.json()["error"]["code"]) == (403, "four_eyes")

    # When a second admin confirms it, finance pays out
    confirmed = _ok(_call(stack, "admin2", "POST", f"{base}/settlement/confirm"))
    assert confirmed["address_status"] == "confirmed"
    payout = _ok(_call(stack, "finance", "POST", f"{base}/payouts", {}), 201)
    done = _until(
        lambda: client.request("GET", f"/v1/settlements/{payout['id']}"),
        lambda d: d["status"] in ("paid", "failed", "rejected"),
    )
    assert done["status"] == "paid", done

    # and the trail has the address, its confirmation, the payout and the sweep, with actors
    trail = _trail(stack)
    seen = {
        (r["action"], r["actor"]["label"].split(":")[0])
        for r in trail
        if r["merchant_id"] == shop["id"]
    }
    sweeps = [r for r in trail if r["action"].startswith("sweep.")]
    assert sweeps and all(r["actor"]["label"] == "system:settlement" for r in sweeps)
    for expected in [
        ("merchant.created", "admin"),
        ("settlement.address_set", "admin"),
        ("settlement.address_confirmed", "admin"),
        ("payout.created", "admin"),
        ("payout.paid", "system"),
    ]:
        assert expected in seen, (expected, sorted(seen))


def test_a_suspended_merchant_cannot_write_but_its_payment_in_flight_is_paid(
    stack: dict[str, Any],
) -> None:
    # Given a merchant with an open payment
    shop, client = _new_merchant(stack, "Suspended Shop")
    payment = client.request("POST", "/v1/payments", {"amount": "7"})
    base = f"/admin/merchants/{shop['id']}"

    # When support suspends it
    suspended = _ok(_call(stack, "support", "POST", f"{base}/suspend", {"reason": "KYC review"}))
    assert suspended["status"] == "suspended"

    # Then its writes are refused, its reads work
    with pytest.raises(ApiError) as refused:
        client.request("POST", "/v1/payments", {"amount": "1"})
    assert refused.value.status == 403
    assert refused.value.body["error"]["code"] == "merchant_suspended"
    assert client.request("GET", f"/v1/payments/{payment['id']}")["status"] == "pending"

    # and the payment already in flight still becomes paid and credited
    chain.transfer(
        stack["rpc_url"],
        stack["token_address"],
        stack["customer"]["private_key"],
        payment["address"],
        7 * USDT,
    )
    _until(
        lambda: client.request("GET", f"/v1/payments/{payment['id']}"),
        lambda p: p["status"] == "paid",
    )
    balance = _until(
        lambda: client.request("GET", "/v1/balance"), lambda b: Decimal(b["available"]) > 0
    )
    assert Decimal(balance["available"]) > 0

    # When support resumes it, it writes again
    assert _ok(_call(stack, "support", "POST", f"{base}/resume"))["status"] == "active"
    assert client.request("POST", "/v1/payments", {"amount": "1"})["status"] == "pending"


def test_a_replayed_state_changing_request_is_refused(stack: dict[str, Any]) -> None:
    # Given one signed POST, accepted once
    shop, _ = _new_merchant(stack, "Replay Shop")
    key, secret = shop["api_key"]["id"], shop["api_key"]["secret"]
    body = b'{"amount": "3"}'
    timestamp = str(int(time.time()))
    headers = {
        "X-Api-Key": key,
        "X-Timestamp": timestamp,
        "X-Signature": sign_request(secret, timestamp, "POST", "/v1/payments", body),
        "Content-Type": "application/json",
    }
    url = f"{stack['api_url']}/v1/payments"
    first = requests.post(url, data=body, headers=headers, timeout=30)
    assert first.status_code == 201, first.text

    # When the same bytes are sent again
    again = requests.post(url, data=body, headers=headers, timeout=30)

    # Then they are refused and no second payment exists
    assert (again.status_code, again.json()["error"]["code"]) == (401, "replayed_request")
    client = Client(stack["api_url"], key, secret)
    assert len(client.request("GET", "/v1/payments?limit=10")["data"]) == 1


def test_the_audit_trail_verifies_and_an_edited_record_is_named(stack: dict[str, Any]) -> None:
    # Given a trail with records in it
    _new_merchant(stack, "Audit Shop")
    verified = _ok(_call(stack, "viewer", "GET", "/admin/audit/verify"))
    assert verified["ok"] is True and verified["checked"] > 0, verified
    newest = _ok(_call(stack, "viewer", "GET", "/admin/audit?limit=1"))["data"][0]

    # When someone edits one record directly in DynamoDB
    table = boto3.resource(
        "dynamodb",
        endpoint_url=stack["aws_endpoint_url"],
        region_name=stack["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).Table(config.aws().table_name("audit"))  # the stack runs in this process
    key = {"chain": newest["chain"], "seq": newest["seq"]}
    original = table.get_item(Key=key)["Item"]
    table.put_item(Item={**original, "action": "merchant.nothing_to_see"})
    try:
        # Then verification fails and names that record
        broken = _ok(_call(stack, "viewer", "GET", "/admin/audit/verify"))
        assert broken["ok"] is False
        assert broken["first_break"] == newest["id"]
    finally:
        table.put_item(Item=original)  # the session's other tests verify the trail too
    assert _ok(_call(stack, "viewer", "GET", "/admin/audit/verify"))["ok"] is True
