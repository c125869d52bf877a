"""Errors that explain themselves: a refused request says what was wrong and what
would have been accepted, without giving away anything secret."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from shared.auth.signing import request_signature
from shared.models.api import SUBSCRIBABLE_EVENT_TYPES
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import Reply, call, merchant_call, merchant_event

URL = "https://hooks.example.com/bscpay"


def test_an_unknown_webhook_event_names_the_entry_and_lists_every_accepted_type(
    merchant: MerchantCreds,
) -> None:
    # Given a merchant subscribing to a misspelt event after a valid one
    body = {"url": URL, "events": ["payment.paid", "payout.piad"]}

    # When the endpoint is created
    reply = merchant_call(merchant, "POST", "/v1/webhook_endpoints", body)

    # Then 422 names the bad entry and lists every type one may subscribe to
    assert reply.status == 422, reply.body
    assert reply.error["param"] == "events.1"
    assert "'payout.piad'" in reply.error["message"]
    missing = [t for t in SUBSCRIBABLE_EVENT_TYPES if f"'{t}'" not in reply.error["message"]]
    assert not missing, reply.error["message"]
    assert "payout.paid" in SUBSCRIBABLE_EVENT_TYPES and "settlement.address_changed" in (
        SUBSCRIBABLE_EVENT_TYPES
    )


def test_an_unknown_event_type_filter_lists_the_types_too(merchant: MerchantCreds) -> None:
    # When the event log is filtered by a type that does not exist
    reply = merchant_call(merchant, "GET", "/v1/events?type=refund.piad")

    # Then the answer names the parameter, the value and the accepted types
    assert reply.status == 422, reply.body
    assert reply.error["param"] == "type"
    assert "'refund.piad'" in reply.error["message"]
    assert "'refund.paid'" in reply.error["message"] and "'ping'" in reply.error["message"]


# ---- request signatures: a safe hint with every 401 ------------------------------------


def assert_no_secret_in(reply: Reply, creds: MerchantCreds, *signatures: str) -> None:
    text = json.dumps(reply.body)
    assert creds.secret not in text
    for signature in signatures:
        assert signature not in text


def test_a_wrong_signature_shows_the_string_shape_and_what_the_server_signed(
    merchant: MerchantCreds,
) -> None:
    # Given a request signed with the wrong secret, over a query string and a body
    forged = MerchantCreds(merchant.merchant_id, merchant.key_id, "sk_wrong")
    body = {"amount": "12.50"}
    event = merchant_event(forged, "POST", "/v1/payments?expand=none", body)
    sent = event["headers"]["X-Signature"]

    # When sent
    reply = call(event)

    # Then 401 explains the canonical string and shows what this server signed
    assert reply.status == 401, reply.body
    assert (reply.error["type"], reply.error["code"]) == ("authentication_error", "unauthenticated")
    assert reply.error["param"] == "X-Signature"
    message = reply.error["message"]
    assert "{timestamp}\\n{METHOD}\\n{path_with_query}\\n{raw_body}" in message
    assert f"timestamp {event['headers']['X-Timestamp']}" in message
    assert "method POST" in message
    assert "'/v1/payments?expand=none'" in message
    raw = json.dumps(body).encode()
    assert f"{len(raw)} bytes (sha256 {hashlib.sha256(raw).hexdigest()[:16]}" in message
    # But never the signature it expected, nor anything of the secret
    right = request_signature(
        merchant.secret,
        event["headers"]["X-Timestamp"],
        "POST",
        "/v1/payments?expand=none",
        raw,
    )
    assert_no_secret_in(reply, merchant, right, right[:16], sent)


def test_a_signature_over_another_path_shows_the_path_the_server_signed(
    merchant: MerchantCreds,
) -> None:
    # Given a client that signed the path without its query string
    reply = merchant_call(merchant, "GET", "/v1/payments?limit=5", signed_path="/v1/payments")

    # Then the hint shows the path with the query, as the server signed it
    assert reply.status == 401, reply.body
    assert "'/v1/payments?limit=5'" in reply.error["message"]


def test_an_unknown_key_gets_the_same_hint_as_a_wrong_signature(merchant: MerchantCreds) -> None:
    # Given the same request signed with a wrong secret and sent under an unknown key
    t = int(time.time())
    forged = MerchantCreds(merchant.merchant_id, merchant.key_id, "sk_wrong")
    unknown = MerchantCreds(merchant.merchant_id, "ak_00000000000000000000", "sk_wrong")
    wrong = merchant_call(forged, "GET", "/v1/payments", timestamp=t)
    missing = merchant_call(unknown, "GET", "/v1/payments", timestamp=t)

    # Then the answers are identical: nothing tells whether the key exists
    assert wrong.status == missing.status == 401
    assert wrong.body == missing.body


def test_a_millisecond_timestamp_is_called_out(merchant: MerchantCreds) -> None:
    # Given a client sending Date.now() (milliseconds) as X-Timestamp
    millis = int(time.time() * 1000)

    # When it signs and sends a request
    reply = merchant_call(merchant, "GET", "/v1/payments", timestamp=millis)

    # Then the 401 says the timestamp looks like milliseconds
    assert reply.status == 401, reply.body
    assert reply.error["param"] == "X-Timestamp"
    assert "milliseconds" in reply.error["message"]
    assert "unix seconds" in reply.error["message"]


def test_a_stale_timestamp_shows_the_window_and_the_server_clock(merchant: MerchantCreds) -> None:
    # Given a request signed ten minutes ago (seconds, not milliseconds)
    reply = merchant_call(merchant, "GET", "/v1/payments", timestamp=int(time.time()) - 600)

    # Then the 401 names the window, and it is not mistaken for milliseconds
    assert reply.status == 401, reply.body
    assert reply.error["param"] == "X-Timestamp"
    assert "within 300 s" in reply.error["message"]
    assert "milliseconds" not in reply.error["message"]


@pytest.mark.parametrize("signature", ["not-hex", "ab" * 20, "Z" * 64, "a" * 65])
def test_a_signature_that_is_not_64_hex_characters_says_so(
    merchant: MerchantCreds, signature: str
) -> None:
    # Given a correctly keyed request whose X-Signature is not hex HMAC-SHA256 shaped
    event = merchant_event(merchant, "GET", "/v1/payments")
    event["headers"]["X-Signature"] = signature

    # Then the 401 says what the header must look like
    reply = call(event)
    assert reply.status == 401, reply.body
    assert reply.error["param"] == "X-Signature"
    assert "64 hex characters" in reply.error["message"]
