"""Merchant request signing (DESIGN §3) and webhook signatures (Stripe scheme),
checked against values computed here independently with ``hmac``."""

from __future__ import annotations

import hashlib
import hmac

from shared.auth.signing import request_signature
from shared.webhooks.signature import sign


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def test_request_signature_covers_timestamp_method_path_with_query_and_body() -> None:
    # Given a POST with a query string and a JSON body
    secret, t = "sk_test_secret", "1700000000"
    body = b'{"amount":"12.50"}'
    expected = _hmac_hex(secret, b'1700000000\nPOST\n/v1/payments?limit=10\n{"amount":"12.50"}')

    # When signed
    signature = request_signature(secret, t, "POST", "/v1/payments?limit=10", body)

    # Then it is the hex HMAC-SHA256 of "t\nMETHOD\npath_with_query\nbody"
    assert signature == expected
    assert len(signature) == 64


def test_known_answer_vectors_computed_with_openssl() -> None:
    # Fixed vectors (printf '0\nGET\n/\n' | openssl dgst -sha256 -hmac key), so a change
    # of the scheme shows up even if this file's helper changed along with it.
    assert (
        request_signature("key", "0", "GET", "/", b"")
        == "187e0778c07c490f3f5d059a81c80a86443464df15d461090f8bd17fd89f051e"
    )
    assert sign(b'{"id":"evt_1"}', ["whsec_test"], 1700000000) == (
        "t=1700000000,v1=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
    )


def test_get_request_signs_an_empty_body() -> None:
    expected = _hmac_hex("s", b"1\nGET\n/v1/payments/pay_1\n")
    assert request_signature("s", "1", "GET", "/v1/payments/pay_1", b"") == expected


def test_method_is_signed_upper_case() -> None:
    assert request_signature("s", "1", "post", "/v1/x", b"") == request_signature(
        "s", "1", "POST", "/v1/x", b""
    )


def test_every_signed_part_changes_the_signature() -> None:
    # Given one request, When any single part differs, Then the signature differs
    base = ("s", "1", "POST", "/v1/payments", b"{}")
    variants = [
        ("t", "1", "POST", "/v1/payments", b"{}"),
        ("s", "2", "POST", "/v1/payments", b"{}"),
        ("s", "1", "GET", "/v1/payments", b"{}"),
        ("s", "1", "POST", "/v1/payments?limit=1", b"{}"),
        ("s", "1", "POST", "/v1/payments", b"{ }"),
    ]
    signatures = {request_signature(*v) for v in variants}
    assert request_signature(*base) not in signatures
    assert len(signatures) == len(variants)


def test_webhook_signature_header_is_t_then_v1_over_t_dot_body() -> None:
    # Given an event body and one endpoint secret
    body = b'{"id":"evt_1","type":"payment.paid"}'
    expected = _hmac_hex("whsec_a", b"1700000000." + body)

    # When signed at t=1700000000
    header = sign(body, ["whsec_a"], 1700000000)

    # Then the header is Stripe's "t=<unix>,v1=<hex>"
    assert header == f"t=1700000000,v1={expected}"


def test_webhook_signature_during_rotation_carries_one_v1_per_secret() -> None:
    # Given two secrets (old and new) during a rotation
    body = b'{"id":"evt_2"}'

    # When signed
    header = sign(body, ["whsec_old", "whsec_new"], 42)

    # Then a receiver holding either secret can verify one of the two v1 values
    parts = header.split(",")
    assert parts[0] == "t=42"
    v1 = [p.removeprefix("v1=") for p in parts[1:]]
    assert v1 == [_hmac_hex("whsec_old", b"42." + body), _hmac_hex("whsec_new", b"42." + body)]
    assert v1[0] != v1[1]
