"""Merchant API authentication (DESIGN §3): HMAC-signed requests, a 300 s clock window,
revocation at once, optional IP allowlists. Every failure is the same 401 shape."""

from __future__ import annotations

import time

import pytest

from shared.admin import merchants
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import Reply, approved_key, call, merchant_call, merchant_event

BODY = {"amount": "12.50", "order_id": "A-1"}


def assert_unauthenticated(reply: Reply) -> None:
    assert reply.status == 401, reply.body
    assert reply.error["type"] == "authentication_error"
    assert reply.error["code"] == "unauthenticated"


def test_signed_requests_are_accepted(merchant: MerchantCreds) -> None:
    # Given a merchant's key and secret
    # When it signs a POST and a GET with a query string
    created = merchant_call(merchant, "POST", "/v1/payments", BODY)
    listed = merchant_call(merchant, "GET", "/v1/payments?limit=5")

    # Then both are served
    assert created.status == 201, created.body
    assert listed.status == 200, listed.body
    assert created.body["id"] in [p["id"] for p in listed.body["data"]]


def test_signature_made_with_another_secret_is_refused(merchant: MerchantCreds) -> None:
    # Given a request signed with the wrong secret
    forged = MerchantCreds(merchant.merchant_id, merchant.key_id, merchant.secret + "x")

    # When sent, Then 401 in the documented error format
    assert_unauthenticated(merchant_call(forged, "POST", "/v1/payments", BODY))


def test_body_changed_after_signing_is_refused(merchant: MerchantCreds) -> None:
    # Given a signed request whose body is swapped in transit
    event = merchant_event(merchant, "POST", "/v1/payments", BODY)
    event["body"] = '{"amount": "0.01", "order_id": "A-1"}'

    # When sent, Then it is refused
    assert_unauthenticated(call(event))


def test_query_string_is_part_of_the_signature(merchant: MerchantCreds) -> None:
    # Given a GET signed without its query string
    reply = merchant_call(merchant, "GET", "/v1/payments?limit=5", signed_path="/v1/payments")

    # Then it is refused: an attacker cannot rewrite the query
    assert_unauthenticated(reply)


@pytest.mark.parametrize("skew_s", [-301, 301, -3600, 86400])
def test_timestamp_outside_five_minutes_is_refused(merchant: MerchantCreds, skew_s: int) -> None:
    # Given a correctly signed request with a stale (or future) timestamp
    reply = merchant_call(
        merchant, "POST", "/v1/payments", BODY, timestamp=int(time.time()) + skew_s
    )

    # Then it is refused: a captured request cannot be replayed later
    assert_unauthenticated(reply)


def test_timestamp_just_inside_the_window_is_accepted(merchant: MerchantCreds) -> None:
    reply = merchant_call(merchant, "POST", "/v1/payments", BODY, timestamp=int(time.time()) - 290)
    assert reply.status == 201, reply.body


@pytest.mark.parametrize("missing", ["X-Api-Key", "X-Timestamp", "X-Signature"])
def test_missing_auth_header_is_refused(merchant: MerchantCreds, missing: str) -> None:
    # Given a signed request that lacks one of the three headers
    event = merchant_event(merchant, "GET", "/v1/payments")
    del event["headers"][missing]
    del event["multiValueHeaders"][missing]

    # Then 401
    assert_unauthenticated(call(event))


def test_request_without_any_credentials_is_refused(merchant: MerchantCreds) -> None:
    event = merchant_event(merchant, "GET", "/v1/payments")
    for name in ("X-Api-Key", "X-Timestamp", "X-Signature"):
        del event["headers"][name]
    assert_unauthenticated(call(event))


def test_unknown_key_is_refused(merchant: MerchantCreds) -> None:
    stranger = MerchantCreds(merchant.merchant_id, "ak_00000000000deadbeefdeadbeefdead", "sk_x")
    assert_unauthenticated(merchant_call(stranger, "GET", "/v1/payments"))


def test_revoked_key_fails_at_once(merchant: MerchantCreds) -> None:
    # Given a key that just worked
    assert merchant_call(merchant, "GET", "/v1/payments").status == 200

    # When the operator revokes it
    merchants.revoke_api_key(merchant.merchant_id, merchant.key_id)

    # Then the very next request is refused
    assert_unauthenticated(merchant_call(merchant, "GET", "/v1/payments"))


def test_revoking_one_key_leaves_the_merchants_other_keys_working(
    merchant: MerchantCreds,
) -> None:
    key, secret = approved_key(merchant.merchant_id, [])
    second = MerchantCreds(merchant.merchant_id, key.key_id, secret)

    merchants.revoke_api_key(merchant.merchant_id, merchant.key_id)

    assert_unauthenticated(merchant_call(merchant, "GET", "/v1/payments"))
    assert merchant_call(second, "GET", "/v1/payments").status == 200


def test_ip_allowlist_refuses_requests_from_elsewhere_with_403(stack: LocalStack) -> None:
    # Given a key restricted to 198.51.100.0/24
    merchant, _, _ = merchants.create_merchant("Allowlisted Shop")
    key, secret = approved_key(merchant.merchant_id, ["198.51.100.0/24"])
    creds = MerchantCreds(merchant.merchant_id, key.key_id, secret)

    # When correctly signed requests come from inside and outside that network
    inside = merchant_call(creds, "GET", "/v1/payments", source_ip="198.51.100.7")
    outside = merchant_call(creds, "GET", "/v1/payments", source_ip="203.0.113.10")

    # Then only the one from inside is served
    assert inside.status == 200, inside.body
    assert outside.status == 403, outside.body
    assert outside.error["code"] == "forbidden"
    assert outside.error["type"] == "permission_error"


def test_ip_allowlist_does_not_reveal_itself_to_an_unsigned_caller(stack: LocalStack) -> None:
    # Given an allowlisted key, When a caller from outside cannot sign
    merchant, _, _ = merchants.create_merchant("Allowlisted Shop")
    key, _ = approved_key(merchant.merchant_id, ["198.51.100.0/24"])
    forged = MerchantCreds(merchant.merchant_id, key.key_id, "sk_wrong")

    # Then the answer is the plain 401, not a 403 that confirms the key exists
    assert_unauthenticated(merchant_call(forged, "GET", "/v1/payments", source_ip="203.0.113.10"))
