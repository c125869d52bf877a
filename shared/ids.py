"""Prefixed, sortable-enough identifiers (``pay_…``, ``evt_…``, ``ak_…``)."""

from __future__ import annotations

import re
import secrets
import time


def new_id(prefix: str) -> str:
    # Millisecond prefix keeps ids roughly time-ordered; 10 random bytes make them unguessable.
    return f"{prefix}_{int(time.time() * 1000):011x}{secrets.token_hex(10)}"


def now() -> int:
    return int(time.time())


_ID = re.compile(r"[a-z]{2,4}_[0-9a-f]{1,60}")


def plausible(value: str, prefix: str) -> bool:
    """Could this be one of our ids? Checked before a lookup: a 3,000-character key
    would make DynamoDB refuse the request (a 5xx) instead of a clean 404."""
    return value.startswith(prefix + "_") and _ID.fullmatch(value) is not None
