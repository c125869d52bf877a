"""Fiat-priced payments over HTTP on the local stack (issue 14 §1): quotes from the
Chainlink-compatible feeds on anvil, confirmed by the second source; a stale feed or a
disagreeing source gives 503 ``price_unavailable`` with Retry-After, never a quote."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from bscpay_merchant import ApiError, Client

from shared.local import chain
from tests.e2e.conftest import new_shop, user_headers

pytestmark = pytest.mark.e2e


def _refusal(client: Client, body: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as refused:
        client.request("POST", "/v1/payments", body)
    return refused.value


@pytest.fixture
def rates(stack: dict[str, Any]) -> Iterator[str]:
    """The second source's control URL; every override and failure undone afterwards."""
    url = stack["rates_url"]
    yield url
    requests.post(f"{url}/status", json={"status": 200}, timeout=10)
    requests.post(
        f"{url}/overrides", json={pair: None for pair in stack["price_feeds"]}, timeout=10
    )


def test_a_eur_priced_payment_is_quoted_from_the_feeds_and_paid_exactly(
    stack: dict[str, Any],
) -> None:
    _, client = new_shop(stack, "Euro Shop")
    # When a merchant prices a payment at 19.99 EUR (feeds: EUR/USD 1.08, USDT/USD 1.00)
    payment = client.request(
        "POST", "/v1/payments", {"price": {"amount": "19.99", "currency": "EUR"}}
    )
    # Then its USDT amount is 19.99 x 1.08 and the quote says how
    assert payment["amount"] == "21.5892"
    quote = payment["quote"]
    assert quote["price"] == {"amount": "19.99", "currency": "EUR"}
    assert quote["rate"] == "1.08"
    assert quote["spread_bps"] == 0
    assert quote["expires_at"] == payment["expires_at"]
    assert quote["at"] <= payment["created_at"] + 1
    by_kind = {(s["type"], s["pair"]): s for s in quote["sources"]}
    assert set(by_kind) == {
        ("chainlink", "EUR/USD"),
        ("chainlink", "USDT/USD"),
        ("http", "EUR/USD"),
        ("http", "USDT/USD"),
    }
    assert by_kind[("chainlink", "EUR/USD")]["feed"] == stack["price_feeds"]["EUR/USD"]
    assert by_kind[("chainlink", "EUR/USD")]["value"] == "1.08"

    # and the rate stays locked: a feed moving later does not change the payment
    chain.set_price(stack["rpc_url"], stack["price_feeds"]["EUR/USD"], "1.10")
    try:
        # When the customer pays the quoted amount exactly
        chain.transfer(
            stack["rpc_url"],
            stack["token_address"],
            stack["customer"]["private_key"],
            payment["address"],
            int(Decimal(payment["amount"]) * 10**18),
        )
        deadline = time.monotonic() + 90
        seen = payment
        while seen["status"] != "paid" and time.monotonic() < deadline:
            time.sleep(0.3)
            seen = client.request("GET", f"/v1/payments/{payment['id']}")
        # Then it is paid, with the quote it was created with
        assert seen["status"] == "paid"
        assert seen["amount_received"] == "21.5892"
        assert seen["quote"] == quote
        # and a new payment is quoted at the new rate
        later = client.request(
            "POST", "/v1/payments", {"price": {"amount": "10", "currency": "EUR"}}
        )
        assert (later["amount"], later["quote"]["rate"]) == ("11", "1.1")
    finally:
        chain.set_price(stack["rpc_url"], stack["price_feeds"]["EUR/USD"], "1.08")


def test_usd_and_gbp_prices_and_the_merchants_spread(stack: dict[str, Any]) -> None:
    merchant_id, client = new_shop(stack, "Spread Shop")
    usd = client.request("POST", "/v1/payments", {"price": {"amount": "5", "currency": "USD"}})
    assert (usd["amount"], usd["quote"]["rate"]) == ("5", "1")
    assert [s["pair"] for s in usd["quote"]["sources"]] == ["USDT/USD", "USDT/USD"]

    # When an admin gives the merchant a 1 % spread
    changed = requests.post(
        f"{stack['api_url']}/admin/merchants/{merchant_id}",
        json={"price_spread_bps": 100},
        headers=user_headers(stack, "admin"),
        timeout=30,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["price_spread_bps"] == 100
    # Then its GBP price carries it: 1.27 x 1.01 = 1.2827; 3 GBP = 3.8481 USDT
    gbp = client.request("POST", "/v1/payments", {"price": {"amount": "3", "currency": "GBP"}})
    assert (gbp["amount"], gbp["quote"]["rate"], gbp["quote"]["spread_bps"]) == (
        "3.8481",
        "1.2827",
        100,
    )


def test_bad_prices_are_refused_with_a_clear_4xx(stack: dict[str, Any]) -> None:
    _, client = new_shop(stack, "Careful Shop")
    cases: list[dict[str, Any]] = [
        {"price": {"amount": "10", "currency": "JPY"}},  # no feed for it
        {"price": {"amount": "10", "currency": "USDT"}},  # not a fiat currency
        {"price": {"amount": "-1", "currency": "EUR"}},
        {"price": {"amount": "1.123456789", "currency": "EUR"}},  # too precise
        {"price": {"amount": "ten", "currency": "EUR"}},
        {"price": {"amount": "10", "currency": "EUR"}, "amount": "10"},  # both
        {"price": {"amount": 10, "currency": "EUR"}},  # a JSON number
        {},  # neither
    ]
    before = client.request("GET", "/v1/payments?limit=100")["data"]
    for body in cases:
        refused = _refusal(client, body)
        assert 400 <= refused.status < 500, (body, refused.body)
    assert client.request("GET", "/v1/payments?limit=100")["data"] == before


def test_a_stale_feed_gives_503_price_unavailable_with_retry_after(
    stack: dict[str, Any],
) -> None:
    _, client = new_shop(stack, "Stale Shop")
    feed = stack["price_feeds"]["EUR/USD"]
    # When the EUR/USD feed's latest round is two hours old (the local limit is one)
    chain.set_price(stack["rpc_url"], feed, "1.08", age_s=7200)
    try:
        refused = _refusal(client, {"price": {"amount": "19.99", "currency": "EUR"}})
        # Then no quote is made: 503 price_unavailable, and when to try again
        assert refused.status == 503
        assert refused.body["error"]["code"] == "price_unavailable"
        assert "stale" in refused.body["error"]["message"]
        assert refused.retry_after_s is not None and refused.retry_after_s > 0
        # and a USD price, which needs no EUR feed, still works
        client.request("POST", "/v1/payments", {"price": {"amount": "1", "currency": "USD"}})
    finally:
        chain.set_price(stack["rpc_url"], feed, "1.08")
    # Once the feed reports again, quotes resume
    again = client.request("POST", "/v1/payments", {"price": {"amount": "1", "currency": "EUR"}})
    assert again["amount"] == "1.08"


def test_a_disagreeing_or_silent_second_source_gives_503(stack: dict[str, Any], rates: str) -> None:
    _, client = new_shop(stack, "Doubtful Shop")
    # When the second source says EUR/USD is 1.20 while the feed says 1.08
    requests.post(f"{rates}/overrides", json={"EUR/USD": "1.20"}, timeout=10)
    refused = _refusal(client, {"price": {"amount": "10", "currency": "EUR"}})
    assert (refused.status, refused.body["error"]["code"]) == (503, "price_unavailable")
    assert "differ" in refused.body["error"]["message"]
    # A difference inside the configured 1 % is fine
    requests.post(f"{rates}/overrides", json={"EUR/USD": "1.085"}, timeout=10)
    assert (
        client.request("POST", "/v1/payments", {"price": {"amount": "10", "currency": "EUR"}})[
            "amount"
        ]
        == "10.8"
    )
    # When the second source fails, no quote is made either
    requests.post(f"{rates}/status", json={"status": 500}, timeout=10)
    refused = _refusal(client, {"price": {"amount": "10", "currency": "EUR"}})
    assert (refused.status, refused.body["error"]["code"]) == (503, "price_unavailable")
    # and token-priced payments never depend on prices
    assert client.request("POST", "/v1/payments", {"amount": "2"})["amount"] == "2"
