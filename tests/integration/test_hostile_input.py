"""Never a 5xx for bad input, never a stack trace (DESIGN §3): every hostile request
below, to the merchant API and to the admin API, gets a 4xx (or a harmless 2xx) in
the documented error format."""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    Reply,
    admin_call,
    call,
    create_payment,
    merchant_call,
    merchant_event,
)

HUGE = "9" * 200_000
DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"amount": "1", "metadata": ' + '{"a": ' * 5_000 + '"x"' + "}" * 5_000 + "}"

BODIES: list[Any] = [
    {"amount": HUGE},
    {"amount": "1", "order_id": HUGE},
    {"amount": "1", "metadata": {"k": HUGE}},
    {"amount": "1", "metadata": {HUGE: "v"}},
    {"amount": "\u0661\u0662"},
    {"amount": "12.5\u00a0"},
    {"amount": "\U0001f4b0"},
    {"amount": "1", "order_id": "\ud800"},  # lone surrogate
    {"amount": "1", "order_id": "A\x00B"},
    {"amount": None},
    {"amount": True},
    {"amount": [], "currency": {}},
    {"amount": {"$gt": ""}},
    {"amount": "1", "expires_in": 10**30},
    {"amount": "1", "expires_in": -1},
    {"amount": "1", "expires_in": 1.5},
    {"amount": "NaN"},
    {"__proto__": {"admin": True}},
    {},
    [],
    None,
    0,
    "null",
    "",
    " ",
    "\x00",
    "\ufeff{}",
    '{"amount": "1", "amount": "2"}',
    '{"amount": NaN}',
    '{"amount": Infinity}',
    '{"amount": 1e999}',
    '{"amount": "1"',
    "{" * 10_000,
    DEEP,
    DEEP_OBJECT,
    "\xff\xfe",
]

PATHS = [
    "/v1/payments/../../admin/merchants",
    "/v1/payments/..%2F..%2Fadmin",
    "/v1/payments/%00",
    "/v1/payments/pay_\x00",
    "/v1/payments/pay_" + "a" * 5_000,
    "/v1/payments/" + "\u202e" * 100,
    "/v1/payments/pay_'; DROP TABLE payments;--",
    "/v1/payments/pay_x/cancel/extra",
    "/v1/payments//",
    "/v1/./payments",
    "/v1/webhook_endpoints/" + "w" * 3_000,
    "/v1/events/evt_" + "e" * 3_000,
    "/v1/events?starting_after=evt_" + "e" * 3_000,
    "/admin/merchants",
    "/v2/payments",
    "/",
    "",
]

QUERIES = [
    "limit=-1",
    "limit=abc",
    "limit=0",
    "limit=1e3",
    "limit=999999999999999999999999",
    "limit=\u00b2",  # a superscript two: str.isdigit() says yes, int() says no
    "limit=\u0661",
    "limit=",
    "limit=1&limit=2",
    "status=" + "x" * 10_000,
    "status=paid%00",
    "status=\u0000",
    "starting_after=../../etc/passwd",
    "starting_after=pay_%00",
    "starting_after=pay_" + "a" * 60,
    "starting_after=" + "a" * 5_000,
    "starting_after=%F0%9F%92%B0",
    "type=payment.paid&payment_id=" + "p" * 3_000,
    "%ZZ=%ZZ",
    "a" * 10_000,
]

HEADERS = [
    {"X-Timestamp": "\u00b2"},
    {"X-Timestamp": "1" * 400},
    {"X-Timestamp": "-1"},
    {"X-Timestamp": "\u0661\u0667\u0660\u0660"},
    {"X-Signature": "\u00e9" * 64},
    {"X-Signature": "Z" * 64},
    {"X-Signature": ""},
    {"X-Signature": "a" * 100_000},
    {"X-Api-Key": "ak_" + "\u00e9" * 10},
    {"X-Api-Key": "a" * 100_000},
    {"X-Api-Key": ""},
    {"Idempotency-Key": "k" * 100_000},
    {"Idempotency-Key": ""},
    {"Idempotency-Key": "\u00e9\x00"},
]


@pytest.fixture(autouse=True)
def lambda_recursion_limit() -> Iterator[None]:
    """The merchant API Lambda runs at Python's default recursion limit (it never imports
    web3). This test process imported web3, whose py_ecc raises the limit to 100000, and
    at that limit a deeply nested body overflows the C stack instead of raising."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(previous)


def problem(reply: Reply) -> str | None:
    """Why this answer breaks the contract, or None when it is fine."""
    if reply.status >= 500:
        return f"HTTP {reply.status}: {reply.body}"
    if reply.status >= 400:
        try:
            reply.error  # asserts the documented error shape
        except AssertionError:
            return f"HTTP {reply.status} without the error format: {reply.body!r:.200}"
        if "Traceback" in json.dumps(reply.body):
            return "stack trace in the response"
    return None


def assert_all_handled(results: list[tuple[str, Reply]]) -> None:
    failures = [f"{what[:150]!r}: {why}" for what, r in results if (why := problem(r))]
    assert not failures, "\n".join(failures)


def test_hostile_bodies_never_cause_a_server_error(merchant: MerchantCreds) -> None:
    # Given correctly signed requests carrying hostile bodies
    # When posted to the payments and webhook endpoints resources
    results = [
        (f"POST {path} {body!r}", merchant_call(merchant, "POST", path, body))
        for body in BODIES
        for path in ("/v1/payments", "/v1/webhook_endpoints")
    ]

    # Then each is answered as a client error (or, if valid, served)
    assert_all_handled(results)


def test_hostile_bodies_from_an_unauthenticated_caller_get_401(merchant: MerchantCreds) -> None:
    # Given a caller without the secret, When it posts hostile bodies
    stranger = MerchantCreds(merchant.merchant_id, merchant.key_id, "sk_not_the_secret")
    replies = [
        (repr(body), merchant_call(stranger, "POST", "/v1/payments", body)) for body in BODIES
    ]

    # Then it learns nothing about the request shape: always the same 401
    assert_all_handled(replies)
    assert {r.status for _, r in replies} == {401}, [(w[:60], r.status) for w, r in replies]


def test_hostile_paths_never_cause_a_server_error(merchant: MerchantCreds) -> None:
    assert_all_handled(
        [
            (f"{method} {path}", merchant_call(merchant, method, path))
            for path in PATHS
            for method in ("GET", "POST", "DELETE")
        ]
    )


def test_hostile_query_strings_never_cause_a_server_error(merchant: MerchantCreds) -> None:
    payment = create_payment(merchant, "1")
    assert_all_handled(
        [
            (f"{path}?{query}", merchant_call(merchant, "GET", f"{path}?{query}"))
            for query in QUERIES
            for path in ("/v1/payments", "/v1/events", f"/v1/payments/{payment['id']}")
        ]
    )


def test_hostile_auth_and_idempotency_headers_never_cause_a_server_error(
    merchant: MerchantCreds,
) -> None:
    results = []
    for headers in HEADERS:
        event = merchant_event(merchant, "POST", "/v1/payments", {"amount": "1"})
        event["headers"].update(headers)
        results.append((repr(headers), call(event)))
    assert_all_handled(results)


def test_odd_but_possible_proxy_events_never_cause_a_server_error(
    merchant: MerchantCreds,
) -> None:
    # Given what API Gateway may hand over besides the usual
    base = merchant_event(merchant, "POST", "/v1/payments", {"amount": "1"})
    variants: list[tuple[str, dict[str, Any]]] = []
    for name, mutate in (
        ("PATCH", lambda e: e.update(httpMethod="PATCH")),
        ("OPTIONS", lambda e: e.update(httpMethod="OPTIONS")),
        ("HEAD", lambda e: e.update(httpMethod="HEAD")),
        ("no headers", lambda e: e.update(headers=None, multiValueHeaders=None)),
        ("no source ip", lambda e: e["requestContext"]["identity"].update(sourceIp=None)),
    ):
        event = json.loads(json.dumps(base))
        mutate(event)
        variants.append((name, event))

    assert_all_handled([(name, call(event)) for name, event in variants])


def test_base64_encoded_body_is_verified_on_its_decoded_bytes(merchant: MerchantCreds) -> None:
    # Given API Gateway delivering the signed body base64-encoded (binary media types)
    event = merchant_event(merchant, "POST", "/v1/payments", {"amount": "2.5"})
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True

    # When handled, Then the signature matches the decoded body and the payment is created
    reply = call(event)
    assert reply.status == 201, reply.body
    assert reply.body["amount"] == "2.5"


def test_a_stale_but_otherwise_hostile_request_is_still_a_plain_401(
    merchant: MerchantCreds,
) -> None:
    reply = merchant_call(merchant, "POST", "/v1/payments", DEEP, timestamp=int(time.time()) - 999)
    assert reply.status == 401


def test_deeply_nested_json_is_refused_before_any_parser_runs(merchant: MerchantCreds) -> None:
    # A body nested far past the limit would exhaust the recursion limit of a parser.
    body = "{" + '"a":[' * 5000 + "1" + "]" * 5000 + "}"
    reply = merchant_call(merchant, "POST", "/v1/payments", body)
    assert reply.status == 400
    assert reply.error["code"] == "malformed_request"


def test_overlong_ids_in_paths_are_404_not_a_database_error(merchant: MerchantCreds) -> None:
    # DynamoDB refuses keys over 2 KiB with an error (moto does not): such ids must be
    # turned away before any lookup.
    long_id = "pay_" + "a" * 3000
    for method, path in (
        ("GET", f"/v1/payments/{long_id}"),
        ("POST", f"/v1/payments/{long_id}/cancel"),
        ("GET", f"/v1/events/evt_{'b' * 3000}"),
        ("DELETE", f"/v1/webhook_endpoints/we_{'c' * 3000}"),
        ("GET", f"/v1/webhook_endpoints/we_{'c' * 3000}/deliveries"),
        ("GET", f"/v1/payments?starting_after={long_id}"),
    ):
        reply = merchant_call(merchant, method, path)
        assert reply.status in (404, 422), (method, path[:40], reply.status)


# ---- the admin API: held to the same standard --------------------------------------------

ADMIN_BODIES: list[Any] = [
    {"name": HUGE},
    {"name": 5},
    {"name": ["Acme"]},
    {"name": {"$ne": ""}},
    {"name": "A\x00B"},
    {"name": "\ud800"},
    {"underpay_tolerance_bps": "50"},
    {"underpay_tolerance_bps": 10**30},
    {"underpay_tolerance_bps": 1.5},
    {"underpay_tolerance_bps": True},
    {"ip_allowlist": "10.0.0.0/8"},
    {"ip_allowlist": [HUGE]},
    {"ip_allowlist": ["10.0.0.0/8"] * 1_000},
    {"ip_allowlist": ["::/0\x00"]},
    {"ip_allowlist": [None, 1, {}]},
    {"address": HUGE},
    {"address": "0x" + "g" * 40},
    {"address": "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955", "schedule": "hourly"},
    {"address": "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955", "threshold": "1e999"},
    {"address": "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955", "fee_bps": -1},
    {"address": "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955", "fee_fixed": "NaN"},
    {"amount": "-1"},
    {"amount": "0"},
    {"amount": 12.5},
    {"amount": "1" * 64},
    {"reason": HUGE},
    {"reason": None},
    {"tx_hash": HUGE},
    {"tx_hash": "0x" + "z" * 64},
    {"tx_hash": "0x" + "0" * 64},
    {"from_block": -1, "to_block": 1},
    {"from_block": 0, "to_block": 10**30},
    {"from_block": 10**30, "to_block": 10**30 + 1},
    {"from_block": "0", "to_block": "1"},
    {"from_block": 5, "to_block": 1},
]


def admin_post_paths(merchant_id: str) -> list[str]:
    """Every admin route that takes a POST (ids that do not exist where it matters)."""
    return [
        "/admin/merchants",
        f"/admin/merchants/{merchant_id}",
        f"/admin/merchants/{merchant_id}/api_keys",
        f"/admin/merchants/{merchant_id}/api_keys/ak_0123abc/revoke",
        f"/admin/merchants/{merchant_id}/settlement",
        f"/admin/merchants/{merchant_id}/payouts",
        "/admin/settlements/po_0123abc/approve",
        "/admin/settlements/po_0123abc/reject",
        "/admin/treasury/gas_funding",
        "/admin/chain/rescan",
    ]


ADMIN_PATHS = [
    "/admin/merchants/../../v1/payments",
    "/admin/merchants/%00",
    "/admin/merchants/mer_\x00",
    "/admin/merchants/mer_" + "a" * 5_000,
    "/admin/merchants/mer_" + "a" * 5_000 + "/api_keys",
    "/admin/merchants/mer_" + "a" * 5_000 + "/settlement",
    "/admin/merchants/" + "\u202e" * 100 + "/payouts",
    "/admin/merchants/mer_x/api_keys/ak_" + "k" * 3_000 + "/revoke",
    "/admin/settlements/po_" + "p" * 3_000,
    "/admin/settlements/" + "x" * 3_000 + "/approve",
    "/admin/settlements/re_'; DROP TABLE disbursements;--/reject",
    "/admin/settlements//",
    "/admin/./treasury",
    "/admin",
    "/admin/",
]

ADMIN_QUERIES = [
    "limit=-1",
    "limit=abc",
    "limit=\u00b2",
    "limit=999999999999999999999999",
    "limit=1&limit=2",
    "status=" + "x" * 10_000,
    "status=paid%00",
    "status=queued&status=paid",
    "merchant_id=" + "m" * 3_000,
    "merchant_id=mer_%00",
    "starting_after=../../etc/passwd",
    "starting_after=po_" + "a" * 3_000,
    "starting_after=%F0%9F%92%B0",
    "%ZZ=%ZZ",
    "a" * 10_000,
]

# What API Gateway may pass on as the authorizer's result, where no admin was verified.
NOT_AN_ADMIN: list[Any] = [
    None,
    {},
    "claims",
    {"claims": None},
    {"claims": "sub=admin"},
    {"claims": []},
    {"claims": {}},
    {"claims": {"sub": ""}},
    {"claims": {"cognito:username": "ops@example.com"}},
]

MEDIA_TYPES: list[str | None] = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/json-patch+json",
    "",
    None,  # no Content-Type header at all (curl -d without -H)
]


def test_admin_posts_with_another_media_type_get_415(merchant: MerchantCreds) -> None:
    # Given an admin posting well-formed JSON declared as another media type (or none)
    results = [
        (
            f"POST {path} Content-Type={media!r}",
            admin_call("POST", path, {"name": "Typed Shop"}, headers={"Content-Type": media}),
        )
        for path in admin_post_paths(merchant.merchant_id)
        for media in MEDIA_TYPES
    ]

    # Then each is a clear 415, as on the merchant API, and never a 5xx
    assert_all_handled(results)
    wrong = [
        (what, r.status, r.body)
        for what, r in results
        if (r.status, r.error["code"]) != (415, "unsupported_media_type")
    ]
    assert not wrong, wrong


def test_admin_json_with_a_charset_is_still_json(stack: LocalStack) -> None:
    # Given a client that adds a charset to the JSON media type
    reply = admin_call(
        "POST",
        "/admin/merchants",
        {"name": "Charset Shop"},
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    # Then it is served
    assert reply.status == 201, reply.body


def test_merchant_posts_with_another_media_type_get_415(merchant: MerchantCreds) -> None:
    # Given correctly signed requests whose body is declared as something other than JSON
    replies = [
        (
            repr(media),
            merchant_call(
                merchant, "POST", "/v1/payments", {"amount": "1"}, headers={"Content-Type": media}
            ),
        )
        for media in MEDIA_TYPES
        if media is not None
    ]

    # Then each gets 415 unsupported_media_type
    assert_all_handled(replies)
    assert {(r.status, r.error["code"]) for _, r in replies} == {(415, "unsupported_media_type")}


def test_hostile_admin_bodies_never_cause_a_server_error(merchant: MerchantCreds) -> None:
    # Given an authenticated admin posting hostile JSON bodies to every POST route
    results = [
        (f"POST {path} {body!r}", admin_call("POST", path, body))
        for body in BODIES + ADMIN_BODIES
        for path in admin_post_paths(merchant.merchant_id)
    ]

    # Then each is answered as a client error (or, if valid, served)
    assert_all_handled(results)


def test_hostile_admin_paths_and_queries_never_cause_a_server_error(
    merchant: MerchantCreds,
) -> None:
    lists = ("/admin/merchants", "/admin/payments", "/admin/settlements")
    results = [
        (f"{method} {path}", admin_call(method, path))
        for path in ADMIN_PATHS
        for method in ("GET", "POST", "DELETE")
    ] + [
        (f"GET {path}?{query}", admin_call("GET", f"{path}?{query}"))
        for path in (*lists, f"/admin/merchants/{merchant.merchant_id}/api_keys")
        for query in ADMIN_QUERIES
    ]
    assert_all_handled(results)


def test_admin_requests_without_a_verified_admin_get_the_same_401(
    merchant: MerchantCreds,
) -> None:
    # Given requests that no Cognito authorizer vouched for, hostile or not
    replies = [
        (
            f"{authorizer!r} POST {body!r}",
            admin_call(
                "POST",
                "/admin/merchants",
                body,
                authorizer=authorizer,
                headers={"Content-Type": media},
            ),
        )
        for authorizer in NOT_AN_ADMIN
        for body in ({"name": "Sneaky"}, DEEP, "{" * 100, HUGE)
        for media in ("application/json", "text/plain")
    ] + [
        (f"{authorizer!r} GET", admin_call("GET", "/admin/treasury", authorizer=authorizer))
        for authorizer in NOT_AN_ADMIN
    ]

    # Then every one is the same 401, before anything about the request is revealed
    assert_all_handled(replies)
    assert {(r.status, r.error["type"]) for _, r in replies} == {(401, "authentication_error")}
