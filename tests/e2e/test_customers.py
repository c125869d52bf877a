"""Customer deposit addresses over HTTP on the local stack (issue 14 §2): one permanent
address per customer reference, three deposits -> three deposit.received and a balance
that is their sum, every deposit swept from the same address."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from bscpay_merchant import ApiError, verify_webhook

from shared.local import chain
from tests.e2e.conftest import WebhookReceiver, event_type, new_shop, until

pytestmark = pytest.mark.e2e

UNIT = 10**18


def test_a_customer_address_takes_three_deposits(
    stack: dict[str, Any], receiver: WebhookReceiver
) -> None:
    client = new_shop(stack, "Top-up Shop")[1]
    endpoint = client.request(
        "POST",
        "/v1/webhook_endpoints",
        {"url": receiver.url, "events": ["deposit.received", "deposit.reversed"]},
    )
    # Given a customer for the merchant's user-42
    customer = client.request("POST", "/v1/customers", {"reference": "user-42"})
    assert customer["id"].startswith("cus_") and customer["object"] == "customer"
    assert (customer["reference"], customer["currency"]) == ("user-42", "USDT")
    # and the same reference always gives the same customer and address (200)
    again = client.request("POST", "/v1/customers", {"reference": "user-42"})
    assert again == customer
    assert client.request("GET", f"/v1/customers/{customer['id']}") == customer

    # When the customer deposits 1, 2.5 and 4 USDT to the permanent address
    sent = [UNIT, 25 * UNIT // 10, 4 * UNIT]
    hashes = [
        chain.transfer(
            stack["rpc_url"],
            stack["token_address"],
            stack["customer"]["private_key"],
            customer["address"],
            amount,
        ).lower()
        for amount in sent
    ]

    # Then three deposit.received events arrive, signed, one per transfer
    def received() -> list[dict[str, Any]]:
        return [
            verify_webhook(r.body, r.headers["Bscpay-Signature"], [endpoint["secret"]])
            for r in receiver.received
            if event_type(r) == "deposit.received"
        ]

    events = until(lambda: len(received()) >= 3 and received(), 120, "three deposit.received")
    objects = [e["data"]["object"] for e in events]
    assert sorted(o["tx_hash"] for o in objects) == sorted(hashes)
    for o in objects:
        assert o["object"] == "deposit" and o["id"].startswith("dep_")
        assert (o["customer"], o["reference"], o["currency"]) == (customer["id"], "user-42", "USDT")
        assert o["status"] == "final"
        assert o["sender"].lower() == stack["customer"]["address"].lower()
        assert isinstance(o["log_index"], int)
    assert sorted(Decimal(o["amount"]) for o in objects) == [
        Decimal("1"),
        Decimal("2.5"),
        Decimal("4"),
    ]
    # and the merchant's balance is their sum
    balance = client.request("GET", "/v1/balance")
    assert Decimal(balance["available"]) == Decimal("7.5")
    # and the deposits are listed for the customer
    listed = client.request("GET", f"/v1/customers/{customer['id']}/deposits")["data"]
    assert sorted(d["id"] for d in listed) == sorted(o["id"] for o in objects)
    assert {d["status"] for d in listed} == {"final"}
    # and the address is swept, and stays the customer's
    until(
        lambda: (
            chain.token_balance(stack["rpc_url"], stack["token_address"], customer["address"]) == 0
        ),
        120,
        "the deposits are swept",
    )
    assert (
        client.request("POST", "/v1/customers", {"reference": "user-42"})["address"]
        == (customer["address"])
    )
    assert len(received()) == 3  # each deposit announced once


def test_customers_are_listed_and_private_to_their_merchant(stack: dict[str, Any]) -> None:
    shop, other = new_shop(stack, "Listing Shop")[1], new_shop(stack, "Other Shop")[1]
    made = [
        shop.request("POST", "/v1/customers", {"reference": f"u-{i}", "currency": "USDC"})
        for i in range(3)
    ]
    assert len({c["address"] for c in made}) == 3
    page = shop.request("GET", "/v1/customers?limit=2")
    assert [c["id"] for c in page["data"]] == [made[2]["id"], made[1]["id"]]
    assert page["has_more"] is True
    rest = shop.request("GET", f"/v1/customers?limit=2&starting_after={made[1]['id']}")
    assert [c["id"] for c in rest["data"]] == [made[0]["id"]] and rest["has_more"] is False
    # Another merchant cannot see them, and its own "u-0" is another customer
    with pytest.raises(ApiError) as hidden:
        other.request("GET", f"/v1/customers/{made[0]['id']}")
    assert hidden.value.status == 404
    theirs = other.request("POST", "/v1/customers", {"reference": "u-0"})
    assert theirs["address"] != made[0]["address"]


def test_bad_customer_requests_are_4xx_and_change_nothing(stack: dict[str, Any]) -> None:
    client = new_shop(stack, "Strict Customer Shop")[1]
    client.request("POST", "/v1/customers", {"reference": "kept", "currency": "USDT"})
    for body in (
        {},
        {"reference": ""},
        {"reference": "x" * 129},
        {"reference": "has space"},
        {"reference": "ok", "currency": "DAI"},
        {"reference": 42},
        {"reference": "kept", "currency": "USDC"},  # exists with USDT: 409
    ):
        with pytest.raises(ApiError) as refused:
            client.request("POST", "/v1/customers", body)
        assert 400 <= refused.value.status < 500, (body, refused.value.body)
    listed = client.request("GET", "/v1/customers?limit=100")["data"]
    assert [c["reference"] for c in listed] == ["kept"]
    for path in ("/v1/customers/cus_nothere", "/v1/customers/pay_123/deposits"):
        with pytest.raises(ApiError) as missing:
            client.request("GET", path)
        assert missing.value.status in (400, 404, 422)
    assert json.dumps(listed)  # serializable, nothing leaked
