"""Verify an HMAC-signed merchant request. Every unproven signature is a 401 of one type and
code. Its message carries a safe hint, as Stripe's and AWS SigV4's do: the shape of
the string to sign, what this server signed (timestamp, method, path and query, body
length and hash: all from the request itself), and whether the timestamp looks like
milliseconds. Never the expected signature or anything derived from the secret; an
unknown key, a revoked key and a wrong signature get the very same message.

A proven signature on a state-changing request (anything but GET, HEAD, OPTIONS) is
accepted once: sent again it is a 401 ``replayed_request`` (ADR 0004)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping, Sequence

from shared import config, ids
from shared.auth import secrets
from shared.auth.signing import request_signature
from shared.dal import merchants as merchant_repo
from shared.dal import replay as replay_repo
from shared.errors import Forbidden, ReplayedRequest, Unauthenticated
from shared.models.domain import ApiKey


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return None


CANONICAL = "{timestamp}\\n{METHOD}\\n{path_with_query}\\n{raw_body}"
_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


def _clip(value: str, limit: int = 200) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def _bad_signature(
    timestamp: str, method: str, paths: Sequence[str], body: bytes
) -> Unauthenticated:
    """What the server signed, so a client can diff it against its own string."""
    signed = " or ".join(repr(_clip(p)) for p in paths)
    return Unauthenticated(
        "invalid request signature: X-Signature must be the hex HMAC-SHA256, keyed with "
        f'your API secret, of "{CANONICAL}". This server signed timestamp {timestamp}, '
        f"method {method.upper()}, path_with_query {signed} and a body of {len(body)} "
        f"bytes (sha256 {hashlib.sha256(body).hexdigest()[:16]}…)",
        "X-Signature",
    )


def _bad_timestamp(timestamp: str, now: int) -> Unauthenticated:
    if len(timestamp) == 13 and abs(now - int(timestamp) // 1000) <= 24 * 3600:
        return Unauthenticated(
            f"X-Timestamp {timestamp} looks like milliseconds: send unix seconds (e.g. {now})",
            "X-Timestamp",
        )
    return Unauthenticated(
        f"request timestamp is outside the allowed window: X-Timestamp {_clip(timestamp, 20)} "
        f"is not within {config.api().signature_tolerance_s} s of this server's clock ({now} "
        "unix seconds)",
        "X-Timestamp",
    )


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
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 13:
        raise Unauthenticated("X-Timestamp must be unix seconds (ASCII digits)", "X-Timestamp")
    now = ids.now() if now is None else now
    if abs(now - int(timestamp)) > config.api().signature_tolerance_s:
        raise _bad_timestamp(timestamp, now)
    if not _HEX_SIGNATURE.fullmatch(signature):
        raise Unauthenticated(
            "X-Signature must be 64 hex characters: the hex HMAC-SHA256 of "
            f'"{CANONICAL}" keyed with your API secret',
            "X-Signature",
        )
    if len(key_id) > 64:
        raise _bad_signature(timestamp, method, path_candidates, body)

    key = merchant_repo.get_api_key(key_id)
    if key is None or key.status != "active":
        raise _bad_signature(timestamp, method, path_candidates, body)
    secret = secrets.decrypt(key.key_id, key.secret_ciphertext)
    matched = False
    for path in path_candidates:
        expected = request_signature(secret, timestamp, method, path, body)
        # compare_digest on every candidate: timing does not reveal which matched.
        # As bytes: compare_digest refuses str with non-ASCII characters (TypeError).
        matched |= hmac.compare_digest(expected.encode(), signature.lower().encode())
    if not matched:
        raise _bad_signature(timestamp, method, path_candidates, body)
    if key.ip_allowlist and not _ip_allowed(source_ip, key.ip_allowlist):
        raise Forbidden("request IP is not in this API key's allowlist")
    _refuse_replay(key.key_id, method, timestamp, signature, now)
    return key


# Methods that change nothing may be repeated as they are (a browser or proxy may).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Room for clock differences between the function and DynamoDB's TTL sweeper.
REPLAY_TTL_MARGIN_S = 60


def _refuse_replay(key_id: str, method: str, timestamp: str, signature: str, now: int) -> None:
    """A state-changing request is accepted once per signature. Checked only once the
    signature is proven (a stranger cannot fill the table), and recorded before the
    handler runs: a request that fails afterwards is still used up, so a retry is
    signed anew (the Idempotency-Key makes that retry safe)."""
    if method.upper() in SAFE_METHODS:
        return
    # The timestamp is accepted until it is tolerance seconds in the past, whichever side
    # of this server's clock it was on; after that the window check refuses it anyway.
    expires_at = int(timestamp) + config.api().signature_tolerance_s + REPLAY_TTL_MARGIN_S
    if not replay_repo.first_use(key_id, signature, now, expires_at):
        raise ReplayedRequest(
            "this request's signature was already used: a state-changing request is "
            "accepted once. Sign each request anew; retry with the same Idempotency-Key "
            "and a fresh X-Timestamp/X-Signature",
            "X-Signature",
        )


def _ip_allowed(source_ip: str | None, allowlist: Sequence[str]) -> bool:
    if not source_ip:
        return False
    try:
        ip = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in allowlist)
