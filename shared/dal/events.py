"""Merchant events: the outbox the webhook dispatcher drains, and the event log."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable

from pynamodb.exceptions import DoesNotExist

from shared.dal import models as m
from shared.dal._base import bind, created_key, full_items, take
from shared.models.domain import (
    Event,
)

EVENT_RETENTION_DAYS = 30


# The outbox index's partitions (issue 16 §2): every new event is written into one of
# them, so the index's write load spreads over OUTBOX_SHARDS partitions instead of one
# ("pending", which events from before the sharding may still be in).
OUTBOX_SHARDS = 8
LEGACY_OUTBOX = "pending"


def outbox_shard(event_id: str) -> str:
    digest = hashlib.sha256(event_id.encode()).digest()
    return f"pending#{digest[0] % OUTBOX_SHARDS}"


# Bodies longer than this are stored deflated (docs/adr/0041): an event item then fits
# one write unit, and so does each of its writes (put, dispatched).
DEFLATE_ABOVE = 512


def event_item(e: Event, outbox: bool = True) -> m.EventModel:
    payload = {"id": e.event_id, "type": e.type, "created": e.created, "data": e.data}
    body = json.dumps(payload, separators=(",", ":"))
    deflated = len(body) > DEFLATE_ABOVE
    return m.EventModel(
        e.event_id,
        merchant_id=e.merchant_id,
        payment_id=e.payment_id,
        type=e.type,
        created=e.created,
        created_key=created_key(e.created, e.event_id),
        seq=e.seq,
        payload_json=None if deflated else body,
        payload_z=zlib.compress(body.encode(), 9) if deflated else None,
        outbox=outbox_shard(e.event_id) if outbox else None,
        expires_at_ttl=e.created + EVENT_RETENTION_DAYS * 86400 + 86400,
    )


def body_of(item: m.EventModel) -> str:
    """The event's exact JSON body (what webhooks sign and send)."""
    if item.payload_z is not None:
        return zlib.decompress(item.payload_z).decode()
    return str(item.payload_json)


def _event(item: m.EventModel) -> Event:
    payload = json.loads(body_of(item))
    return Event(
        event_id=item.event_id,
        type=item.type,
        created=int(item.created),
        merchant_id=item.merchant_id,
        payment_id=item.payment_id,
        seq=int(item.seq),
        data=payload["data"],
    )


def put_event(event: Event, outbox: bool) -> None:
    """An event outside a payment change (e.g. a test ping)."""
    bind()
    event_item(event, outbox).save(condition=m.EventModel.event_id.does_not_exist())


def get_event(event_id: str) -> Event | None:
    bind()
    try:
        return _event(m.EventModel.get(event_id))
    except DoesNotExist:
        return None


def event_payload(event_id: str) -> tuple[str, str] | None:
    """(merchant_id, exact JSON body) of a stored event, as it is delivered."""
    bind()
    try:
        item = m.EventModel.get(event_id)
    except DoesNotExist:
        return None
    return item.merchant_id, body_of(item)


def outbox_pending(created_before: int, limit: int = 100) -> list[Event]:
    """Undispatched events created before ``created_before``, oldest first, across every
    outbox partition (at most ``limit``)."""
    bind()
    found: list[m.EventModel] = []
    for partition in (LEGACY_OUTBOX, *(f"pending#{n}" for n in range(OUTBOX_SHARDS))):
        found.extend(
            m.EventModel.outbox_index.query(
                partition, m.EventModel.created_key < f"{created_before:012d}", limit=limit
            )
        )
    found.sort(key=lambda item: str(item.created_key))
    # The index holds keys only (docs/adr/0041): the events themselves are read by id.
    return _full(found[:limit])


def _full(entries: Iterable[m.EventModel]) -> list[Event]:
    """The events behind index entries, in their order (one expired since is left out)."""
    return [_event(i) for i in full_items(m.EventModel, entries)]


def mark_dispatched(event_id: str) -> None:
    bind()
    m.EventModel(event_id).update(
        actions=[m.EventModel.outbox.remove()],
        condition=m.EventModel.event_id.exists(),
    )


def event_payloads(event_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """event id -> (merchant_id, exact JSON body), one BatchGetItem per 100 ids."""
    bind()
    keys = sorted(set(event_ids))
    return {i.event_id: (i.merchant_id, body_of(i)) for i in m.EventModel.batch_get(keys)}


def list_events(
    merchant_id: str,
    limit: int,
    starting_after: Event | None,
    event_type: str | None,
    payment_id: str | None,
) -> tuple[list[Event], bool]:
    """Newest first; by payment via its own index, by type as a filter."""
    bind()
    index = m.EventModel.by_payment if payment_id else m.EventModel.by_merchant
    range_cond = (
        m.EventModel.created_key < created_key(starting_after.created, starting_after.event_id)
        if starting_after is not None
        else None
    )
    filters = m.EventModel.merchant_id == merchant_id
    if event_type:
        filters = filters & (m.EventModel.type == event_type)
    query = index.query(
        payment_id or merchant_id,
        range_cond,
        filter_condition=filters,
        scan_index_forward=False,
        page_size=max(limit + 1, 50),
    )
    # The indexes hold what the filters need, not the events (docs/adr/0041).
    items = _full(take(query, limit + 1))
    return items[:limit], len(items) > limit
