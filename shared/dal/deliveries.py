"""Webhook delivery attempts (kept 30 days)."""

from __future__ import annotations

from shared.dal import models as m
from shared.dal._base import bind, take
from shared.models.domain import (
    Delivery,
)

DELIVERY_RETENTION_DAYS = 30


def put_delivery(d: Delivery, created_ms: int) -> None:
    bind()
    _delivery_item(d, created_ms).save()


def put_deliveries(items: list[tuple[Delivery, int]]) -> None:
    """Many attempt records in BatchWriteItem calls (a dispatcher batch at once)."""
    bind()
    with m.DeliveryModel.batch_write() as batch:
        for d, created_ms in items:
            batch.save(_delivery_item(d, created_ms))


def _delivery_item(d: Delivery, created_ms: int) -> m.DeliveryModel:
    return m.DeliveryModel(
        d.endpoint_id,
        f"{created_ms:013d}#{d.delivery_id}",
        delivery_id=d.delivery_id,
        event_id=d.event_id,
        event_type=d.event_type,
        attempt=d.attempt,
        created=d.created,
        status_code=d.status_code,
        latency_ms=d.latency_ms,
        error=d.error,
        response_excerpt=d.response_excerpt,
        expires_at_ttl=d.created + DELIVERY_RETENTION_DAYS * 86400,
    )


def deliveries_of(
    endpoint_id: str, limit: int, before_key: str | None
) -> tuple[list[Delivery], bool]:
    bind()
    cond = m.DeliveryModel.attempt_key < before_key if before_key else None
    query = m.DeliveryModel.query(endpoint_id, cond, scan_index_forward=False, limit=limit + 1)
    items = [_delivery(i) for i in take(query, limit + 1)]
    return items[:limit], len(items) > limit


def deliveries_of_event(event_id: str, limit: int = 50) -> list[Delivery]:
    """An event's attempts across all endpoints, oldest first (at most ``limit``)."""
    bind()
    query = m.DeliveryModel.by_event.query(event_id, limit=limit)
    return [_delivery(i) for i in take(query, limit)]


def _delivery(i: m.DeliveryModel) -> Delivery:
    return Delivery(
        delivery_id=i.delivery_id,
        endpoint_id=i.endpoint_id,
        event_id=i.event_id,
        event_type=i.event_type,
        attempt=int(i.attempt),
        created=int(i.created),
        status_code=int(i.status_code) if i.status_code is not None else None,
        latency_ms=int(i.latency_ms),
        error=i.error,
        response_excerpt=i.response_excerpt,
        cursor=i.attempt_key,
    )
