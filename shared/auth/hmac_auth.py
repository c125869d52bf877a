"""Verify an HMAC-signed merchant request. Every failure is the same 401 to the
caller (no oracle on which part was wrong); the reason goes to the logs only."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping, Sequence

from shared import config, ids
from shared.auth import secrets
from shared.auth.signing import request_signature
from shared.dal import merchants as merchant_repo
from shared.errors import Forbidden, Unauthenticated
from shared.models.domain import ApiKey


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return None


def authenticate(
    headers: Mapping[str, str],
    method: str,
    path_candidates: Sequence[str],
    body: bytes,
    source_ip: str | None,
    now: int | None = None,
) -> ApiKey:
    key_id = _header(headers, "X-Api-Key")
    timestamp = _header(headers, "X-Timestamp")
    signature = _header(headers, "X-Signature")
    if not key_id or not timestamp or not signature:
        raise Unauthenticated("X-Api-Key, X-Timestamp and X-Signature headers are required")
    # isascii: str.isdigit() also accepts digits such as "\u00b2" that int() refuses.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise Unauthenticated("invalid request signature")
    now = ids.now() if now is None else now
    if abs(now - int(timestamp)) > config.api().signature_tolerance_s:
        raise Unauthenticated("request timestamp is outside the allowed window")
    if len(key_id) > 64 or len(signature) > 128:
        raise Unauthenticated("invalid request signature")

    key = merchant_repo.get_api_key(key_id)
    if key is None or key.status != "active":
        raise Unauthenticated("invalid request signature")
    secret = secrets.decrypt(key.key_id, key.secret_ciphertext)
    matched = False
    for path in path_candidates:
        expected = request_signature(secret, timestamp, method, path, body)
        # compare_digest on every candidate: timing does not reveal which matched.
        # As bytes: compare_digest refuses str with non-ASCII characters (TypeError).
        matched |= hmac.compare_digest(expected.encode(), signature.lower().encode())
    if not matched:
        raise Unauthenticated("invalid request signature")
    if key.ip_allowlist and not _ip_allowed(source_ip, key.ip_allowlist):
        raise Forbidden("request IP is not in this API key's allowlist")
    return key


def _ip_allowed(source_ip: str | None, allowlist: Sequence[str]) -> bool:
    if not source_ip:
        return False
    try:
        ip = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in allowlist)
