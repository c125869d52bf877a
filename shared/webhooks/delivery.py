"""Deliver one event to one endpoint: sign afresh, POST to the checked IP, judge.

A non-2xx answer, a timeout or a refused target raises ``DeliveryFailed``; the
dispatcher turns that into an SQS retry with backoff. No redirects are followed
and only the first bytes of a response are read.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

from shared import config, ids
from shared.auth import secrets
from shared.dal import deliveries as delivery_repo
from shared.dal import endpoints as endpoint_repo
from shared.dal import events as event_repo
from shared.errors import ValidationFailed
from shared.models.domain import Delivery, WebhookEndpoint
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


class Gone(Exception):
    """The endpoint answered 410 Gone: it has been disabled; no retry."""


@dataclass
class Attempt:
    status: int | None
    latency_ms: int
    error: str | None
    excerpt: str | None = None


EXCERPT_CHARS = 500


def retry_delay(receive_count: int) -> int:
    delay = min(BASE_DELAY_S * 2 ** max(receive_count - 1, 0), MAX_DELAY_S)
    jittered = int(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not crypto
    # Cap after the jitter: SQS refuses a visibility timeout above 12 h.
    return min(jittered, MAX_DELAY_S)


def signing_secrets(endpoint: WebhookEndpoint, now: int) -> list[str]:
    """The current secret, plus the previous one while a rotation's grace period runs."""
    out = [secrets.decrypt(endpoint.endpoint_id, endpoint.secret_ciphertext)]
    if (
        endpoint.previous_secret_ciphertext
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > now
    ):
        out.append(secrets.decrypt(endpoint.endpoint_id, endpoint.previous_secret_ciphertext))
    return out


@dataclass
class Batch:
    """What a dispatcher batch loads and writes at once instead of per record:
    endpoints and event bodies (two BatchGetItem calls), attempt records (BatchWrite)."""

    endpoints: dict[str, WebhookEndpoint]
    payloads: dict[str, tuple[str, str]]
    log: list[tuple[Delivery, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, pairs: list[tuple[str, str]]) -> Batch:
        return cls(
            endpoints=endpoint_repo.endpoints_by_id(e for _, e in pairs if e),
            payloads=event_repo.event_payloads(ev for ev, _ in pairs if ev),
        )

    def add(self, record: tuple[Delivery, int]) -> None:
        with self._lock:
            self.log.append(record)

    def flush(self) -> None:
        if self.log:
            delivery_repo.put_deliveries(self.log)


def deliver(
    event_id: str, endpoint_id: str, attempt_number: int = 1, batch: Batch | None = None
) -> Attempt:
    """One attempt, recorded in the endpoint's delivery log whatever its outcome."""
    if batch is not None:
        endpoint = batch.endpoints.get(endpoint_id)
        stored = batch.payloads.get(event_id)
    else:
        endpoint = endpoint_repo.get_endpoint(endpoint_id)
        stored = event_repo.event_payload(event_id)
    if endpoint is None or endpoint.status != "enabled" or stored is None:
        raise Skip(f"endpoint {endpoint_id} or event {event_id} is gone or disabled")
    merchant_id, body_text = stored
    if merchant_id != endpoint.merchant_id:
        raise Skip("event and endpoint belong to different merchants")
    event_type = str(json.loads(body_text).get("type", ""))
    attempt = _attempt(endpoint, body_text.encode(), event_id)
    record = _record(endpoint_id, event_id, event_type, attempt_number, attempt)
    if batch is not None:
        batch.add(record)
    else:
        delivery_repo.put_delivery(*record)
    if attempt.status == 410:
        endpoint_repo.set_endpoint_status(endpoint_id, "disabled")
        raise Gone(f"endpoint {endpoint_id} answered 410 Gone; disabled")
    if attempt.status is None or not 200 <= attempt.status < 300:
        raise DeliveryFailed(attempt.error or f"endpoint answered HTTP {attempt.status}")
    if endpoint.failing_since is not None:
        endpoint_repo.mark_endpoint_failing(endpoint_id, None)  # healthy again
    return attempt


def _attempt(endpoint: WebhookEndpoint, body: bytes, event_id: str) -> Attempt:
    started = time.monotonic()

    def failed(error: str) -> Attempt:
        return Attempt(None, int((time.monotonic() - started) * 1000), error[:EXCERPT_CHARS])

    try:
        target = ssrf.check_url(endpoint.url, config.api().local_mode)
    except ValidationFailed as exc:
        return failed(f"target refused: {exc.message}")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        # Signed afresh for every attempt: a new t, every live secret.
        "Bscpay-Signature": signature.sign(body, signing_secrets(endpoint, ids.now()), ids.now()),
        "Bscpay-Event-Id": event_id,
        "Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
    }
    try:
        status, excerpt = _post(target, headers, body)
    except (OSError, http.client.HTTPException) as exc:
        return failed(f"{type(exc).__name__}: {exc}")
    latency = int((time.monotonic() - started) * 1000)
    error = None if 200 <= status < 300 else f"endpoint answered HTTP {status}"
    return Attempt(status, latency, error, excerpt)


def _record(
    endpoint_id: str, event_id: str, event_type: str, number: int, a: Attempt
) -> tuple[Delivery, int]:
    now_ms = int(time.time() * 1000)
    delivery = Delivery(
        delivery_id=ids.new_id("del"),
        endpoint_id=endpoint_id,
        event_id=event_id,
        event_type=event_type,
        attempt=number,
        created=now_ms // 1000,
        status_code=a.status,
        latency_ms=a.latency_ms,
        error=a.error,
        response_excerpt=a.excerpt,
    )
    return delivery, now_ms


def _post(target: ssrf.Target, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        # Connect to the checked IP, but verify the certificate for the host name.
        context = ssl.create_default_context()
        conn = _PinnedHTTPSConnection(target.host, target.ip, target.port, TIMEOUT_S, context)
    else:
        conn = http.client.HTTPConnection(target.ip, target.port, timeout=TIMEOUT_S)
    # TIMEOUT_S bounds each socket operation; the watchdog bounds the whole attempt, so
    # an endpoint that drips a byte at a time cannot hold a worker past the deadline.
    watchdog = threading.Timer(TIMEOUT_S, _abort, args=(conn,))
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        # Redirects are not followed (a 3xx is a failure); only the start is read.
        excerpt = response.read(MAX_RESPONSE_BYTES)
        return response.status, excerpt[:EXCERPT_CHARS].decode(errors="replace")
    finally:
        watchdog.cancel()
        conn.close()


def _abort(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, ip: str, port: int, timeout: float, context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=context)
        self._ip = ip
        self._context = context

    def connect(self) -> None:

        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
