"""Idempotency keys of POST requests (claim, complete, release)."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import PutError

from shared.dal import models as m
from shared.dal._base import bind, is_condition_failure


@dataclass
class IdempotencyRecord:
    request_hash: str
    state: str
    response_status: int | None
    response_body: str | None


IDEMPOTENCY_LOCK_S = 120  # > the API function's timeout


def claim_idempotency_key(
    key: str, request_hash: str, now: int, ttl_s: int
) -> IdempotencyRecord | None:
    """Claim the key; None when claimed, else the record that holds it."""
    bind()
    item = m.IdempotencyModel(
        key,
        request_hash=request_hash,
        state="in_progress",
        created_at=now,
        expires_at_ttl=now + ttl_s,
    )
    try:
        # An expired record (TTL deletion is lazy) may be taken over, and so may a claim
        # whose request died mid-way (still in progress long after any Lambda timeout).
        item.save(
            condition=m.IdempotencyModel.idempotency_key.does_not_exist()
            | (m.IdempotencyModel.expires_at_ttl < now)
            | (
                (m.IdempotencyModel.state == "in_progress")
                & (m.IdempotencyModel.created_at < now - IDEMPOTENCY_LOCK_S)
            )
        )
        return None
    except PutError as exc:
        if not is_condition_failure(exc):
            raise
    existing = m.IdempotencyModel.get(key, consistent_read=True)
    return IdempotencyRecord(
        request_hash=existing.request_hash,
        state=existing.state,
        response_status=int(existing.response_status) if existing.response_status else None,
        response_body=existing.response_body,
    )


def complete_idempotency_key(key: str, status: int, body: str) -> None:
    bind()
    m.IdempotencyModel(key).update(
        actions=[
            m.IdempotencyModel.state.set("done"),
            m.IdempotencyModel.response_status.set(status),
            m.IdempotencyModel.response_body.set(body),
        ]
    )


def release_idempotency_key(key: str) -> None:
    bind()
    m.IdempotencyModel(key).delete(condition=m.IdempotencyModel.state == "in_progress")
