"""Stripe-style webhook signatures: ``Bscpay-Signature: t=<unix>,v1=<hex>``,
v1 = HMAC-SHA256(endpoint_secret, f"{t}.{raw_body}"). During a secret rotation a
header carries one v1 per secret."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


def sign(payload: bytes, secrets: Sequence[str], timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + payload
    parts = [f"t={timestamp}"]
    parts += [f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in secrets]
    return ",".join(parts)
