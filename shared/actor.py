"""Who the current request or invocation acts as: an admin, a merchant's API key, or
one of the system's functions. The API handlers and each scheduled or queue-driven
function set it once per request (:func:`acting`); the audit trail reads it, so no
service has to pass "who" through every call."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    kind: str  # "admin" | "api_key" | "system"
    id: str  # Cognito sub | API key id | function name
    name: str = ""  # Cognito username (admins)
    roles: tuple[str, ...] = ()  # Cognito groups (admins)
    merchant_id: str | None = None  # API keys
    created_by: str | None = None  # API keys: the admin who created the key

    @property
    def label(self) -> str:
        if self.kind == "admin":
            return f"admin:{self.name or self.id}"
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class _Request:
    actor: Actor
    request_id: str = ""
    source_ip: str = ""


def system(function: str) -> Actor:
    return Actor(kind="system", id=function)


_current: ContextVar[_Request | None] = ContextVar("bscpay_actor", default=None)


def _request() -> _Request:
    found = _current.get()
    if found is not None:
        return found
    # Nothing set: a function outside any handler (a CLI, a test) acts as the service.
    return _Request(system(os.environ.get("POWERTOOLS_SERVICE_NAME") or "unknown"))


def current() -> Actor:
    return _request().actor


def request_id() -> str:
    return _request().request_id


def source_ip() -> str:
    return _request().source_ip


@contextmanager
def acting(actor: Actor, request_id: str = "", source_ip: str = "") -> Iterator[None]:
    """Act as ``actor`` inside the block; whatever was set before returns after it
    (a warm Lambda container never carries one request's actor into the next)."""
    token = _current.set(_Request(actor, request_id or "", source_ip or ""))
    try:
        yield
    finally:
        _current.reset(token)
