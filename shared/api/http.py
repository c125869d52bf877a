"""The one place typed errors become HTTP responses, and helpers for the resolvers."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from shared.errors import BscpayError, MalformedRequest, UnsupportedMediaType, ValidationFailed

logger = Logger(child=True)


def error_body(error_type: str, code: str, message: str, param: str | None = None) -> str:
    err: dict[str, Any] = {"type": error_type, "code": code, "message": message}
    if param:
        err["param"] = param
    return json.dumps({"error": err})


def error_response(exc: BscpayError) -> Response[str]:
    return Response(
        status_code=exc.status,
        content_type="application/json",
        body=error_body(exc.type, exc.code, exc.message, exc.param),
        headers=exc.headers() or None,
    )


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":")),
        headers=headers,
    )


Gate = Callable[[APIGatewayRestResolver], "Response[str] | None"]


def install_error_handlers(app: APIGatewayRestResolver, gate: Gate | None = None) -> None:
    """``gate`` answers a request that fails authentication (else None). Request
    validation runs before middlewares, so its errors are shown only past the gate."""

    def refused() -> Response[str] | None:
        return gate(app) if gate is not None else None

    @app.exception_handler(BscpayError)
    def _typed(exc: BscpayError) -> Response[str]:
        return error_response(exc)

    @app.exception_handler(RecursionError)
    def _too_deep(exc: RecursionError) -> Response[str]:
        # json.loads raises RecursionError, not JSONDecodeError, on deeply nested input.
        denied = refused()
        if denied is not None:
            return denied
        return error_response(MalformedRequest("request body is nested too deeply"))

    @app.exception_handler(RequestUnsupportedContentType)
    def _media_type(exc: RequestUnsupportedContentType) -> Response[str]:
        # check_json_body refuses these first; this keeps a missed path a 415, never a 500.
        denied = refused()
        if denied is not None:
            return denied
        return error_response(UnsupportedMediaType("Content-Type must be application/json"))

    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError) -> Response[str]:
        denied = refused()
        if denied is not None:
            return denied
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(MalformedRequest("request body is not valid JSON"))
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        message = str(first.get("msg", "invalid request"))
        if first.get("type") in ("literal_error", "enum"):  # name what was refused
            message = f"{repr(first.get('input'))[:80]} is not accepted. {message}"
        return error_response(ValidationFailed(message, ".".join(loc) or None))

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        denied = refused()  # no route, so no middleware ran
        if denied is not None:
            return denied
        return Response(
            status_code=404,
            content_type="application/json",
            body=error_body("invalid_request_error", "route_not_found", "no such route"),
        )

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        # Never a stack trace in a response; the log has it.
        logger.exception("unhandled error")
        return Response(
            status_code=500,
            content_type="application/json",
            body=error_body("api_error", "internal_error", "internal error"),
        )


def proxy_error(exc: BscpayError) -> dict[str, Any]:
    """An error answered before the resolver runs, as an API Gateway proxy response."""
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": "application/json", **exc.headers()},
        "body": error_body(exc.type, exc.code, exc.message, exc.param),
        "isBase64Encoded": False,
    }


def event_body(event: APIGatewayProxyEvent) -> bytes:
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode()


def check_media_type(event: APIGatewayProxyEvent) -> None:
    """A body must be JSON; a declared non-JSON type is refused even without a body
    (the request parser would choke on it)."""
    content_type = next(
        (v for k, v in (event.headers or {}).items() if k.lower() == "content-type"), ""
    )
    media_type = content_type.split(";")[0].strip().lower()
    if (event.body or media_type) and media_type != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json", "Content-Type")


MAX_JSON_DEPTH = 32


def check_body_shape(event: APIGatewayProxyEvent) -> None:
    """Bodies are JSON objects of modest depth. Checked before any parser runs: a
    deeply nested body can exhaust the recursion limit (a segfault where a library has
    raised that limit), and a JSON array would otherwise be validated element-wise."""
    body = event_body(event)
    if not body:
        return
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):  # { [
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                raise MalformedRequest(f"request body is nested deeper than {MAX_JSON_DEPTH}")
        elif byte in (0x7D, 0x5D):
            depth -= 1
    if body.lstrip()[:1] != b"{":
        try:
            json.loads(body)  # depth is bounded above, so this is safe
        except ValueError as exc:
            raise MalformedRequest("request body is not valid JSON") from exc
        raise ValidationFailed("request body must be a JSON object")


def check_json_body(event: APIGatewayProxyEvent) -> None:
    """What both APIs require of a body before any parser sees it (run after the
    caller is authenticated, so a stranger learns nothing about request shapes)."""
    check_media_type(event)
    check_body_shape(event)


def raw_body(app: APIGatewayRestResolver) -> bytes:
    event = app.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        return base64.b64decode(body)
    return body.encode()


def parse_limit(raw: str | None, default: int = 10, maximum: int = 100) -> int:
    if raw is None:
        return default
    # isascii: str.isdigit() also accepts digits such as "\u00b2" that int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise ValidationFailed(f"limit must be an integer between 1 and {maximum}", "limit")
    return int(raw)
