"""Secrets Manager values read at run time and cached briefly per container: a value
that rotates is picked up within the cache time, and no secret sits in a Lambda's
environment or the template (only the secret's ARN does)."""

from __future__ import annotations

import threading
import time

from shared import aws

CACHE_S = 300.0

_lock = threading.Lock()
_cache: dict[str, tuple[str, float]] = {}


def read(arn: str, cache_s: float = CACHE_S) -> str:
    """The SecretString of ``arn`` ("" for an empty ARN), cached ``cache_s`` seconds."""
    if not arn:
        return ""
    with _lock:
        hit = _cache.get(arn)
        if hit is None or hit[1] < time.monotonic():
            value = aws.client("secretsmanager").get_secret_value(SecretId=arn)
            hit = (str(value.get("SecretString") or ""), time.monotonic() + cache_s)
            _cache[arn] = hit
        return hit[0]


def forget() -> None:
    """Drop every cached value (tests; a rotation that must apply at once)."""
    with _lock:
        _cache.clear()
