"""Replay refusal (ADR 0004): a POST or DELETE whose exact signature was already
accepted is refused with 401 ``replayed_request`` and does nothing; GETs may repeat.
Retries are safe through the Idempotency-Key, signed anew."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared import config
from shared.auth import hmac_auth
from shared.dal import replay
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    Reply,
    call,
    create_endpoint,
    merchant_call,
    merchant_event,
)

BODY = {"amount": "4.20", "order_id": "R-1"}
HOOK = "http://127.0.0.1:9/hook"  # never called: no event is delivered here


def assert_replayed(reply: Reply) -> None:
    assert reply.status == 401, reply.body
    assert reply.error["type"] == "authentication_error"
    assert reply.error["code"] == "replayed_request"
    assert reply.error["param"] == "X-Signature"
    assert "retry with the same Idempotency-Key" in reply.error["message"]


def payment_ids(merchant: MerchantCreds) -> list[str]:
    listed = merchant_call(merchant, "GET", "/v1/payments?limit=100")
    assert listed.status == 200, listed.body
    return [p["id"] for p in listed.body["data"]]


def signature_record(event: dict[str, Any]) -> replay.SignatureModel | None:
    headers = event["headers"]
    key = replay.record_key(headers["X-Api-Key"], headers["X-Signature"])
    replay._bind()
    try:
        return replay.SignatureModel.get(key, consistent_read=True)
    except replay.SignatureModel.DoesNotExist:
        return None


def test_a_replayed_post_is_refused_and_creates_nothing(merchant: MerchantCreds) -> None:
    # Given a signed POST that was served once
    event = merchant_event(merchant, "POST", "/v1/payments", BODY)
    first = call(event)
    assert first.status == 201, first.body

    # When the very same request is sent again
    again = call(event)

    # Then it is refused and there is still one payment
    assert_replayed(again)
    assert payment_ids(merchant) == [first.body["id"]]


def test_the_same_signature_in_upper_case_is_the_same_request(merchant: MerchantCreds) -> None:
    event = merchant_event(merchant, "POST", "/v1/payments", BODY)
    assert call(event).status == 201

    event["headers"]["X-Signature"] = event["headers"]["X-Signature"].upper()

    assert_replayed(call(event))
    assert len(payment_ids(merchant)) == 1


def test_a_replayed_delete_is_refused(merchant: MerchantCreds) -> None:
    # Given a webhook endpoint deleted by a signed DELETE
    endpoint = create_endpoint(merchant, HOOK, ["payment.paid"])
    event = merchant_event(merchant, "DELETE", f"/v1/webhook_endpoints/{endpoint['id']}")
    deleted = call(event)
    assert deleted.status == 200, deleted.body

    # When the DELETE is replayed, Then it is refused as a replay (not served as a 404)
    assert_replayed(call(event))


def test_distinct_requests_in_the_same_second_are_both_served(merchant: MerchantCreds) -> None:
    # Given two different POSTs signed with one timestamp
    now = int(time.time())
    first = merchant_call(merchant, "POST", "/v1/payments", {"amount": "1"}, timestamp=now)
    second = merchant_call(merchant, "POST", "/v1/payments", {"amount": "2"}, timestamp=now)

    # Then both are served: their signatures differ
    assert (first.status, second.status) == (201, 201), (first.body, second.body)
    assert sorted(payment_ids(merchant)) == sorted([first.body["id"], second.body["id"]])


def test_a_get_may_be_sent_again_and_leaves_no_record(merchant: MerchantCreds) -> None:
    event = merchant_event(merchant, "GET", "/v1/payments?limit=5")

    replies = [call(event), call(event)]

    assert [r.status for r in replies] == [200, 200], [r.body for r in replies]
    assert signature_record(event) is None


def test_a_retry_with_the_idempotency_key_must_be_signed_anew(merchant: MerchantCreds) -> None:
    # Given a POST with an Idempotency-Key, served once
    key = {"Idempotency-Key": "order-R-2"}
    event = merchant_event(merchant, "POST", "/v1/payments", BODY, headers=key)
    first = call(event)
    assert first.status == 201, first.body

    # When the client retries with the same bytes, Then the retry is a replay
    assert_replayed(call(event))

    # When it retries signed anew with the same Idempotency-Key
    retried = merchant_call(merchant, "POST", "/v1/payments", BODY, headers=key)

    # Then it gets the first answer, and still one payment exists
    assert retried.status == 201, retried.body
    assert retried.headers.get("Idempotent-Replayed") == "true"
    assert retried.body["id"] == first.body["id"]
    assert payment_ids(merchant) == [first.body["id"]]


def test_a_request_refused_after_signing_is_used_up(merchant: MerchantCreds) -> None:
    # Given a correctly signed POST that the handler refuses (an invalid amount)
    event = merchant_event(merchant, "POST", "/v1/payments", {"amount": "-1"})
    assert call(event).status == 422

    # Then its signature is spent: the record is written before the handler runs
    assert_replayed(call(event))


def test_an_unproven_signature_records_nothing(merchant: MerchantCreds) -> None:
    # Given a POST signed with a wrong secret (anyone can send one)
    forged = MerchantCreds(merchant.merchant_id, merchant.key_id, merchant.secret + "x")
    event = merchant_event(forged, "POST", "/v1/payments", BODY)

    # When it is sent twice, Then both are plain signature failures and nothing is stored
    for _ in range(2):
        reply = call(event)
        assert (reply.status, reply.error["code"]) == (401, "unauthenticated")
    assert signature_record(event) is None


@pytest.mark.parametrize("skew_s", [-290, 0, 290])
def test_the_record_outlives_the_timestamp_window(merchant: MerchantCreds, skew_s: int) -> None:
    # Given a POST dated anywhere inside the window (past, now or future)
    timestamp = int(time.time()) + skew_s
    event = merchant_event(merchant, "POST", "/v1/payments", BODY, timestamp=timestamp)
    assert call(event).status == 201

    # Then its record lives until the timestamp leaves the window, and a little more
    record = signature_record(event)
    assert record is not None
    tolerance = config.api().signature_tolerance_s
    assert record.expires_at_ttl == timestamp + tolerance + hmac_auth.REPLAY_TTL_MARGIN_S
    assert record.expires_at_ttl > time.time() + tolerance + skew_s


def test_one_signature_is_spent_once_for_each_key() -> None:
    # The record key binds key id and signature; case of the hex does not matter
    signature = "ab" * 32
    assert replay.record_key("ak_1", signature) == replay.record_key("ak_1", signature.upper())
    assert replay.record_key("ak_1", signature) != replay.record_key("ak_2", signature)
    assert replay.record_key("ak_1", signature).startswith(replay.KEY_PREFIX)
