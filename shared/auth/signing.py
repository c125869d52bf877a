"""The request-signing scheme of DESIGN §3, shared by the verifier, the local
tools and the merchant helper: hex HMAC-SHA256(secret, "{t}\n{METHOD}\n{path}\n{body}")."""

from __future__ import annotations

import hashlib
import hmac


def request_signature(
    secret: str, timestamp: str, method: str, path_with_query: str, body: bytes
) -> str:
    message = f"{timestamp}\n{method.upper()}\n{path_with_query}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
