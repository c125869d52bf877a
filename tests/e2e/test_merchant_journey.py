"""A merchant's whole journey on the running local stack, over HTTP only."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest
import requests
from bscpay_merchant import ApiError, Client, verify_webhook

from shared.local import chain
from tests.e2e.conftest import WebhookReceiver, admin_headers, event_type

pytestmark = pytest.mark.e2e


def _client(stack: dict[str, Any]) -> Client:
    m = stack["merchant"]
    return Client(stack["api_url"], m["api_key_id"], m["api_secret"])


def _wait_status(client: Client, payment_id: str, wanted: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    payment: dict[str, Any] = {}
    while time.monotonic() < deadline:
        payment = client.request("GET", f"/v1/payments/{payment_id}")
        if payment["status"] == wanted:
            return payment
        time.sleep(0.2)
    raise AssertionError(f"payment stayed {payment.get('status')!r}, wanted {wanted!r}")


def test_customer_payment_becomes_paid_and_the_signed_webhook_verifies(
    stack: dict[str, Any], receiver: WebhookReceiver
) -> None:
    # Given a merchant with a webhook endpoint for payment events
    client = _client(stack)
    available_before = Decimal(client.request("GET", "/v1/balance")["available"])
    endpoint = client.request(
        "POST",
        "/v1/webhook_endpoints",
        {"url": receiver.url, "events": ["payment.confirming", "payment.paid"]},
    )
    assert endpoint["secret"].startswith("whsec_")
    # and a payment for 12.50 USDT
    payment = client.request(
        "POST", "/v1/payments", {"amount": "12.50", "order_id": "E2E-1"}, idempotency_key="e2e-1"
    )
    assert payment["status"] == "pending"
    assert payment["payment_uri"].startswith(f"ethereum:{stack['token_address']}@31337/transfer")

    # When the customer transfers exactly 12.50 USDT on chain
    tx_hash = chain.transfer(
        stack["rpc_url"],
        stack["token_address"],
        stack["customer"]["private_key"],
        payment["address"],
        1250 * 10**16,
    )

    # Then the payment becomes paid once the block is final
    paid = _wait_status(client, payment["id"], "paid", timeout=90)
    assert paid["amount_received"] == "12.5"
    assert paid["amount_pending"] == "0"
    assert [t["tx_hash"] for t in paid["transactions"]] == [tx_hash.lower()]
    assert paid["transactions"][0]["status"] == "final"
    # and the final funds were credited to the merchant's balance, exactly once
    balance = client.request("GET", "/v1/balance")
    assert Decimal(balance["available"]) - available_before == Decimal("12.5")

    # and a payment.paid webhook arrives, signed with the endpoint secret
    deliveries = receiver.wait_for(lambda r: event_type(r) == "payment.paid", timeout=60)
    assert deliveries, "no payment.paid webhook arrived"
    delivery = deliveries[0]
    event = verify_webhook(
        delivery.body, delivery.headers["Bscpay-Signature"], [endpoint["secret"]]
    )
    assert event["id"].startswith("evt_")
    assert event["data"]["object"]["id"] == payment["id"]
    assert event["data"]["object"]["status"] == "paid"
    # and a tampered body or a wrong secret does not verify
    with pytest.raises(Exception, match="signature"):
        verify_webhook(
            delivery.body + b" ", delivery.headers["Bscpay-Signature"], [endpoint["secret"]]
        )
    with pytest.raises(Exception, match="signature"):
        verify_webhook(delivery.body, delivery.headers["Bscpay-Signature"], ["whsec_wrong"])


def test_idempotent_create_replays_and_conflicts(stack: dict[str, Any]) -> None:
    client = _client(stack)
    first = client.request("POST", "/v1/payments", {"amount": "1"}, idempotency_key="same-key")
    again = client.request("POST", "/v1/payments", {"amount": "1"}, idempotency_key="same-key")
    assert (again["id"], again["address"]) == (first["id"], first["address"])
    with pytest.raises(ApiError) as conflict:
        client.request("POST", "/v1/payments", {"amount": "2"}, idempotency_key="same-key")
    assert conflict.value.status == 409
    assert conflict.value.body["error"]["code"] == "idempotency_conflict"


def test_unsigned_and_badly_signed_requests_are_refused(stack: dict[str, Any]) -> None:
    response = requests.get(f"{stack['api_url']}/v1/payments", timeout=30)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    bad = Client(stack["api_url"], stack["merchant"]["api_key_id"], "sk_not_the_secret")
    with pytest.raises(ApiError) as refused:
        bad.request("GET", "/v1/payments")
    assert refused.value.status == 401


def test_admin_console_requires_a_cognito_token(stack: dict[str, Any]) -> None:
    # Without a token API Gateway answers 401 before the function runs
    assert requests.get(f"{stack['api_url']}/admin/merchants", timeout=30).status_code == 401
    forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    headers = {"Authorization": forged}
    assert (
        requests.get(f"{stack['api_url']}/admin/merchants", headers=headers, timeout=30).status_code
        == 401
    )

    # With the admin's ID token from Cognito the console works
    auth = admin_headers(stack)
    created = requests.post(
        f"{stack['api_url']}/admin/merchants", json={"name": "E2E Shop"}, headers=auth, timeout=10
    )
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["api_key"]["secret"]
    listed = requests.get(f"{stack['api_url']}/admin/merchants?limit=100", headers=auth, timeout=30)
    assert listed.status_code == 200
    assert body["id"] in {m["id"] for m in listed.json()["data"]}
    assert secret not in listed.text  # a secret is shown once

    # The new merchant's key works, and stops working the moment it is revoked
    client = Client(stack["api_url"], body["api_key"]["id"], secret)
    assert client.request("GET", "/v1/payments")["data"] == []
    revoked = requests.post(
        f"{stack['api_url']}/admin/merchants/{body['id']}/api_keys/{body['api_key']['id']}/revoke",
        headers=auth,
        timeout=30,
    )
    assert revoked.status_code == 200
    with pytest.raises(ApiError) as refused:
        client.request("GET", "/v1/payments")
    assert refused.value.status == 401
    payments = requests.get(f"{stack['api_url']}/admin/payments", headers=auth, timeout=30)
    assert payments.status_code == 200
    assert json.loads(payments.text)["object"] == "list"
