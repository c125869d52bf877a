"""Resolver middlewares for the merchant API: HMAC authentication, then
``Idempotency-Key`` handling for POSTs. Powertools validates the request before
these run; ``refusal`` lets the validation error handlers answer 401 first, so an
unauthenticated caller learns nothing about the request shape."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from shared import config, ids
from shared.actor import Actor, acting
from shared.api import budgets
from shared.api.http import check_json_body, error_response, event_body, proxy_error, raw_body
from shared.auth import hmac_auth
from shared.custody import envelope
from shared.dal import idempotency as idempotency_repo
from shared.dal import merchants as merchant_repo
from shared.errors import (
    BscpayError,
    IdempotencyConflict,
    MerchantSuspended,
    ValidationFailed,
)

IDEMPOTENCY_TTL_S = 24 * 3600
MERCHANT = "merchant_id"


def _path_candidates(event: APIGatewayProxyEvent) -> list[str]:
    """The path as the client sent it. API Gateway hands over path and query
    separately; rebuild the query in its original order with RFC 3986 quoting.
    Behind the execute-api URL the stage prefix is part of what the client sent."""
    multi = event.multi_value_query_string_parameters or {}
    query = "&".join(
        f"{quote(k, safe='')}={quote(v, safe='')}" for k, values in multi.items() for v in values
    )
    suffix = f"?{query}" if query else ""
    candidates = [event.path + suffix]
    stage_path = event.request_context.path
    if stage_path and stage_path != event.path:
        candidates.append(stage_path + suffix)
    return candidates


def resolve(app: APIGatewayRestResolver, raw_event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Authenticate, then let the resolver validate and route.

    Powertools validates the request before any middleware runs, so the signature
    check happens here first: an unauthenticated caller gets 401 and learns nothing
    about request shapes, and no body is parsed before the caller is known."""
    event = APIGatewayProxyEvent(raw_event)
    try:
        key = hmac_auth.authenticate(
            headers=event.headers or {},
            method=event.http_method,
            path_candidates=_path_candidates(event),
            body=event_body(event),
            source_ip=event.request_context.identity.source_ip,
        )
        budgets.spend(key.key_id, key.merchant_id)
        check_json_body(event)
        if event.http_method.upper() not in ("GET", "HEAD", "OPTIONS"):
            _require_active(key.merchant_id)
    except BscpayError as exc:
        return proxy_error(exc)
    app.append_context(**{MERCHANT: key.merchant_id, "api_key_id": key.key_id})
    caller = Actor(
        kind="api_key", id=key.key_id, merchant_id=key.merchant_id, created_by=key.created_by
    )
    request = event.request_context
    with acting(caller, request.request_id, request.identity.source_ip or ""):
        return app.resolve(raw_event, context)


def _require_active(merchant_id: str) -> None:
    """A suspended merchant reads but does not write (docs/adr/0019)."""
    merchant = merchant_repo.get_merchant(merchant_id)
    if merchant is not None and merchant.status == "suspended":
        raise MerchantSuspended(
            "this merchant account is suspended: reads work, changes are refused; "
            "contact the operator"
        )


def _context(record_key: str) -> dict[str, str]:
    return {"purpose": "bscpay-idempotent-response", "key": record_key}


def _seal_response(record_key: str, body: str) -> str:
    """Stored responses may hold a secret shown once (a new webhook endpoint's
    `whsec_…`): they are kept only envelope-encrypted under the secrets key."""
    return envelope.seal(config.aws().secrets_key_id, body.encode(), _context(record_key))


def _open_response(record_key: str, sealed: str | None) -> str:
    return envelope.open_sealed(sealed, _context(record_key)).decode() if sealed else ""


def idempotency(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[str]:
    event = app.current_event
    supplied = (event.headers or {}).get("Idempotency-Key") or (event.headers or {}).get(
        "idempotency-key"
    )
    if event.http_method != "POST" or supplied is None:
        return next_middleware(app)
    if not 1 <= len(supplied) <= 255:
        return error_response(ValidationFailed("Idempotency-Key must be 1-255 characters"))
    merchant_id = app.context[MERCHANT]
    record_key = f"{merchant_id}#{supplied}"
    digest = hashlib.sha256(
        f"{event.http_method}\n{event.path}\n".encode() + raw_body(app)
    ).hexdigest()
    existing = idempotency_repo.claim_idempotency_key(
        record_key, digest, ids.now(), IDEMPOTENCY_TTL_S
    )
    if existing is not None:
        if existing.request_hash != digest:
            return error_response(
                IdempotencyConflict(
                    "this Idempotency-Key was used with a different request", "Idempotency-Key"
                )
            )
        if existing.state != "done" or existing.response_status is None:
            return error_response(
                IdempotencyConflict("a request with this Idempotency-Key is in progress")
            )
        return Response(
            status_code=existing.response_status,
            content_type="application/json",
            body=_open_response(record_key, existing.response_body),
            headers={"Idempotent-Replayed": "true"},
        )
    try:
        response = next_middleware(app)
    except Exception:
        idempotency_repo.release_idempotency_key(record_key)
        raise
    if 200 <= response.status_code < 300:
        body = response.body if isinstance(response.body, str) else json.dumps(response.body)
        idempotency_repo.complete_idempotency_key(
            record_key, response.status_code, _seal_response(record_key, body)
        )
    else:
        # a failed request may be retried, fixed
        idempotency_repo.release_idempotency_key(record_key)
    return response
