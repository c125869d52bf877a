"""The second, independent price source: an HTTP rates adapter (docs/pricing.md).

``GET {BSCPAY_PRICE_RATES_URL}`` answers ``{"rates": {"EUR/USD": "1.0801", ...}}``
(decimal strings or numbers, USD per unit). Calls have a timeout and go through a
circuit breaker, so a dead source costs one timeout per reset period, not one per quote.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import pybreaker

from shared import config

MAX_ANSWER = 64 * 1024


class RatesUnavailable(Exception):
    """The source gave no usable answer (transport, status, body, breaker open)."""


@lru_cache(maxsize=1)
def _breaker() -> pybreaker.CircuitBreaker:
    s = config.pricing()
    return pybreaker.CircuitBreaker(
        fail_max=s.rates_breaker_fail_max,
        reset_timeout=s.rates_breaker_reset_s,
        name="price-rates",
    )


def reset() -> None:
    """Forget the breaker (tests that move the source)."""
    _breaker.cache_clear()


def fetch() -> dict[str, Decimal]:
    """Every rate the source knows now, pair -> USD per unit."""
    try:
        return dict(_breaker().call(_ask))
    except pybreaker.CircuitBreakerError:
        raise RatesUnavailable("the second price source failed repeatedly; resting") from None


def _ask() -> dict[str, Decimal]:
    s = config.pricing()
    if not s.rates_url:
        raise RatesUnavailable("no second price source configured (BSCPAY_PRICE_RATES_URL)")
    request = urllib.request.Request(  # noqa: S310 - the operator's configured URL
        s.rates_url, headers={"Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=s.rates_timeout_s) as reply:  # noqa: S310
            raw = reply.read(MAX_ANSWER + 1)
    except urllib.error.HTTPError as exc:
        raise RatesUnavailable(f"price source answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:  # URLError, timeouts, resets
        raise RatesUnavailable(f"price source unreachable: {type(exc).__name__}") from None
    if len(raw) > MAX_ANSWER:
        raise RatesUnavailable("price source answer too large")
    try:
        body = json.loads(raw)
        rates = body["rates"]
        parsed = {str(pair): Decimal(str(value)) for pair, value in rates.items()}
    except (ValueError, KeyError, TypeError, AttributeError, InvalidOperation):
        raise RatesUnavailable('price source answer is not {"rates": {pair: number}}') from None
    if any(not value.is_finite() or value <= 0 for value in parsed.values()):
        raise RatesUnavailable("price source answered a rate that is not positive")
    return parsed
