"""Paid funds do not stay in the deposit address: the settlement function sweeps them
to the hot wallet on the local stack within a minute of finality."""

from __future__ import annotations

import time
from typing import Any

import pytest
from bscpay_merchant import Client

from shared.local import chain

pytestmark = pytest.mark.e2e


def test_final_funds_are_swept_to_the_hot_wallet_within_a_minute(stack: dict[str, Any]) -> None:
    m = stack["merchant"]
    client = Client(stack["api_url"], m["api_key_id"], m["api_secret"])
    payment = client.request("POST", "/v1/payments", {"amount": "7"})
    rpc, token = stack["rpc_url"], stack["token_address"]
    chain.transfer(rpc, token, stack["customer"]["private_key"], payment["address"], 7 * 10**18)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        paid = client.request("GET", f"/v1/payments/{payment['id']}")["status"] == "paid"
        if paid and chain.token_balance(rpc, token, payment["address"]) == 0:
            break
        time.sleep(0.5)
    assert chain.token_balance(rpc, token, payment["address"]) == 0, "deposit was not swept"
    # The merchant's balance is a ledger fact, unchanged by where the funds sit on chain
    assert client.request("GET", "/v1/payments/" + payment["id"])["amount_received"] == "7"
