"""The transactional outbox.

Events are written with ``outbox="pending#<shard>"`` (one of eight index partitions)
in the same DynamoDB transaction as
the state change. ``publish`` then fans each event out as one SQS message per
subscribed webhook endpoint and clears the flag. If the process dies in between,
or SQS refuses, ``relay`` (run by the expirer every minute and by the scanner)
finds the event on the sparse ``outbox`` index and publishes it again. Delivery is
at least once; receivers dedupe on the event id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from aws_lambda_powertools import Logger

from shared import aws, config, ids
from shared.dal import endpoints as endpoint_repo
from shared.dal import events as event_repo
from shared.models.domain import Event

logger = Logger(child=True)

# An event younger than this is probably still being published by its writer.
RELAY_GRACE_S = 10


def publish(events: Iterable[Event]) -> int:
    """Enqueue deliveries for each event; returns how many events were handed over."""
    done = 0
    for event in events:
        try:
            _enqueue(event)
            event_repo.mark_dispatched(event.event_id)
            done += 1
        except Exception:
            # The event stays in the outbox; relay() retries it. Never lose it.
            logger.exception("outbox publish failed", extra={"event_id": event.event_id})
    return done


def relay(now: int | None = None, limit: int = 100) -> int:
    now = ids.now() if now is None else now
    return publish(event_repo.outbox_pending(created_before=now - RELAY_GRACE_S, limit=limit))


def _enqueue(event: Event) -> None:
    endpoints = [
        e
        for e in endpoint_repo.endpoints_of(event.merchant_id)
        if e.status == "enabled" and event.type in e.events
    ]
    enqueue_for(event.event_id, [e.endpoint_id for e in endpoints])


def enqueue_for(event_id: str, endpoint_ids: list[str]) -> None:
    """One message per (event, endpoint): a slow endpoint delays only its own."""
    if not endpoint_ids:
        return
    entries = [
        {"Id": str(i), "MessageBody": json.dumps({"event_id": event_id, "endpoint_id": e})}
        for i, e in enumerate(endpoint_ids)
    ]
    sqs = aws.client("sqs")
    for start in range(0, len(entries), 10):
        result = sqs.send_message_batch(
            QueueUrl=config.aws().webhook_queue_url, Entries=entries[start : start + 10]
        )
        if result.get("Failed"):
            raise RuntimeError(f"SQS refused {len(result['Failed'])} webhook messages")
