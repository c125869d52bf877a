"""bscpay merchant helper: sign API requests and verify webhooks.

Dependency-free (standard library only): copy this file into your project.

    from bscpay_merchant import Client, verify_webhook

    client = Client("https://pay.example.com", key_id="ak_...", secret="sk_...")
    payment = client.request("POST", "/v1/payments", {"amount": "12.50", "order_id": "A-1"})

    # in your webhook view, with the raw request body bytes:
    event = verify_webhook(body, request.headers["Bscpay-Signature"], ["whsec_..."])
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

__all__ = ["ApiError", "Client", "WebhookVerificationError", "sign_request", "verify_webhook"]


class WebhookVerificationError(Exception):
    pass


class ApiError(Exception):
    def __init__(self, status: int, body: Any, retry_after_s: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body
        self.retry_after_s = retry_after_s  # the server's Retry-After (429, 503), if any


def sign_request(
    secret: str, timestamp: str, method: str, path_with_query: str, body: bytes
) -> str:
    """hex HMAC-SHA256(secret, "{timestamp}\\n{METHOD}\\n{path_with_query}\\n{raw_body}")."""
    message = f"{timestamp}\n{method.upper()}\n{path_with_query}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_webhook(
    payload: bytes, header: str, secrets: list[str], tolerance: int = 300
) -> dict[str, Any]:
    """Check a ``Bscpay-Signature`` header and return the parsed event.

    Accepts any ``v1`` signature made with any of ``secrets`` (rotation), rejects
    timestamps more than ``tolerance`` seconds away. Dedupe on ``event["id"]``.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value.isascii():
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookVerificationError("malformed Bscpay-Signature header")
    if abs(time.time() - timestamp) > tolerance:
        raise WebhookVerificationError("timestamp outside the tolerance window")
    signed = str(timestamp).encode() + b"." + payload
    valid = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        for candidate in signatures:
            valid |= hmac.compare_digest(expected, candidate)
    if not valid:
        raise WebhookVerificationError("no valid signature for the given secrets")
    event: dict[str, Any] = json.loads(payload)
    return event


# Answers worth another attempt: throttled, or our side failed (nothing was done, or the
# Idempotency-Key replays what was done). Network errors and timeouts are retried too.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# The server accepts the signature of any other method once (401 replayed_request).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _Retryable(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class Client:
    """A minimal signed HTTP client for the merchant API.

    Every attempt, retries included, is signed anew: the server accepts a POST or
    DELETE signature once (a replay gets 401 ``replayed_request``). A POST without an
    ``idempotency_key`` gets a random one, so a retry never does the work twice.
    """

    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret: str,
        timeout: float = 15.0,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        max_retry_after_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self.secret = secret
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        # Waits a Retry-After longer than this raise instead (the caller decides).
        self.max_retry_after_s = max_retry_after_s
        # Last X-Timestamp used per request content: the same bytes sent again within
        # one second still get a new timestamp, hence a new signature.
        self._last_timestamp: dict[str, int] = {}
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        path_with_query: str,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        method = method.upper()
        raw = b"" if body is None else json.dumps(body).encode()
        if method == "POST" and idempotency_key is None and self.max_retries > 0:
            idempotency_key = uuid.uuid4().hex
        attempt = 0
        while True:
            try:
                return self._send(method, path_with_query, raw, idempotency_key)
            except _Retryable as failed:
                wait = self.backoff_s * 2**attempt
                told = getattr(failed.error, "retry_after_s", None)
                if told is not None:  # the server said how long: never sooner
                    wait = max(wait, told)
                if attempt >= self.max_retries or wait > self.max_retry_after_s:
                    raise failed.error from None
                attempt += 1
                time.sleep(wait)

    def signed_headers(self, method: str, path_with_query: str, body: bytes) -> dict[str, str]:
        """X-Api-Key, X-Timestamp and X-Signature for one attempt: a POST or DELETE
        signature is never used twice, a GET's is (the server lets reads repeat)."""
        timestamp = str(self._fresh_timestamp(method.upper(), path_with_query, body))
        return {
            "X-Api-Key": self.key_id,
            "X-Timestamp": timestamp,
            "X-Signature": sign_request(self.secret, timestamp, method, path_with_query, body),
        }

    def _fresh_timestamp(self, method: str, path_with_query: str, body: bytes) -> int:
        now = int(time.time())
        if method in SAFE_METHODS:
            return now  # a read may repeat its signature (a poll must not drift ahead)
        content = hashlib.sha256(f"{method}\n{path_with_query}\n".encode() + body).hexdigest()
        with self._lock:
            timestamp = max(now, self._last_timestamp.get(content, 0) + 1)
            # Entries older than this second can no longer push a timestamp forward.
            stale = [k for k, t in self._last_timestamp.items() if t < now]
            for key in stale:
                del self._last_timestamp[key]
            self._last_timestamp[content] = timestamp
        return timestamp

    def _send(
        self, method: str, path_with_query: str, raw: bytes, idempotency_key: str | None
    ) -> Any:
        headers = {
            **self.signed_headers(method, path_with_query, raw),
            "Content-Type": "application/json",
        }
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        request = urllib.request.Request(  # noqa: S310 - the merchant's own API URL
            self.base_url + path_with_query, data=raw or None, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            text = exc.read()
            try:
                detail = json.loads(text)
            except ValueError:
                detail = text.decode(errors="replace")
            error = ApiError(exc.code, detail, _retry_after(exc.headers.get("Retry-After")))
            if exc.code in RETRY_STATUSES:
                raise _Retryable(error) from None
            raise error from None
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out
            raise _Retryable(exc) from None


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the API sends delta-seconds; an HTTP date is not used)."""
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None
