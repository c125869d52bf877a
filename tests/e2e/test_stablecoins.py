"""USDC and FDUSD beside USDT, over HTTP on the local stack (issue 14 §3): a USDC payment
paid and swept, a look-alike USDC never credited, USDT sent to a USDC payment credited as
USDT and announced, and the balance per currency."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests
from bscpay_merchant import ApiError, Client

from shared.local import chain
from tests.e2e.conftest import WebhookReceiver, event_type, new_shop, until, user_headers

pytestmark = pytest.mark.e2e

UNIT = 10**18


def _balances(client: Client) -> dict[str, Decimal]:
    body = client.request("GET", "/v1/balance")
    return {b["currency"]: Decimal(b["available"]) for b in body["balances"]}


def _send(stack: dict[str, Any], symbol: str, to: str, units: int) -> str:
    return chain.transfer(
        stack["rpc_url"], stack["tokens"][symbol], stack["customer"]["private_key"], to, units
    )


def test_a_usdc_payment_is_paid_swept_and_credited_in_usdc(stack: dict[str, Any]) -> None:
    client = new_shop(stack, "USDC Shop")[1]
    assert set(_balances(client)) == {"USDT", "USDC", "FDUSD"}
    payment = client.request("POST", "/v1/payments", {"amount": "9.5", "currency": "USDC"})
    assert payment["currency"] == "USDC"
    assert payment["token_address"] == stack["tokens"]["USDC"]
    assert payment["payment_uri"].startswith(f"ethereum:{stack['tokens']['USDC']}@")

    _send(stack, "USDC", payment["address"], 95 * UNIT // 10)

    paid = until(
        lambda: (
            (p := client.request("GET", f"/v1/payments/{payment['id']}"))["status"] == "paid" and p
        ),
        90,
        "the USDC payment is paid",
    )
    assert paid["transactions"][0]["currency"] == "USDC"
    assert _balances(client) == {"USDT": 0, "USDC": Decimal("9.5"), "FDUSD": 0}
    # and its USDC leaves the deposit address for the hot wallet
    until(
        lambda: (
            chain.token_balance(stack["rpc_url"], stack["tokens"]["USDC"], payment["address"]) == 0
        ),
        90,
        "the USDC deposit is swept",
    )


def test_a_look_alike_usdc_is_never_credited(stack: dict[str, Any]) -> None:
    client = new_shop(stack, "Careful USDC Shop")[1]
    # A token with USDC's name, symbol and decimals at another address
    fake = chain.deploy_stable_token(stack["rpc_url"], "USDC", "USD Coin", 18)
    chain.mint(
        stack["rpc_url"], fake, chain.ISSUER_PRIVATE_KEY, stack["customer"]["address"], 100 * UNIT
    )
    payment = client.request("POST", "/v1/payments", {"amount": "5", "currency": "USDC"})
    chain.transfer(
        stack["rpc_url"], fake, stack["customer"]["private_key"], payment["address"], 5 * UNIT
    )
    # A real 1 USDC transfer to the same address afterwards shows the scanner got past it
    _send(stack, "USDC", payment["address"], UNIT)
    seen = until(
        lambda: (
            (p := client.request("GET", f"/v1/payments/{payment['id']}"))["transactions"]
            and p["amount_received"] == "1"
            and p
        ),
        90,
        "the real USDC transfer is final",
    )
    assert [t["currency"] for t in seen["transactions"]] == ["USDC"]
    assert seen["status"] not in ("paid", "overpaid")  # 1 of 5 USDC
    assert _balances(client)["USDC"] == Decimal("1")


def test_usdt_sent_to_a_usdc_payment_is_credited_as_usdt_and_announced(
    stack: dict[str, Any], receiver: WebhookReceiver
) -> None:
    client = new_shop(stack, "Mixed Shop")[1]
    client.request(
        "POST",
        "/v1/webhook_endpoints",
        {"url": receiver.url, "events": ["payment.other_currency_received", "payment.paid"]},
    )
    payment = client.request("POST", "/v1/payments", {"amount": "3", "currency": "USDC"})
    # When the customer sends 3 USDT (the wrong token) to the USDC payment
    tx_hash = _send(stack, "USDT", payment["address"], 3 * UNIT)
    deliveries = receiver.wait_for(
        lambda r: event_type(r) == "payment.other_currency_received", timeout=90
    )
    assert deliveries, "no payment.other_currency_received webhook"
    event = json.loads(deliveries[0].body)
    transfer = event["data"]["transfer"]
    assert (transfer["currency"], transfer["amount"], transfer["tx_hash"]) == (
        "USDT",
        "3",
        tx_hash.lower(),
    )
    # Then it is credited as USDT and never counted toward the payment
    seen = client.request("GET", f"/v1/payments/{payment['id']}")
    assert (seen["status"], seen["amount_received"], seen["amount_pending"]) == (
        "pending",
        "0",
        "0",
    )
    assert _balances(client) == {"USDT": Decimal("3"), "USDC": 0, "FDUSD": 0}
    # and the payment is still paid by its own token
    _send(stack, "USDC", payment["address"], 3 * UNIT)
    until(
        lambda: client.request("GET", f"/v1/payments/{payment['id']}")["status"] == "paid",
        90,
        "the USDC payment is paid",
    )
    assert _balances(client) == {"USDT": Decimal("3"), "USDC": Decimal("3"), "FDUSD": 0}
    # and both tokens leave the address
    rpc = stack["rpc_url"]
    until(
        lambda: (
            chain.token_balance(rpc, stack["tokens"]["USDT"], payment["address"]) == 0
            and chain.token_balance(rpc, stack["tokens"]["USDC"], payment["address"]) == 0
        ),
        120,
        "both tokens are swept",
    )


def test_an_unknown_currency_is_refused(stack: dict[str, Any]) -> None:
    client = new_shop(stack, "Picky Shop")[1]
    for currency in ("DAI", "usdc", "BUSD"):
        with pytest.raises(ApiError) as refused:
            client.request("POST", "/v1/payments", {"amount": "1", "currency": currency})
        assert 400 <= refused.value.status < 500
    priced = client.request(
        "POST", "/v1/payments", {"price": {"amount": "10", "currency": "EUR"}, "currency": "FDUSD"}
    )
    assert (priced["currency"], priced["amount"]) == ("FDUSD", "10.8")
    assert {s["pair"] for s in priced["quote"]["sources"]} == {"EUR/USD", "FDUSD/USD"}


def test_a_usdc_payment_is_refunded_and_paid_out_in_usdc(stack: dict[str, Any]) -> None:
    payer = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"  # anvil dev account #8 (public)
    settlement = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"  # anvil dev account #7 (public)
    rpc, usdc = stack["rpc_url"], stack["tokens"]["USDC"]
    api = stack["api_url"]
    created = requests.post(
        f"{api}/admin/merchants",
        json={"name": "USDC Payout Shop"},
        headers=user_headers(stack, "admin"),
        timeout=30,
    )
    shop = created.json()
    client = Client(api, shop["api_key"]["id"], shop["api_key"]["secret"])
    payment = client.request("POST", "/v1/payments", {"amount": "20", "currency": "USDC"})
    _send(stack, "USDC", payment["address"], 20 * UNIT)
    until(
        lambda: (
            client.request("GET", f"/v1/payments/{payment['id']}")["status"] == "paid"
            and chain.token_balance(rpc, usdc, payment["address"]) == 0
        ),
        120,
        "the USDC payment is paid and swept",
    )

    # A refund of a USDC payment goes back in USDC
    payer_before = chain.token_balance(rpc, usdc, payer)
    refund = client.request(
        "POST", f"/v1/payments/{payment['id']}/refunds", {"address": payer, "amount": "2"}
    )
    assert refund["currency"] == "USDC"
    done = until(
        lambda: (
            (r := client.request("GET", f"/v1/refunds/{refund['id']}"))["status"]
            in ("paid", "failed")
            and r
        ),
        90,
        "the refund is sent",
    )
    assert done["status"] == "paid", done
    assert chain.token_balance(rpc, usdc, payer) - payer_before == 2 * UNIT

    # and the rest of the USDC balance is paid out in USDC
    base = f"{api}/admin/merchants/{shop['id']}"
    requests.post(
        f"{base}/settlement",
        json={"address": settlement},
        headers=user_headers(stack, "admin"),
        timeout=10,
    ).raise_for_status()
    requests.post(
        f"{base}/settlement/confirm", headers=user_headers(stack, "admin2"), timeout=10
    ).raise_for_status()
    available = _balances(client)["USDC"]
    settlement_before = chain.token_balance(rpc, usdc, settlement)
    made = requests.post(
        f"{base}/payouts",
        json={"currency": "USDC"},
        headers=user_headers(stack, "finance"),
        timeout=30,
    )
    assert made.status_code == 201, made.text
    payout = made.json()
    assert (payout["currency"], Decimal(payout["gross"])) == ("USDC", available)
    paid = until(
        lambda: (
            (p := client.request("GET", f"/v1/settlements/{payout['id']}"))["status"]
            in ("paid", "failed")
            and p
        ),
        90,
        "the payout is sent",
    )
    assert paid["status"] == "paid", paid
    assert chain.token_balance(rpc, usdc, settlement) - settlement_before == int(
        Decimal(payout["amount"]) * UNIT
    )
    assert _balances(client)["USDC"] == 0
    # and the USDT side was never touched
    assert _balances(client)["USDT"] == 0
