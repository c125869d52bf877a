"""Resolver middlewares for the merchant API: HMAC authentication, then
``Idempotency-Key`` handling for POSTs. Powertools validates the request before
these run; ``refusal`` lets the validation error handlers answer 401 first, so an
unauthenticated caller learns nothing about the request shape."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from shared import ids
from shared.api.http import error_response, raw_body
from shared.auth import hmac_auth
from shared.dal import repo
from shared.errors import BscpayError, IdempotencyConflict, ValidationFailed
from shared.models.domain import ApiKey

IDEMPOTENCY_TTL_S = 24 * 3600
MERCHANT = "merchant_id"


def _path_candidates(app: APIGatewayRestResolver) -> list[str]:
    """The path as the client sent it. API Gateway hands over path and query
    separately; rebuild the query in its original order with RFC 3986 quoting.
    Behind the execute-api URL the stage prefix is part of what the client sent."""
    event = app.current_event
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


def _verify(app: APIGatewayRestResolver) -> ApiKey:
    event = app.current_event
    return hmac_auth.authenticate(
        headers=event.headers or {},
        method=event.http_method,
        path_candidates=_path_candidates(app),
        body=raw_body(app),
        source_ip=event.request_context.identity.source_ip,
    )


def authenticate(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[str]:
    try:
        key = _verify(app)
    except BscpayError as exc:
        return error_response(exc)
    app.append_context(**{MERCHANT: key.merchant_id, "api_key_id": key.key_id})
    return next_middleware(app)


def refusal(app: APIGatewayRestResolver) -> Response[str] | None:
    """The 401/403 for a request that does not authenticate, else None.

    Powertools runs request validation before any middleware, so a malformed request
    fails before ``authenticate`` ran. The error handlers ask this first: an
    unauthenticated caller gets the plain 401, never a hint about the request shape."""
    try:
        _verify(app)
    except BscpayError as exc:
        return error_response(exc)
    return None


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
    existing = repo.claim_idempotency_key(record_key, digest, ids.now(), IDEMPOTENCY_TTL_S)
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
            body=existing.response_body or "",
            headers={"Idempotent-Replayed": "true"},
        )
    try:
        response = next_middleware(app)
    except Exception:
        repo.release_idempotency_key(record_key)
        raise
    if 200 <= response.status_code < 300:
        body = response.body if isinstance(response.body, str) else json.dumps(response.body)
        repo.complete_idempotency_key(record_key, response.status_code, body)
    else:
        repo.release_idempotency_key(record_key)  # a failed request may be retried, fixed
    return response
