"""What the public checkout status endpoint reads and writes besides payments (issue 13):
a per-client request counter and the scanner's progress (for confirmations)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from shared.dal import system as system_repo
from shared.dal._base import Binder

SCANNER_CURSOR = "scanner_cursor"  # shared.jobs.scanner.CURSOR (dal never imports jobs)


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


@dataclass(frozen=True)
class ScanProgress:
    head: int  # the last block the scanner has read
    finalized: int | None  # the last finalized block it saw (None: unknown)


def scan_progress() -> ScanProgress | None:
    item = system_repo.get_system(SCANNER_CURSOR)
    if item is None or item.block is None:
        return None
    finalized: int | None = None
    try:
        data: Any = json.loads(item.data_json or "{}")
        value = (data.get("finalized") or [None])[0]
        finalized = int(value) if value is not None and int(value) >= 0 else None
    except (ValueError, TypeError, AttributeError):
        finalized = None
    return ScanProgress(head=int(item.block), finalized=finalized)
