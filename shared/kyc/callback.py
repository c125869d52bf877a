"""The KYC provider's callback, ``POST /kyc/callback`` (public: no API key, no Cognito).

The provider signs each call like our own webhooks (docs/adr/0005, 0021)::

    X-Kyc-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>

and sends ``{"merchant_id": "mer_…", "status": "pending|verified|rejected",
"reason": "…"}``. The timestamp must be within ``BSCPAY_KYC_CALLBACK_TOLERANCE_S`` of
our clock, and a signature is accepted once (``shared.dal.replay``): a captured call
replayed later is refused. The record is removed again when the call then fails (a
bad body, an unknown merchant, a throttled write), so the provider's retry of the
same signed call is applied instead of refused. A callback signed before the
merchant's last KYC change (an admin's decision, a newer provider call) is
acknowledged but not applied.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from shared import config, ids
from shared.actor import Actor, acting
from shared.api.http import error_body
from shared.aws import secrets as aws_secrets
from shared.dal import merchants as merchant_repo
from shared.dal import replay
from shared.errors import (
    BscpayError,
    MalformedRequest,
    NotFound,
    ReplayedRequest,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)
from shared.kyc import service

logger = Logger(child=True)

PATH = "/kyc/callback"
HEADER = "X-Kyc-Signature"
SOURCE = "provider:kyc"
REPLAY_KEY = "kyc-callback"  # the replay record's namespace (no API key here)
MAX_BODY = 16 * 1024
SECRET_CACHE_S = 300.0


class CallbackDisabled(NotFound):
    code = "kyc_callback_disabled"


class StaleCallback(Unauthenticated):
    code = "stale_timestamp"


class BadSignature(Unauthenticated):
    code = "invalid_signature"


class MethodNotAllowed(BscpayError):
    status = 405
    code = "method_not_allowed"


def secret() -> str:
    """The shared secret: BSCPAY_KYC_CALLBACK_SECRET, else the Secrets Manager secret
    BSCPAY_KYC_CALLBACK_SECRET_ARN names (cached a few minutes); "" when neither."""
    settings = config.kyc()
    if settings.callback_secret.get_secret_value():
        return settings.callback_secret.get_secret_value()
    return aws_secrets.read(settings.callback_secret_arn, SECRET_CACHE_S)


def reset_cache() -> None:
    aws_secrets.forget()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _parse_signature(header: str) -> tuple[str, list[str]]:
    timestamp = ""
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1" and value:
            signatures.append(value)
    if not (timestamp.isascii() and timestamp.isdigit()) or not signatures:
        raise Unauthenticated(f"{HEADER} must be 't=<unix seconds>,v1=<hex>'", HEADER)
    return timestamp, signatures


def verify(headers: Mapping[str, str], body: bytes, now: int) -> str:
    """The signature's timestamp, or a 401 saying what is wrong (never the expected
    value). The signature is recorded as used: :func:`verified` forgets it again when
    the call then fails."""
    return verified(headers, body, now)[0]


def verified(headers: Mapping[str, str], body: bytes, now: int) -> tuple[str, str]:
    """(timestamp, accepted signature), recorded as used; else a 401."""
    key = secret()
    if not key:
        raise CallbackDisabled("the KYC callback is not configured on this deployment")
    header = _header(headers, HEADER)
    if not header:
        raise Unauthenticated(f"the {HEADER} header is required", HEADER)
    timestamp, candidates = _parse_signature(header[:1024])
    tolerance = config.kyc().callback_tolerance_s
    if abs(now - int(timestamp)) > tolerance:
        raise StaleCallback(
            f"the signature's timestamp is not within {tolerance} s of this server's clock "
            f"({now}); sign each call when it is sent",
            HEADER,
        )
    expected = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    accepted = next(
        (c for c in candidates if hmac.compare_digest(c.lower().encode(), expected.encode())), None
    )
    if accepted is None:
        raise BadSignature(
            "the signature does not match: HMAC-SHA256 of '<t>.<raw body>' with the shared "
            "secret, hex encoded",
            HEADER,
        )
    # Recorded until the timestamp can no longer pass the check above.
    if not replay.first_use(REPLAY_KEY, accepted, now, int(timestamp) + tolerance + 60):
        raise ReplayedRequest("this callback was accepted already", HEADER)
    return timestamp, accepted


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise MalformedRequest("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise MalformedRequest("the body must be a JSON object")
    merchant_id, status = payload.get("merchant_id"), payload.get("status")
    reason = payload.get("reason")
    if not isinstance(merchant_id, str) or not merchant_id:
        raise ValidationFailed("merchant_id is required", "merchant_id")
    if not isinstance(status, str):
        raise ValidationFailed("status is required", "status")
    if reason is not None and not isinstance(reason, str):
        raise ValidationFailed("reason must be a string", "reason")
    return {"merchant_id": merchant_id, "status": status, "reason": reason}


def handle(headers: Mapping[str, str], body: bytes, method: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of one callback."""
    if method.upper() != "POST":
        raise MethodNotAllowed(f"{PATH} accepts POST only")
    if len(body) > MAX_BODY:
        raise MalformedRequest(f"the body exceeds {MAX_BODY} bytes")
    content_type = (_header(headers, "Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    now = ids.now()
    signed_at, signature = verified(headers, body, now)
    try:
        return _apply(int(signed_at), body)
    except Exception:
        # Nothing was applied (or what was is applied again idempotently): the
        # provider's retry of this same signed call must not be refused as a replay.
        try:
            replay.forget(REPLAY_KEY, signature)
        except Exception:
            logger.exception("could not forget a failed KYC callback's signature")
        raise


def _apply(timestamp: int, body: bytes) -> tuple[int, dict[str, Any]]:
    payload = _payload(body)
    merchant_id = payload["merchant_id"]
    with acting(Actor(kind="provider", id="kyc")):
        current = (
            merchant_repo.get_merchant(merchant_id) if ids.plausible(merchant_id, "mer") else None
        )
        if current is None:
            raise NotFound(f"no merchant {merchant_id[:64]!r}", "merchant_id")
        if current.kyc_changed_at is not None and timestamp < current.kyc_changed_at:
            # Signed before the last change: an older decision must not undo a newer one.
            logger.info("outdated KYC callback ignored", extra={"merchant_id": merchant_id})
            return 200, _ack(current.merchant_id, current.kyc_status, applied=False)
        merchant, changed = service.set_status(
            merchant_id, payload["status"], payload["reason"], SOURCE
        )
    logger.info(
        "KYC callback",
        extra={"merchant_id": merchant_id, "kyc_status": merchant.kyc_status, "changed": changed},
    )
    return 200, _ack(merchant.merchant_id, merchant.kyc_status, applied=True)


def _ack(merchant_id: str, status: str, applied: bool) -> dict[str, Any]:
    return {
        "object": "kyc_callback",
        "merchant_id": merchant_id,
        "kyc_status": status,
        "applied": applied,
    }


def lambda_response(event: dict[str, Any]) -> dict[str, Any]:
    """An API Gateway proxy response for the callback event (the merchant API's handler
    hands ``/kyc/callback`` here before its HMAC API-key check)."""
    headers = event.get("headers") or {}
    try:
        raw = event.get("body") or ""
        try:
            body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
        except ValueError:
            raise MalformedRequest("the body is not valid base64") from None
        status, payload = handle(headers, body, str(event.get("httpMethod") or ""))
        text = json.dumps(payload)
    except BscpayError as exc:
        status = exc.status
        text = error_body(exc.type, exc.code, exc.message, exc.param)
    except Exception:
        logger.exception("KYC callback failed")
        raise
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": text,
        "isBase64Encoded": False,
    }
