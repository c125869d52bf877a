"""AML screening on the local stack, over HTTP (docs/adr/0020): support lists a sender;
its payment is held and its funds are not available; a finance user releases it (paid
and credited); another of its payments is returned to it on chain."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import requests
from bscpay_merchant import Client
from eth_account import Account

from shared.local import chain
from shared.local.chain import DEPLOYER_PRIVATE_KEY
from tests.e2e.conftest import user_headers

pytestmark = pytest.mark.e2e

USDT = 10**18


def _call(
    stack: dict[str, Any], user: str, method: str, path: str, body: Any = None
) -> requests.Response:
    return requests.request(
        method,
        f"{stack['api_url']}{path}",
        json=body,
        headers=user_headers(stack, user),
        timeout=30,
    )


def _ok(response: requests.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def _until(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        current = fetch()
        if done(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s: {current}")
        time.sleep(0.5)


def test_a_listed_sender_is_held_released_by_finance_and_returned_on_chain(
    stack: dict[str, Any],
) -> None:
    rpc, token = stack["rpc_url"], stack["token_address"]
    # A merchant of its own (balances untouched by other tests) and a fresh sender
    shop = _ok(_call(stack, "admin", "POST", "/admin/merchants", {"name": "Screened"}), 201)
    client = Client(stack["api_url"], shop["api_key"]["id"], shop["api_key"]["secret"])
    sender = Account.create()
    chain.rpc_call(rpc, "anvil_setBalance", sender.address, hex(10 * 10**18))
    chain.mint(rpc, token, DEPLOYER_PRIVATE_KEY, sender.address, 100 * USDT)

    # support lists the sender
    listed = _call(
        stack,
        "support",
        "POST",
        "/admin/screening/blocklist",
        {"address": sender.address, "reason": "e2e: sanctions list match"},
    )
    entry = _ok(listed, 201)
    assert entry["created_by"] == f"admin:{stack['users']['support']['username']}"
    try:
        # When the listed sender pays a payment
        first = client.request("POST", "/v1/payments", {"amount": "6"})
        chain.transfer(rpc, token, sender.key.hex(), first["address"], 6 * USDT)

        # Then it is held, with the sender and its risk shown, and nothing is available
        held = _until(
            lambda: client.request("GET", f"/v1/payments/{first['id']}"),
            lambda p: p["status"] == "held",
        )
        [t] = held["transactions"]
        assert t["sender"] == sender.address.lower()
        assert t["risk"] == {"level": "severe", "source": "blocklist"}
        balance = client.request("GET", "/v1/balance")
        assert (balance["available"], balance["held"]) == ("0", "6")

        # When a finance user releases it
        released = _ok(_call(stack, "finance2", "POST", f"/admin/payments/{first['id']}/release"))

        # Then it is paid and credited
        assert released["status"] == "paid"
        assert client.request("GET", f"/v1/payments/{first['id']}")["status"] == "paid"
        balance = client.request("GET", "/v1/balance")
        assert (balance["available"], balance["held"]) == ("6", "0")

        # When the sender pays another payment, and finance returns it
        second = client.request("POST", "/v1/payments", {"amount": "8"})
        chain.transfer(rpc, token, sender.key.hex(), second["address"], 8 * USDT)
        _until(
            lambda: client.request("GET", f"/v1/payments/{second['id']}"),
            lambda p: p["status"] == "held",
        )
        before = chain.token_balance(rpc, token, sender.address)
        refund = _ok(_call(stack, "finance", "POST", f"/admin/payments/{second['id']}/return"), 201)
        assert refund["destination"].lower() == sender.address.lower()
        assert refund["gross"] == "8"

        # Then the refund is sent on chain: the sender's token balance goes up by its net
        done = _until(
            lambda: _ok(_call(stack, "finance", "GET", f"/admin/settlements/{refund['id']}")),
            lambda d: d["status"] in ("paid", "failed", "rejected"),
            timeout=180,
        )
        assert done["status"] == "paid", done
        received = chain.token_balance(rpc, token, sender.address) - before
        assert Decimal(received) / USDT == Decimal(refund["amount"]) > 0
        # and the merchant never had those funds
        balance = client.request("GET", "/v1/balance")
        assert (balance["available"], balance["held"], balance["pending_payout"]) == (
            "6",
            "0",
            "0",
        )
        # and the payment ends held for good (never open again), its funds returned
        over = client.request("GET", f"/v1/payments/{second['id']}")
        assert over["status"] == "held"
        assert [t["hold"] for t in over["transactions"]] == ["returned"]
    finally:
        _call(stack, "support", "DELETE", f"/admin/screening/blocklist/{sender.address}")
