"""Per-API-key budgets over HTTP on the local stack (issue 15 §3): an admin lowers a
merchant's budget and its key gets 429 ``rate_limited`` with ``Retry-After``; the merchant
client waits what the server says."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from bscpay_merchant import ApiError, Client

from tests.e2e.conftest import new_shop, user_headers

pytestmark = pytest.mark.e2e


def test_lowering_a_merchants_budget_gives_its_key_429_with_retry_after(
    stack: dict[str, Any],
) -> None:
    merchant_id, client = new_shop(stack, "Budget Shop")
    _, neighbour = new_shop(stack, "Neighbour Shop")
    assert client.request("GET", "/v1/payments?limit=1")["object"] == "list"

    # When support lowers the merchant's budget to 2 requests a minute
    lowered = requests.post(
        f"{stack['api_url']}/admin/merchants/{merchant_id}",
        json={"rate_limit_per_minute": 2},
        headers=user_headers(stack, "support"),
        timeout=30,
    )
    assert lowered.status_code == 200, lowered.text
    assert lowered.json()["rate_limit_per_minute"] == 2

    # Then its key is refused within seconds (containers re-read the budget every 5 s)
    refused: ApiError | None = None
    deadline = time.monotonic() + 60
    while refused is None and time.monotonic() < deadline:
        try:
            client.request("GET", "/v1/payments?limit=1")
        except ApiError as exc:
            refused = exc
        time.sleep(0.2)
    assert refused is not None, "no 429 within 60 s"
    assert refused.status == 429
    assert refused.body["error"]["code"] == "rate_limited"
    assert refused.retry_after_s is not None and 1 <= refused.retry_after_s <= 60

    # And the raw answer carries Retry-After over HTTP
    signed = client.signed_headers("GET", "/v1/payments?limit=1", b"")
    raw = requests.get(f"{stack['api_url']}/v1/payments?limit=1", headers=signed, timeout=30)
    if raw.status_code == 429:  # unless the window just turned over
        assert 1 <= int(raw.headers["Retry-After"]) <= 60
        assert raw.json()["error"]["type"] == "rate_limit_error"

    # And another merchant's key is not affected
    assert neighbour.request("GET", "/v1/payments?limit=1")["object"] == "list"


def test_the_merchant_client_waits_what_retry_after_says_before_retrying() -> None:
    # A client that would wait longer than it may gives the 429 back at once
    client = Client("http://127.0.0.1:9", "ak_x", "sk_x", max_retries=3, max_retry_after_s=5)
    error = ApiError(429, {"error": {"code": "rate_limited"}}, retry_after_s=30)

    calls: list[float] = []

    def refuse(*_: Any) -> Any:
        calls.append(time.monotonic())
        from bscpay_merchant import _Retryable

        raise _Retryable(error)

    client._send = refuse  # type: ignore[method-assign]
    with pytest.raises(ApiError) as raised:
        client.request("GET", "/v1/payments")
    assert raised.value.retry_after_s == 30
    assert len(calls) == 1  # not retried sooner than the server asked
