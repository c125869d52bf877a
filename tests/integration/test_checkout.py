"""The hosted checkout's backend (issue 13): every payment carries its checkout_url and
the redirects a merchant gave; GET /pay/<id>/status tells the paying customer's page what
it needs and nothing merchant-private, is never cached, and is rate limited per client."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from shared import config
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    Reply,
    _reply,
    create_payment,
    get_payment,
    make_final,
    merchant_call,
    pay,
    scan,
)
from tests.support.events import Context, load

CONTRACT_KEYS = {
    "id",
    "object",
    "merchant_name",
    "status",
    "amount",
    "amount_received",
    "amount_remaining",
    "currency",
    "network",
    "chain_id",
    "token_address",
    "token_decimals",
    "address",
    "amount_units",
    "eip681",
    "confirmations",
    "expires_at",
    "created_at",
    "now",
    "success_url",
    "cancel_url",
    "price",  # a fiat-priced payment's price and locked rate (issue 14)
}

_next_ip = iter(range(1, 250))


def fresh_ip() -> str:
    """Each test polls from its own address: the rate limit counts per client IP."""
    return f"198.51.100.{next(_next_ip)}"


def status_call(payment_id: str, ip: str | None = None, method: str = "GET") -> Reply:
    from functions.checkout_api.handler import lambda_handler

    event = copy.deepcopy(load("checkout_api_get_status"))
    path = f"/pay/{payment_id}/status"
    event.update({"path": path, "httpMethod": method, "pathParameters": {"payment_id": payment_id}})
    event["requestContext"].update({"path": path, "httpMethod": method})
    event["requestContext"]["identity"]["sourceIp"] = ip or fresh_ip()
    return _reply(lambda_handler(event, Context()))


@pytest.fixture
def shop(stack: LocalStack) -> MerchantCreds:
    from shared.admin import merchants

    m, key, secret = merchants.create_merchant("Checkout Test Shop")
    return MerchantCreds(m.merchant_id, key.key_id, secret)


def test_every_payment_carries_its_checkout_url_and_redirects(
    stack: LocalStack, shop: MerchantCreds
) -> None:
    # Given a payment created with a success and a cancel URL
    created = create_payment(
        shop,
        "5",
        success_url="https://shop.example/thanks?order=A-1",
        cancel_url="https://shop.example/cart",
    )

    # When the merchant reads it back
    payment = get_payment(shop, created["id"])

    # Then both show the hosted checkout's URL on this stack and the redirects
    for body in (created, payment):
        assert body["checkout_url"] == f"{stack.info['api_url']}/pay/{created['id']}"
        assert body["success_url"] == "https://shop.example/thanks?order=A-1"
        assert body["cancel_url"] == "https://shop.example/cart"
    # and a payment without them says null
    plain = create_payment(shop, "1")
    assert plain["success_url"] is None and plain["cancel_url"] is None
    assert plain["checkout_url"].endswith(f"/pay/{plain['id']}")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("success_url", "javascript:alert(document.cookie)//x"),
        ("success_url", "data:text/html,<script>alert(1)</script>"),
        ("success_url", "ftp://shop.example/ok"),
        ("cancel_url", "https://user:pw@shop.example/cart"),
        ("cancel_url", "https:///no-host"),
        ("success_url", "https://shop.example/ok\r\nSet-Cookie: x=1"),
        ("success_url", "https://shop.example/" + "a" * 2048),
        ("success_url", 12345678),
        ("cancel_url", "https://shop.example:99999/cart"),
    ],
)
def test_a_bad_redirect_url_is_refused_with_422(
    stack: LocalStack, shop: MerchantCreds, field: str, value: Any
) -> None:
    reply = merchant_call(shop, "POST", "/v1/payments", {"amount": "1", field: value})
    assert reply.status == 422, reply.body
    assert reply.error["code"] == "validation_failed"
    assert reply.error.get("param") == field


def test_http_redirects_are_for_the_local_stack_only(
    stack: LocalStack, shop: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the local stack, an http URL (a shop on a developer's machine) is accepted
    local = merchant_call(
        shop, "POST", "/v1/payments", {"amount": "1", "success_url": "http://127.0.0.1:3000/ok"}
    )
    assert local.status == 201, local.body
    # When the deployment is not in local mode
    monkeypatch.setattr(config, "api", lambda: config.ApiSettings(local_mode=False))
    # Then https is required
    reply = merchant_call(
        shop, "POST", "/v1/payments", {"amount": "1", "success_url": "http://shop.example/ok"}
    )
    assert reply.status == 422 and reply.error["param"] == "success_url"


def test_the_status_shows_what_the_page_needs_and_nothing_private(
    stack: LocalStack, shop: MerchantCreds
) -> None:
    # Given a payment with an order id and metadata the customer must never see
    created = create_payment(
        shop,
        "12.5",
        order_id="ORDER-SECRET-77",
        metadata={"customer_email": "alice@private.example"},
        success_url="https://shop.example/thanks",
    )

    # When its checkout page asks for the status
    reply = status_call(created["id"])

    # Then it answers the contract's fields
    assert reply.status == 200, reply.body
    body = reply.body
    assert set(body) == CONTRACT_KEYS
    assert body["object"] == "checkout" and body["id"] == created["id"]
    assert body["merchant_name"] == "Checkout Test Shop"
    assert body["status"] == "pending"
    assert (body["amount"], body["amount_received"], body["amount_remaining"]) == (
        "12.5",
        "0",
        "12.5",
    )
    assert (body["currency"], body["network"]) == ("USDT", "BNB Smart Chain")
    assert body["chain_id"] == stack.info["chain_id"] and body["token_decimals"] == 18
    assert body["token_address"] == stack.info["token_address"]
    assert body["address"] == created["address"]
    assert body["amount_units"] == str(12_500_000_000_000_000_000)
    assert body["eip681"] == (
        f"ethereum:{stack.info['token_address']}@{stack.info['chain_id']}/transfer"
        f"?address={created['address']}&uint256=12500000000000000000"
    )
    assert body["confirmations"] is None
    assert body["expires_at"] == created["expires_at"]
    assert body["created_at"] == created["created_at"]
    assert abs(body["now"] - created["created_at"]) < 60
    assert body["success_url"] == "https://shop.example/thanks" and body["cancel_url"] is None
    # nothing merchant-private, anywhere in the body
    text = json.dumps(body)
    for private in (shop.merchant_id, "ORDER-SECRET-77", "alice@private.example", "metadata"):
        assert private not in text
    # and never cached
    assert reply.headers["Cache-Control"] == "no-store"


def test_the_status_follows_the_money_with_confirmations(
    stack: LocalStack, shop: MerchantCreds
) -> None:
    # Given a payment of 10 USDT and the scanner at the head
    created = create_payment(shop, "10")
    scan()

    # When the customer sends 4 USDT, seen but not final
    tx = pay(stack, created["address"], 4 * USDT)
    scan()
    reply = status_call(created["id"])

    # Then the page shows confirming, with progress, and 6 still missing
    body = reply.body
    assert body["status"] == "confirming", body
    assert body["amount_received"] == "4" and body["amount_remaining"] == "6"
    assert body["amount_units"] == str(6 * USDT)
    assert body["eip681"].endswith(f"&uint256={6 * USDT}")
    confirmations = body["confirmations"]
    assert confirmations is not None
    assert (
        0 <= confirmations["seen"] <= confirmations["required"] and confirmations["required"] >= 1
    )
    # the transaction itself (hash, sender) stays private
    assert tx.removeprefix("0x") not in json.dumps(body)
    assert stack.info["customer"]["address"].lower() not in json.dumps(body).lower()

    # When the funds are final and the rest arrives and is final too
    make_final(stack)
    scan()
    pay(stack, created["address"], 6 * USDT)
    make_final(stack)
    scan()

    # Then the page shows paid with nothing remaining
    body = status_call(created["id"]).body
    assert body["status"] == "paid", body
    assert (body["amount_received"], body["amount_remaining"], body["amount_units"]) == (
        "10",
        "0",
        "0",
    )
    assert body["confirmations"] is None


@pytest.mark.parametrize(
    "payment_id",
    [
        "pay_" + "0" * 32,  # well formed, unknown
        "nope",
        "pay_",
        "mer_0123456789abcdef",
        "pay_" + "a" * 3000,  # longer than any DynamoDB key
        "pay_%2e%2e%2fadmin",
        "pay_<script>",
        "%ZZ",
        "pay_\u00e9",
        "pay_1 2",
    ],
)
def test_unknown_or_malformed_ids_are_404(stack: LocalStack, payment_id: str) -> None:
    reply = status_call(payment_id)
    assert reply.status == 404, reply.body
    assert reply.error["type"] == "invalid_request_error"
    assert reply.headers["Cache-Control"] == "no-store"


def test_another_route_or_method_is_not_served(stack: LocalStack, shop: MerchantCreds) -> None:
    created = create_payment(shop, "1")
    assert status_call(created["id"], method="POST").status in (404, 405)
    assert status_call(created["id"], method="DELETE").status in (404, 405)


def test_polling_too_fast_is_429_with_retry_after(
    stack: LocalStack, shop: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a limit of 5 requests per minute per client
    monkeypatch.setattr(
        config, "checkout", lambda: config.CheckoutSettings(rate_limit=5, rate_window_s=60)
    )
    created = create_payment(shop, "1")
    ip, other_ip = fresh_ip(), fresh_ip()

    # When one client asks 5 times (unknown ids count too: probing is polling)
    answers = [status_call(created["id"], ip).status for _ in range(4)]
    answers.append(status_call("pay_" + "f" * 32, ip).status)
    # Then those are answered, and the 6th is refused with Retry-After
    assert answers == [200, 200, 200, 200, 404]
    refused = status_call(created["id"], ip)
    assert refused.status == 429, refused.body
    assert refused.error["type"] == "rate_limit_error"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["Cache-Control"] == "no-store"
    # while another client is still answered
    assert status_call(created["id"], other_ip).status == 200


def test_behind_a_proxy_the_viewer_address_is_counted(
    stack: LocalStack, shop: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given CloudFront in front: every request comes from one edge address, the viewer's
    # address is in CloudFront-Viewer-Address
    monkeypatch.setattr(
        config,
        "checkout",
        lambda: config.CheckoutSettings(rate_limit=2, client_ip_header="CloudFront-Viewer-Address"),
    )
    created = create_payment(shop, "1")
    edge = fresh_ip()

    def via_edge(viewer: str) -> int:
        from functions.checkout_api.handler import lambda_handler

        event = copy.deepcopy(load("checkout_api_get_status"))
        path = f"/pay/{created['id']}/status"
        event["path"] = event["requestContext"]["path"] = path
        event["requestContext"]["identity"]["sourceIp"] = edge
        event["headers"]["CloudFront-Viewer-Address"] = viewer
        event["multiValueHeaders"]["CloudFront-Viewer-Address"] = [viewer]
        return int(lambda_handler(event, Context())["statusCode"])

    # When two viewers behind the same edge poll
    first = [via_edge("203.0.113.41:50123") for _ in range(3)]
    second = via_edge("2001:db8::7:443")
    # Then each has their own budget
    assert first == [200, 200, 429]
    assert second == 200


def test_a_viewer_address_is_believed_only_from_our_cloudfront(
    stack: LocalStack, shop: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the origin secret CloudFront sends as X-Origin-Verify, in Secrets Manager
    from shared import aws
    from shared.aws import secrets as aws_secrets

    secret = aws.client("secretsmanager").create_secret(
        Name=f"origin-verify-{fresh_ip()}", SecretString="cf-" + "7" * 40
    )
    aws_secrets.forget()
    monkeypatch.setattr(
        config,
        "checkout",
        lambda: config.CheckoutSettings(
            rate_limit=2,
            client_ip_header="CloudFront-Viewer-Address",
            origin_secret_arn=secret["ARN"],
        ),
    )
    created = create_payment(shop, "1")
    caller = fresh_ip()

    def direct(viewer: str, verify: str | None = None) -> int:
        from functions.checkout_api.handler import lambda_handler

        event = copy.deepcopy(load("checkout_api_get_status"))
        path = f"/pay/{created['id']}/status"
        event["path"] = event["requestContext"]["path"] = path
        event["requestContext"]["identity"]["sourceIp"] = caller
        headers = {"CloudFront-Viewer-Address": viewer}
        if verify is not None:
            headers["X-Origin-Verify"] = verify
        for name, value in headers.items():
            event["headers"][name] = value
            event["multiValueHeaders"][name] = [value]
        return int(lambda_handler(event, Context())["statusCode"])

    # When one caller goes straight to the API, inventing a new viewer address (and a
    # wrong secret) every time
    spoofed = [direct(f"198.51.100.{n}:4000", verify="guess" if n % 2 else None) for n in range(3)]
    # Then it is counted by its own address: the third request is refused
    assert spoofed == [200, 200, 429]
    # While requests through CloudFront (the secret) are counted per viewer
    assert direct("203.0.113.99:1234", verify="cf-" + "7" * 40) == 200
    aws_secrets.forget()
