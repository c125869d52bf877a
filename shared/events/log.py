"""The merchant's event log: immutable events, listed and redelivered."""

from __future__ import annotations

from shared import ids
from shared.dal import audit
from shared.dal import endpoints as endpoint_repo
from shared.dal import events as event_repo
from shared.errors import NotFound, ValidationFailed
from shared.events import outbox
from shared.models.domain import Event
from shared.models.events import SUBSCRIBABLE_EVENT_TYPES


def get(merchant_id: str, event_id: str) -> Event:
    event = event_repo.get_event(event_id) if ids.plausible(event_id, "evt") else None
    if event is None or event.merchant_id != merchant_id:
        raise NotFound(f"no event {event_id!r}", "id")
    return event


def list_for(
    merchant_id: str,
    limit: int,
    starting_after: str | None,
    event_type: str | None,
    payment_id: str | None,
) -> tuple[list[Event], bool]:
    if event_type is not None and event_type not in (*SUBSCRIBABLE_EVENT_TYPES, "ping"):
        raise ValidationFailed(f"unknown event type {event_type!r}", "type")
    after = get(merchant_id, starting_after) if starting_after else None
    return event_repo.list_events(merchant_id, limit, after, event_type, payment_id)


def merchant_of(event_id: str) -> str:
    """The merchant an event belongs to (the admin console redelivers any merchant's)."""
    event = event_repo.get_event(event_id) if ids.plausible(event_id, "evt") else None
    if event is None:
        raise NotFound(f"no event {event_id!r}", "event_id")
    return event.merchant_id


def redeliver(merchant_id: str, event_id: str) -> int:
    """Send the same event (same id) again to every enabled endpoint subscribed to it."""
    event = get(merchant_id, event_id)
    targets = [
        e.endpoint_id
        for e in endpoint_repo.endpoints_of(merchant_id)
        if e.status == "enabled" and event.type in e.events
    ]
    # It changes no item of ours (the event goes to the queue again): its record stands alone.
    audit.append(
        [
            audit.AuditEntry(
                "event.redelivered",
                f"event:{event_id}",
                after={"endpoints": len(targets)},
                merchant_id=merchant_id,
            )
        ]
    )
    outbox.enqueue_for(event.event_id, targets)
    return len(targets)
