"""The HTTP screening provider adapter (docs/adr/0020).

``POST {BSCPAY_SCREENING_PROVIDER_URL}`` with ``{"address", "chain_id"}``, signed like
our own API requests (DESIGN §3): ``X-Bscpay-Timestamp: <unix>`` and
``X-Bscpay-Signature: hex HMAC-SHA256(secret, "{t}\\nPOST\\n{path}\\n{body}")``. The
provider answers ``{"level": "none|low|medium|high|severe"}``; levels listed in
``BSCPAY_SCREENING_FLAG_LEVELS`` hold the funds.

Each answer is cached per address for ``cache_ttl_s`` (in the ``screening`` table, so
it outlives a Lambda container). Calls go through a circuit breaker: after
``breaker_failures`` failures in a row the provider is left alone for
``breaker_reset_s``. When it cannot answer and nothing is cached, ``fail_mode``
decides: ``closed`` holds the funds (level "unknown", source "provider_unavailable"),
``open`` lets them through and raises an operator alert.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pybreaker
from aws_lambda_powertools import Logger

from shared import aws, config
from shared.alerts import raise_alert
from shared.dal import screening as store
from shared.screening import LEVELS, Verdict

logger = Logger(child=True)

MAX_ANSWER = 64 * 1024
SECRET_CACHE_S = 300.0


class ProviderError(Exception):
    """The provider did not give a usable answer (transport, status, body)."""


class ProviderSource:
    def __init__(self, settings: config.ScreeningSettings) -> None:
        self.settings = settings
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_failures,
            reset_timeout=settings.breaker_reset_s,
            name="screening-provider",
        )
        self._secret: tuple[bytes, float] | None = None

    def secret(self) -> bytes:
        """BSCPAY_SCREENING_PROVIDER_SECRET, else the Secrets Manager secret
        BSCPAY_SCREENING_PROVIDER_SECRET_ARN names (cached a few minutes)."""
        s = self.settings
        if s.provider_secret.get_secret_value() or not s.provider_secret_arn:
            return s.provider_secret.get_secret_value().encode()
        if self._secret is None or self._secret[1] < time.monotonic():
            try:
                value = aws.client("secretsmanager").get_secret_value(
                    SecretId=s.provider_secret_arn
                )
            except Exception as exc:  # never the secret itself in the message
                raise ProviderError(f"provider secret unreadable: {type(exc).__name__}") from None
            secret = str(value.get("SecretString") or "").encode()
            self._secret = (secret, time.monotonic() + SECRET_CACHE_S)
        return self._secret[0]

    # -- the Source interface --

    def screen(self, address: str) -> Verdict:
        now = int(time.time())
        cached = store.get_cached(address, now)
        if cached is not None:
            return self._verdict(cached.level)
        try:
            level = self.breaker.call(self.ask, address)
        except (pybreaker.CircuitBreakerError, ProviderError) as exc:
            return self._unavailable(address, exc)
        if self.settings.cache_ttl_s > 0:
            store.put_cached(address, level, now + self.settings.cache_ttl_s, now)
        return self._verdict(level)

    # -- internals --

    def ask(self, address: str) -> str:
        s = self.settings
        body = json.dumps(
            {"address": address, "chain_id": config.chain().chain_id}, separators=(",", ":")
        ).encode()
        timestamp = str(int(time.time()))
        path = urlsplit(s.provider_url).path or "/"
        message = f"{timestamp}\nPOST\n{path}\n".encode() + body
        secret = self.secret()
        request = urllib.request.Request(  # noqa: S310 - the operator's configured URL
            s.provider_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Bscpay-Timestamp": timestamp,
                "X-Bscpay-Signature": hmac.new(secret, message, hashlib.sha256).hexdigest(),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=s.timeout_s) as reply:  # noqa: S310
                raw = reply.read(MAX_ANSWER + 1)
        except urllib.error.HTTPError as exc:
            raise ProviderError(f"provider answered HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets
            raise ProviderError(f"provider unreachable: {type(exc).__name__}") from None
        if len(raw) > MAX_ANSWER:
            raise ProviderError("provider answer too large")
        try:
            answer = json.loads(raw)
        except ValueError:
            raise ProviderError("provider answer is not JSON") from None
        level = str(answer.get("level", "")).lower() if isinstance(answer, dict) else ""
        if level not in LEVELS or level == "unknown":
            raise ProviderError(f"provider answered an unknown level {level[:20]!r}")
        return level

    def _verdict(self, level: str) -> Verdict:
        flagged = level in self.settings.flagged_levels()
        return Verdict(flagged=flagged, level=level, source="provider")

    def _unavailable(self, address: str, exc: Exception) -> Verdict:
        reason = "circuit open" if isinstance(exc, pybreaker.CircuitBreakerError) else str(exc)
        if self.settings.fail_mode == "open":
            raise_alert(
                "screening_failed_open",
                "screening provider unavailable: funds credited unscreened",
                address=address,
                reason=reason,
            )
            return Verdict(flagged=False, level="unknown", source="provider_unavailable")
        logger.warning(
            "screening provider unavailable: funds held (fail closed)",
            extra={"address": address, "reason": reason},
        )
        return Verdict(flagged=True, level="unknown", source="provider_unavailable")


_source: tuple[config.ScreeningSettings, ProviderSource] | None = None


def configured() -> ProviderSource | None:
    """The provider of this deployment (one breaker per process), or None."""
    global _source
    settings = config.screening()
    if not settings.provider_url:
        return None
    if _source is None or _source[0] is not settings:
        _source = (settings, ProviderSource(settings))
    return _source[1]
