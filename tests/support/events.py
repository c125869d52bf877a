"""Build handler inputs from the sample events in ``events/`` (the same files a
developer reads), signed for real where the API needs it."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from shared.auth.signing import request_signature

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def api_event(
    template: str,
    method: str,
    path_with_query: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    event = copy.deepcopy(load(template))
    parts = urlsplit(path_with_query)
    multi: dict[str, list[str]] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        multi.setdefault(key, []).append(value)
    raw = body if isinstance(body, str) else ("" if body is None else json.dumps(body))
    event.update(
        {
            "httpMethod": method,
            "path": parts.path,
            "body": raw or None,
            "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
            "multiValueQueryStringParameters": multi or None,
            "pathParameters": {"proxy": parts.path.lstrip("/")},
        }
    )
    event["requestContext"]["path"] = parts.path
    event["requestContext"]["httpMethod"] = method
    event["headers"] = {k: v for k, v in event["headers"].items() if not k.startswith("X-")}
    event["headers"].pop("Idempotency-Key", None)
    event["headers"].update(headers or {})
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    return event


def signed(
    key_id: str,
    secret: str,
    method: str,
    path_with_query: str,
    body: Any = None,
    extra_headers: dict[str, str] | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    raw = body if isinstance(body, str) else ("" if body is None else json.dumps(body))
    t = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "X-Api-Key": key_id,
        "X-Timestamp": t,
        "X-Signature": request_signature(secret, t, method, path_with_query, raw.encode()),
        **(extra_headers or {}),
    }
    return api_event("merchant_api_create_payment", method, path_with_query, raw, headers)


class Context:
    function_name = "test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:test"
    aws_request_id = "test-request"

    def __init__(self, remaining_ms: int = 15_000) -> None:
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"]) if response.get("body") else None
