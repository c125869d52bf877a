"""The webhook dispatcher Lambda delivering to a real HTTP receiver on this machine:
signed POSTs (DESIGN §3, Stripe scheme), and retries through SQS visibility."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.dal import endpoints as endpoint_repo
from shared.dal import events as event_repo
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    admin_call,
    as_admin,
    create_endpoint,
    create_payment,
    delete_messages,
    dispatch,
    events_of_payment,
    make_final,
    merchant_call,
    pay,
    receive_for,
    scan,
)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A merchant's webhook receiver: records every POST, answers with ``status``."""

    status: int = 200
    requests: queue.Queue[Received] = field(default_factory=queue.Queue)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.put(Received(self.path, dict(self.headers.items()), body))
            self.send_response(state.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def verify_signature(header: str, body: bytes, secret: str, tolerance_s: int = 300) -> bool:
    """What a merchant's receiver does (DESIGN §3), written from the spec."""
    parts = [p.split("=", 1) for p in header.split(",")]
    timestamps = [v for k, v in parts if k == "t"]
    candidates = [v for k, v in parts if k == "v1"]
    if len(timestamps) != 1 or not candidates:
        return False
    t = timestamps[0]
    if abs(time.time() - int(t)) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for v in candidates)


def test_paid_payment_reaches_the_receiver_with_a_verifiable_signature(
    stack: LocalStack, merchant: MerchantCreds, receiver: Receiver
) -> None:
    # Given a webhook endpoint for payment.paid registered through the API
    endpoint = create_endpoint(merchant, f"{receiver.url}/hooks/bscpay", ["payment.paid"])
    assert endpoint["secret"].startswith("whsec_")

    # And a payment that gets paid on chain
    payment = create_payment(merchant, "20")
    pay(stack, payment["address"], 20 * USDT)
    make_final(stack)
    scan()

    # When the dispatcher Lambda gets the queued message
    messages = receive_for(endpoint["id"])
    assert len(messages) == 1
    result = dispatch(messages)
    delete_messages(messages)

    # Then it reports no failure and the receiver got one signed POST
    assert result == {"batchItemFailures": []}
    got = receiver.requests.get(timeout=30)
    assert got.path == "/hooks/bscpay"
    assert got.headers["Content-Type"] == "application/json"
    assert verify_signature(got.headers["Bscpay-Signature"], got.body, endpoint["secret"])
    assert not verify_signature(got.headers["Bscpay-Signature"], got.body, "whsec_other")
    assert not verify_signature(
        got.headers["Bscpay-Signature"], got.body.replace(b"paid", b"PAID"), endpoint["secret"]
    )

    # And the body is the stored payment.paid event, the payment as it is now
    event = json.loads(got.body)
    paid_event = events_of_payment(merchant.merchant_id, payment["id"])[-1]
    assert event["id"] == paid_event.event_id == got.headers["Bscpay-Event-Id"]
    assert event["type"] == "payment.paid"
    assert isinstance(event["created"], int)
    assert event["data"]["object"]["id"] == payment["id"]
    assert event["data"]["object"]["status"] == "paid"
    assert event["data"]["object"]["amount_received"] == "20"
    stored = event_repo.event_payload(paid_event.event_id)
    assert stored is not None and got.body == stored[1].encode()

    # And the confirming event, not subscribed, was never queued for this endpoint
    assert receive_for(endpoint["id"], timeout_s=1.5) == []


def test_receiver_error_fails_the_record_and_pushes_the_retry_out(
    stack: LocalStack, merchant: MerchantCreds, receiver: Receiver
) -> None:
    # Given a receiver that answers 500, subscribed to cancellations
    receiver.status = 500
    endpoint = create_endpoint(merchant, f"{receiver.url}/hook", ["payment.canceled"])
    payment = create_payment(merchant, "1")
    merchant_call(merchant, "POST", f"/v1/payments/{payment['id']}/cancel")

    # When the dispatcher handles the message (received with a 1 s visibility timeout)
    messages = receive_for(endpoint["id"], visibility_s=1)
    received_at = time.monotonic()
    assert len(messages) == 1
    result = dispatch(messages)

    # Then the attempt was made and the record is reported failed, for SQS to retry
    assert receiver.requests.get(timeout=30).path == "/hook"
    assert result == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}

    # And the retry waits for the backoff: past the 1 s it was received with, the
    # message is still invisible (the dispatcher moved its visibility ~30 s out)
    time.sleep(max(0.0, received_at + 1.5 - time.monotonic()))
    assert receive_for(endpoint["id"], timeout_s=1) == []
    delete_messages(messages)


def test_the_console_payment_detail_lists_each_delivery_attempt(
    stack: LocalStack, merchant: MerchantCreds, receiver: Receiver
) -> None:
    # Given a receiver that fails the first attempt at a cancellation and takes the second
    receiver.status = 503
    endpoint = create_endpoint(merchant, f"{receiver.url}/hook", ["payment.canceled"])
    payment = create_payment(merchant, "1")
    merchant_call(merchant, "POST", f"/v1/payments/{payment['id']}/cancel")
    first = receive_for(endpoint["id"], visibility_s=1)
    assert len(first) == 1
    dispatch(first)
    receiver.status = 200
    dispatch(first)  # the redelivery of the same message
    delete_messages(first)

    # When a viewer opens the payment in the console
    viewer = as_admin("deliveries-viewer", ("viewer",))
    detail = admin_call("GET", f"/admin/payments/{payment['id']}", authorizer=viewer)

    # Then both attempts are there, newest first, naming the endpoint and the outcome
    assert detail.status == 200, detail.body
    attempts = [d for d in detail.body["deliveries"] if d["endpoint_id"] == endpoint["id"]]
    assert [d["status_code"] for d in attempts] == [200, 503]
    canceled = next(e for e in detail.body["events"] if e["type"] == "payment.canceled")
    assert {d["event_id"] for d in attempts} == {canceled["id"]}
    assert all(d["object"] == "webhook_delivery" for d in attempts)


def test_message_for_a_deleted_endpoint_is_dropped_not_retried(
    stack: LocalStack, merchant: MerchantCreds, receiver: Receiver
) -> None:
    # Given a queued delivery whose endpoint the merchant deleted meanwhile
    endpoint = create_endpoint(merchant, f"{receiver.url}/hook", ["payment.canceled"])
    payment = create_payment(merchant, "1")
    merchant_call(merchant, "POST", f"/v1/payments/{payment['id']}/cancel")
    messages = receive_for(endpoint["id"])
    deleted = merchant_call(merchant, "DELETE", f"/v1/webhook_endpoints/{endpoint['id']}")
    assert deleted.status == 200, deleted.body

    # When dispatched, Then nothing is sent and the record succeeds (no endless retries)
    result = dispatch(messages)
    delete_messages(messages)
    assert result == {"batchItemFailures": []}
    assert receiver.requests.empty()


def test_last_failed_attempt_marks_the_endpoint_failing_and_alerts_the_operator(
    stack: LocalStack, merchant: MerchantCreds, receiver: Receiver
) -> None:
    import boto3

    from shared import config
    from shared.webhooks import dispatch as dispatch_module

    # Given an operator subscribed to the alerts topic, and a receiver that answers 500
    aws = {
        "endpoint_url": stack.info["aws_endpoint_url"],
        "region_name": stack.info["region"],
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    sqs, sns = boto3.client("sqs", **aws), boto3.client("sns", **aws)
    inbox = sqs.create_queue(QueueName="operator-alerts")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=config.aws().alerts_topic_arn, Protocol="sqs", Endpoint=inbox_arn)
    receiver.status = 500
    endpoint = create_endpoint(merchant, f"{receiver.url}/hook", ["payment.canceled"])
    payment = create_payment(merchant, "1")
    merchant_call(merchant, "POST", f"/v1/payments/{payment['id']}/cancel")
    messages = receive_for(endpoint["id"], visibility_s=1)
    message = json.loads(messages[0]["Body"])

    # When the last attempt SQS allows fails too
    with pytest.raises(Exception, match="HTTP 500"):
        dispatch_module.handle(
            message, messages[0]["ReceiptHandle"], receive_count=dispatch_module.MAX_ATTEMPTS
        )
    delete_messages(messages)

    # Then the endpoint is marked failing and the operator is alerted
    stored = endpoint_repo.get_endpoint(endpoint["id"])
    assert stored is not None and stored.failing_since is not None
    alerts = sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=10).get("Messages", [])
    assert alerts and "webhook_delivery_exhausted" in alerts[0]["Body"]
    assert endpoint["id"] in alerts[0]["Body"]
