"""Money leaving the hot wallet on the local stack, over HTTP: a merchant refunds a
payer, an admin sets a settlement address and pays the balance out; the settlement
worker sends real transactions on anvil and the merchant gets signed webhooks."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
import requests
from bscpay_merchant import Client

from shared.local import chain
from tests.e2e.conftest import WebhookReceiver, admin_headers, event_type, user_headers

pytestmark = pytest.mark.e2e

PAYER = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"  # anvil dev account #8 (public)
SETTLEMENT = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"  # anvil dev account #7 (public)
USDT = 10**18


def _paid_and_swept(stack: dict[str, Any], client: Client, usdt: int) -> dict[str, Any]:
    """A paid payment whose deposit the settlement worker already swept."""
    payment = client.request("POST", "/v1/payments", {"amount": str(usdt)})
    rpc, token = stack["rpc_url"], stack["token_address"]
    chain.transfer(rpc, token, stack["customer"]["private_key"], payment["address"], usdt * USDT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        paid = client.request("GET", f"/v1/payments/{payment['id']}")["status"] == "paid"
        if paid and chain.token_balance(rpc, token, payment["address"]) == 0:
            return payment
        time.sleep(0.3)
    raise AssertionError("payment was not paid and swept in time")


def _wait(fetch: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = fetch()
        if current["status"] in ("paid", "failed", "rejected"):
            return dict(current)
        time.sleep(0.5)
    raise AssertionError(f"still {current['status']} after {timeout} s")


def test_refund_reaches_the_payer_and_the_merchant_is_told(
    stack: dict[str, Any], receiver: WebhookReceiver
) -> None:
    m = stack["merchant"]
    client = Client(stack["api_url"], m["api_key_id"], m["api_secret"])
    client.request(
        "POST",
        "/v1/webhook_endpoints",
        {"url": receiver.url, "events": ["refund.created", "refund.paid"]},
    )
    payment = _paid_and_swept(stack, client, 9)
    before = chain.token_balance(stack["rpc_url"], stack["token_address"], PAYER)

    refund = client.request(
        "POST",
        f"/v1/payments/{payment['id']}/refunds",
        {"address": PAYER, "amount": "3.5"},
        idempotency_key=f"refund-{payment['id']}",
    )

    assert refund["status"] == "queued"
    done = _wait(lambda: client.request("GET", f"/v1/refunds/{refund['id']}"))
    assert done["status"] == "paid", done
    received = chain.token_balance(stack["rpc_url"], stack["token_address"], PAYER) - before
    assert received == 35 * USDT // 10
    got = receiver.wait_for(lambda r: event_type(r) == "refund.paid", timeout=60)
    assert got, "no refund.paid webhook"
    listed = client.request("GET", f"/v1/payments/{payment['id']}/refunds")["data"]
    assert [r["id"] for r in listed] == [refund["id"]]


def test_admin_pays_out_the_balance_to_the_settlement_address(stack: dict[str, Any]) -> None:
    # Given a new merchant (its balance is this test's payment alone), paid and swept
    auth = admin_headers(stack)
    api = stack["api_url"]
    created = requests.post(
        f"{api}/admin/merchants", json={"name": "Payout Shop"}, headers=auth, timeout=10
    )
    assert created.status_code == 201, created.text
    shop = created.json()
    client = Client(api, shop["api_key"]["id"], shop["api_key"]["secret"])
    _paid_and_swept(stack, client, 12)
    base = f"{api}/admin/merchants/{shop['id']}"
    profile = requests.post(
        f"{base}/settlement", json={"address": SETTLEMENT}, headers=auth, timeout=10
    )
    assert profile.status_code == 200, profile.text
    before = chain.token_balance(stack["rpc_url"], stack["token_address"], SETTLEMENT)
    available = Decimal(client.request("GET", "/v1/balance")["available"])

    # a second admin confirms the address, and finance requests the payout
    confirmed = requests.post(
        f"{base}/settlement/confirm", headers=user_headers(stack, "admin2"), timeout=10
    )
    assert confirmed.status_code == 200, confirmed.text
    finance = user_headers(stack, "finance")
    created = requests.post(f"{base}/payouts", json={}, headers=finance, timeout=30)

    assert created.status_code == 201, created.text
    payout = created.json()
    assert Decimal(payout["gross"]) == available
    assert Decimal(payout["amount"]) == available - Decimal(payout["fee"]) - Decimal(
        payout["network_fee"]
    )
    done = _wait(lambda: client.request("GET", f"/v1/settlements/{payout['id']}"))
    assert done["status"] == "paid", done
    received = chain.token_balance(stack["rpc_url"], stack["token_address"], SETTLEMENT) - before
    assert received == int(Decimal(payout["amount"]) * USDT)
    balance = client.request("GET", "/v1/balance")
    assert (balance["available"], balance["pending_payout"]) == ("0", "0")
