"""OpenAPI response declarations shared by the resolvers, so the generated document
describes what the API really answers (our error format, not Powertools' default)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared.models.api import ErrorOut

_ERRORS = {
    400: "Malformed request (e.g. invalid JSON)",
    401: "Missing or invalid authentication",
    403: "Not permitted (e.g. an IP outside the key's allowlist, approving one's own payout)",
    404: "No such resource",
    409: "Conflict (idempotency or state)",
    415: "The body is not application/json",
    422: "Validation failed",
    429: "Rate limited (rate_limited: the API key is over its budget); see Retry-After",
}


def responses(status: int, model: type[BaseModel], description: str) -> dict[int, Any]:
    out: dict[int, Any] = {
        status: {"description": description, "content": {"application/json": {"model": model}}}
    }
    for code, text in _ERRORS.items():
        out[code] = {"description": text, "content": {"application/json": {"model": ErrorOut}}}
    return out
