"""Webhook controls a merchant uses: event log, test pings, delivery log,
redelivery, secret rotation and 410 Gone — over HTTP on the local stack."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from bscpay_merchant import ApiError, Client, verify_webhook

from tests.e2e.conftest import WebhookReceiver, event_type

pytestmark = pytest.mark.e2e


def _client(stack: dict[str, Any]) -> Client:
    m = stack["merchant"]
    return Client(stack["api_url"], m["api_key_id"], m["api_secret"])


def _endpoint(client: Client, receiver: WebhookReceiver, events: list[str]) -> dict[str, Any]:
    return client.request("POST", "/v1/webhook_endpoints", {"url": receiver.url, "events": events})


def test_ping_arrives_signed_and_shows_in_the_delivery_log(
    stack: dict[str, Any], receiver: WebhookReceiver
) -> None:
    client = _client(stack)
    endpoint = _endpoint(client, receiver, ["payment.paid"])
    ping = client.request("POST", f"/v1/webhook_endpoints/{endpoint['id']}/test")
    assert ping["type"] == "ping"

    got = receiver.wait_for(lambda r: json.loads(r.body)["id"] == ping["id"], timeout=60)
    assert got, "the ping never arrived"
    verify_webhook(got[0].body, got[0].headers["Bscpay-Signature"], [endpoint["secret"]])

    deadline = time.monotonic() + 60
    log: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not log:
        log = client.request("GET", f"/v1/webhook_endpoints/{endpoint['id']}/deliveries")["data"]
        time.sleep(0.1)
    assert log[0]["event_id"] == ping["id"]
    assert log[0]["status_code"] == 200
    assert log[0]["latency_ms"] >= 0


def test_rotated_secret_signs_with_old_and_new_for_the_grace_period(
    stack: dict[str, Any], receiver: WebhookReceiver
) -> None:
    client = _client(stack)
    endpoint = _endpoint(client, receiver, ["payment.paid"])
    rotated = client.request("POST", f"/v1/webhook_endpoints/{endpoint['id']}/rotate_secret")
    assert rotated["secret"] != endpoint["secret"]

    ping = client.request("POST", f"/v1/webhook_endpoints/{endpoint['id']}/test")
    got = receiver.wait_for(lambda r: json.loads(r.body)["id"] == ping["id"], timeout=60)
    header = got[0].headers["Bscpay-Signature"]
    assert header.count("v1=") == 2
    verify_webhook(got[0].body, header, [endpoint["secret"]])  # old secret still verifies
    verify_webhook(got[0].body, header, [rotated["secret"]])  # and the new one


def test_event_log_lists_gets_and_redelivers_with_the_same_id(
    stack: dict[str, Any], receiver: WebhookReceiver
) -> None:
    client = _client(stack)
    endpoint = _endpoint(client, receiver, ["payment.canceled"])
    payment = client.request("POST", "/v1/payments", {"amount": "3.3"})
    client.request("POST", f"/v1/payments/{payment['id']}/cancel")

    listed = client.request("GET", f"/v1/events?payment_id={payment['id']}")["data"]
    assert [e["type"] for e in listed] == ["payment.canceled"]
    event = client.request("GET", f"/v1/events/{listed[0]['id']}")
    assert event["sequence"] == 1
    assert event["data"]["object"]["status"] == "canceled"
    by_type = client.request("GET", "/v1/events?type=payment.canceled&limit=100")["data"]
    assert event["id"] in {e["id"] for e in by_type}

    first = receiver.wait_for(lambda r: json.loads(r.body)["id"] == event["id"], timeout=60)
    assert len(first) == 1
    again = client.request("POST", f"/v1/events/{event['id']}/redeliver")
    assert again["redelivering_to"] >= 1
    both = receiver.wait_for(
        lambda r: json.loads(r.body)["id"] == event["id"] and len(receiver.received) > 1,
        timeout=60,
    )
    assert len([r for r in both if json.loads(r.body)["id"] == event["id"]]) == 2
    verify_webhook(both[-1].body, both[-1].headers["Bscpay-Signature"], [endpoint["secret"]])

    with pytest.raises(ApiError) as missing:
        client.request("GET", "/v1/events/evt_doesnotexist")
    assert missing.value.status == 404


def test_gone_endpoint_is_disabled(stack: dict[str, Any], receiver: WebhookReceiver) -> None:
    client = _client(stack)
    receiver.status = 410
    endpoint = _endpoint(client, receiver, ["payment.paid"])
    client.request("POST", f"/v1/webhook_endpoints/{endpoint['id']}/test")
    assert receiver.wait_for(lambda r: event_type(r) == "ping", timeout=60)

    deadline = time.monotonic() + 60
    status = "enabled"
    while time.monotonic() < deadline and status == "enabled":
        listed = client.request("GET", "/v1/webhook_endpoints")["data"]
        status = next(e["status"] for e in listed if e["id"] == endpoint["id"])
        time.sleep(0.1)
    assert status == "disabled"
