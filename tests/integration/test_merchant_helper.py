"""The merchant helper (merchant/bscpay_merchant.py) over HTTP, against the real
merchant handler behind the local API Gateway emulator: every retry is signed anew (the
server accepts a POST signature once) and carries the same Idempotency-Key, so a
response lost on the way back is retried into the first answer, never a second payment.
A raw replay of what the helper sent is refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from merchant.bscpay_merchant import ApiError, Client
from shared.local.apigw import ApiGatewayEmulator, Route
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import Reply, call, merchant_call


@dataclass
class FlakyGateway:
    """Runs each request through the real handler; drops the answers of the first
    ``lose`` requests on the way back (the work is done, the client sees a 502)."""

    lose: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        from functions.merchant_api.handler import lambda_handler

        result = lambda_handler(event, context)
        with self.lock:
            self.events.append(event)
            if self.lose > 0:
                self.lose -= 1
                return {"statusCode": 502, "body": '{"message": "Internal server error"}'}
        return result


@pytest.fixture
def gateway(stack: LocalStack) -> Iterator[tuple[FlakyGateway, str]]:
    flaky = FlakyGateway()
    emulator = ApiGatewayEmulator([Route("/v1", "merchant_api", flaky.handle, False)], None)
    emulator.serve("127.0.0.1", 0)
    server = emulator._server
    assert server is not None
    try:
        yield flaky, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        emulator.stop()


def client_for(merchant: MerchantCreds, url: str, **kwargs: Any) -> Client:
    return Client(url, merchant.key_id, merchant.secret, backoff_s=0.01, **kwargs)


def payment_ids(merchant: MerchantCreds) -> list[str]:
    listed = merchant_call(merchant, "GET", "/v1/payments?limit=100")
    assert listed.status == 200, listed.body
    return [p["id"] for p in listed.body["data"]]


def test_a_lost_answer_is_retried_into_the_first_payment(
    merchant: MerchantCreds, gateway: tuple[FlakyGateway, str]
) -> None:
    # Given a gateway that loses the answer to the first request (the payment is made)
    flaky, url = gateway
    flaky.lose = 1

    # When the helper creates a payment
    payment = client_for(merchant, url).request("POST", "/v1/payments", {"amount": "7"})

    # Then its retry was accepted: signed anew, same Idempotency-Key, the first payment
    first, retry = flaky.events
    assert first["headers"]["X-Signature"] != retry["headers"]["X-Signature"]
    assert int(retry["headers"]["X-Timestamp"]) > int(first["headers"]["X-Timestamp"])
    assert first["headers"]["Idempotency-Key"] == retry["headers"]["Idempotency-Key"]
    assert payment_ids(merchant) == [payment["id"]]


def test_a_raw_replay_of_what_the_helper_sent_is_refused(
    merchant: MerchantCreds, gateway: tuple[FlakyGateway, str]
) -> None:
    # Given a payment the helper created
    flaky, url = gateway
    payment = client_for(merchant, url).request("POST", "/v1/payments", {"amount": "8"})

    # When someone sends its captured request again
    (captured,) = flaky.events
    replayed: Reply = call(captured)

    # Then it is refused and nothing new exists
    assert (replayed.status, replayed.error["code"]) == (401, "replayed_request")
    assert payment_ids(merchant) == [payment["id"]]


def test_identical_requests_in_one_second_are_two_requests(
    merchant: MerchantCreds, gateway: tuple[FlakyGateway, str]
) -> None:
    # Given the same body posted twice at once (two orders of the same amount)
    _, url = gateway
    client = client_for(merchant, url)
    first = client.request("POST", "/v1/payments", {"amount": "9"})
    second = client.request("POST", "/v1/payments", {"amount": "9"})

    # Then both are served: the helper never sends one signature twice
    assert first["id"] != second["id"]
    assert sorted(payment_ids(merchant)) == sorted([first["id"], second["id"]])


def test_retries_give_up_after_max_retries(
    merchant: MerchantCreds, gateway: tuple[FlakyGateway, str]
) -> None:
    # Given a gateway that loses every answer
    flaky, url = gateway
    flaky.lose = 10

    # When the helper retries twice, Then it reports the last failure
    with pytest.raises(ApiError) as failed:
        client_for(merchant, url, max_retries=2).request("POST", "/v1/payments", {"amount": "1"})
    assert failed.value.status == 502
    assert len(flaky.events) == 3
    # and every attempt landed on the one Idempotency-Key: one payment at most
    assert len(payment_ids(merchant)) == 1


def test_a_client_error_is_not_retried(
    merchant: MerchantCreds, gateway: tuple[FlakyGateway, str]
) -> None:
    flaky, url = gateway
    with pytest.raises(ApiError) as failed:
        client_for(merchant, url).request("POST", "/v1/payments", {"amount": "-1"})
    assert failed.value.status == 422
    assert len(flaky.events) == 1


def test_writes_never_repeat_a_signature_and_reads_keep_the_clock() -> None:
    client = Client("http://127.0.0.1:9", "ak_x", "sk_x")
    before = int(time.time())

    # Given the same DELETE signed three times at once, Then three signatures
    deletes = [client.signed_headers("DELETE", "/v1/webhook_endpoints/we_1", b"") for _ in "abc"]
    assert len({h["X-Signature"] for h in deletes}) == 3
    stamps = [int(h["X-Timestamp"]) for h in deletes]
    assert stamps == sorted(stamps) and stamps[0] >= before

    # Given a poll signing the same GET many times, Then it stays on the clock (a GET may
    # repeat; drifting ahead would leave the server's 300 s window)
    polls = [client.signed_headers("GET", "/v1/payments/pay_1", b"") for _ in range(400)]
    assert max(int(h["X-Timestamp"]) for h in polls) <= int(time.time())
