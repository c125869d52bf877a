"""Prefixed, sortable-enough identifiers (``pay_…``, ``evt_…``, ``ak_…``)."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    # Millisecond prefix keeps ids roughly time-ordered; 10 random bytes make them unguessable.
    return f"{prefix}_{int(time.time() * 1000):011x}{secrets.token_hex(10)}"


def now() -> int:
    return int(time.time())
