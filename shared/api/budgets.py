"""Per-API-key request budgets of the merchant API (issue 15, docs/adr/0033).

Each authenticated request counts once in a fixed one-minute window per key (an atomic
``ADD`` in the ``rate_limits`` table, so every Lambda container sees one count). Over the
budget: 429 ``rate_limited`` with ``Retry-After`` (the seconds left in the window). The
budget is the merchant's ``rate_limit_per_minute`` or the deployment default. Webhook
redeliveries and test events fan out to every endpoint, so they also count against a
small per-merchant budget of their own. In AWS a WAF rate-based rule keyed on the
``X-Api-Key`` header sits in front as a coarse first line (infra/cdk/constructs/api.py);
this is the exact one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shared import config
from shared.dal import merchants as merchant_repo
from shared.dal import rate_limits
from shared.errors import RateLimited

WINDOW_S = 60
# A merchant's own budget is re-read at most this often per container: an admin's change
# applies within this many seconds.
OVERRIDE_TTL_S = 5.0


class _Overrides:
    """The merchants' own budgets, cached briefly per container (one GetItem per merchant
    every few seconds instead of one per request)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._seen: dict[str, tuple[float, int | None]] = {}

    def of(self, merchant_id: str) -> int | None:
        now = self.clock()
        cached = self._seen.get(merchant_id)
        if cached is not None and now - cached[0] < OVERRIDE_TTL_S:
            return cached[1]
        merchant = merchant_repo.get_merchant(merchant_id)
        limit = merchant.rate_limit_per_minute if merchant is not None else None
        if len(self._seen) > 10_000:  # a bound, not an eviction policy: containers recycle
            self._seen.clear()
        self._seen[merchant_id] = (now, limit)
        return limit


overrides = _Overrides()


def budget_of(merchant_id: str) -> int:
    own = overrides.of(merchant_id)
    return own if own is not None else config.api().api_rate_limit_per_minute


def _count(key: str, limit: int, now: float, what: str) -> None:
    start = int(now) // WINDOW_S * WINDOW_S
    hits = rate_limits.hit(f"{key}#{start}", expires_at=start + 2 * WINDOW_S)
    if hits > limit:
        retry = max(start + WINDOW_S - int(now), 1)
        raise RateLimited(
            f"{what} is over its budget of {limit} requests a minute; retry in {retry} s",
            retry_after_s=retry,
        )


def spend(key_id: str, merchant_id: str, now: float | None = None) -> None:
    """Count one request of this API key; raise RateLimited past its budget."""
    _count(
        f"api#{key_id}", budget_of(merchant_id), time.time() if now is None else now, "this API key"
    )


def spend_webhook_action(merchant_id: str, now: float | None = None) -> None:
    """Count one redelivery or test event of this merchant (its own small budget)."""
    limit = config.api().webhook_action_limit_per_minute
    when = time.time() if now is None else now
    _count(f"hooks#{merchant_id}", limit, when, "webhook redelivery and test events")
