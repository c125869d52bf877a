"""Deliver one event to one endpoint: sign afresh, POST to the checked IP, judge.

A non-2xx answer, a timeout or a refused target raises ``DeliveryFailed``; the
dispatcher turns that into an SQS retry with backoff. No redirects are followed
and only the first bytes of a response are read.
"""

from __future__ import annotations

import http.client
import random
import ssl
import time
from dataclasses import dataclass

from shared import config, ids
from shared.auth import secrets
from shared.dal import repo
from shared.errors import ValidationFailed
from shared.webhooks import signature, ssrf

TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 4096
USER_AGENT = "bscpay-webhooks/1"

# Backoff for retry n (1-based): 30 s doubling, +-20 % jitter, capped at SQS's 12 h.
BASE_DELAY_S = 30
MAX_DELAY_S = 12 * 3600


class DeliveryFailed(Exception):
    pass


class Skip(Exception):
    """Nothing to deliver (endpoint deleted or disabled, event gone): not a failure."""


@dataclass
class Attempt:
    status: int | None
    latency_ms: int
    error: str | None


def retry_delay(receive_count: int) -> int:
    delay = min(BASE_DELAY_S * 2 ** max(receive_count - 1, 0), MAX_DELAY_S)
    jittered = int(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not crypto
    # Cap after the jitter: SQS refuses a visibility timeout above 12 h.
    return min(jittered, MAX_DELAY_S)


def deliver(event_id: str, endpoint_id: str) -> Attempt:
    endpoint = repo.get_endpoint(endpoint_id)
    stored = repo.event_payload(event_id)
    if endpoint is None or endpoint.status != "enabled" or stored is None:
        raise Skip(f"endpoint {endpoint_id} or event {event_id} is gone or disabled")
    merchant_id, body_text = stored
    if merchant_id != endpoint.merchant_id:
        raise Skip("event and endpoint belong to different merchants")
    body = body_text.encode()
    try:
        target = ssrf.check_url(endpoint.url, config.api().local_mode)
    except ValidationFailed as exc:
        raise DeliveryFailed(f"target refused: {exc.message}") from exc
    secret = secrets.decrypt(endpoint.endpoint_id, endpoint.secret_ciphertext)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Bscpay-Signature": signature.sign(body, [secret], ids.now()),
        "Bscpay-Event-Id": event_id,
        "Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
    }
    started = time.monotonic()
    try:
        status = _post(target, headers, body)
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    latency = int((time.monotonic() - started) * 1000)
    if not 200 <= status < 300:
        raise DeliveryFailed(f"endpoint answered HTTP {status}")
    return Attempt(status=status, latency_ms=latency, error=None)


def _post(target: ssrf.Target, headers: dict[str, str], body: bytes) -> int:
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        # Connect to the checked IP, but verify the certificate for the host name.
        context = ssl.create_default_context()
        conn = _PinnedHTTPSConnection(target.host, target.ip, target.port, TIMEOUT_S, context)
    else:
        conn = http.client.HTTPConnection(target.ip, target.port, timeout=TIMEOUT_S)
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return response.status
    finally:
        conn.close()


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, ip: str, port: int, timeout: float, context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=context)
        self._ip = ip
        self._context = context

    def connect(self) -> None:
        import socket

        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
