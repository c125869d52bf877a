"""Make moto's DynamoDB behave like DynamoDB under concurrency (local stack only).

moto runs ``TransactWriteItems`` without isolation: a cancelled transaction restores
a copy of every table it touched, taken before it started, which silently erases
writes other requests committed meanwhile. The local stack serves several threads
(API, scanner, expirer, webhook pollers), so every DynamoDB call is serialized here,
giving the all-or-nothing, isolated transactions the real service provides.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.RLock()
_applied = False


def serialize_dynamodb() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self: DynamoHandler) -> Any:
        with _LOCK:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _applied = True
