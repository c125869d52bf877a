"""Request counters in the ``rate_limits`` table: one item per counter and window,
incremented with an atomic ``ADD`` and gone after a TTL. Every Lambda container sees the
same count (unlike an in-memory bucket). Used by the public checkout status endpoint
(per client IP) and the merchant API (per API key, issue 15)."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from shared.dal._base import Binder


class RateLimitModel(Model):
    class Meta:
        table_name = "unbound"
        region = "us-east-1"
        logical = "rate_limits"

    key = UnicodeAttribute(hash_key=True)
    hits = NumberAttribute(default=0)
    expires_at_ttl = NumberAttribute(null=True)


bind = Binder((RateLimitModel,))


def hit(key: str, expires_at: int) -> int:
    """Count one request under ``key`` (atomic ADD, creating the item); returns the count
    so far. The item disappears after ``expires_at`` (TTL)."""
    bind()
    item = RateLimitModel(key)
    item.update(actions=[RateLimitModel.hits.add(1), RateLimitModel.expires_at_ttl.set(expires_at)])
    return int(item.hits)
