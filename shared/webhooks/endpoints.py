"""Merchant webhook endpoint management."""

from __future__ import annotations

from collections.abc import Iterable

from shared import config, ids
from shared.auth import secrets
from shared.dal import deliveries as delivery_repo
from shared.dal import endpoints as endpoint_repo
from shared.dal import events as event_repo
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.events import outbox
from shared.models.domain import Delivery, Event, WebhookEndpoint
from shared.webhooks import ssrf

MAX_ENDPOINTS = 16


def create(merchant_id: str, url: str, events: Iterable[str]) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its signing secret (shown to the merchant once).
    ``events`` are names the handler checked against ``SUBSCRIBABLE_EVENT_TYPES``."""
    ssrf.check_url(url, config.api().local_mode)
    if len(endpoint_repo.endpoints_of(merchant_id)) >= MAX_ENDPOINTS:
        raise ValidationFailed(f"at most {MAX_ENDPOINTS} webhook endpoints per merchant")
    endpoint_id = ids.new_id("we")
    secret = secrets.new_secret("whsec")
    endpoint = WebhookEndpoint(
        endpoint_id=endpoint_id,
        merchant_id=merchant_id,
        url=url,
        events=sorted(set(events)),
        created_at=ids.now(),
        secret_ciphertext=secrets.encrypt(endpoint_id, secret),
    )
    endpoint_repo.put_endpoint(endpoint)
    return endpoint, secret


def list_for(merchant_id: str) -> list[WebhookEndpoint]:
    return endpoint_repo.endpoints_of(merchant_id)


def delete(merchant_id: str, endpoint_id: str) -> None:
    if not ids.plausible(endpoint_id, "we") or not endpoint_repo.delete_endpoint(
        endpoint_id, merchant_id
    ):
        raise NotFound(f"no webhook endpoint {endpoint_id!r}", "id")


ROTATION_GRACE_S = 24 * 3600


def get_owned(merchant_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = endpoint_repo.get_endpoint(endpoint_id) if ids.plausible(endpoint_id, "we") else None
    if endpoint is None or endpoint.merchant_id != merchant_id:
        raise NotFound(f"no webhook endpoint {endpoint_id!r}", "id")
    return endpoint


def rotate_secret(merchant_id: str, endpoint_id: str) -> tuple[WebhookEndpoint, str]:
    """A new secret now; for 24 h deliveries carry a v1 for the old one as well."""
    endpoint = get_owned(merchant_id, endpoint_id)
    secret = secrets.new_secret("whsec")
    ciphertext = secrets.encrypt(endpoint_id, secret)
    if not endpoint_repo.rotate_endpoint_secret(
        endpoint_id,
        merchant_id,
        ciphertext,
        endpoint.secret_ciphertext,
        ids.now() + ROTATION_GRACE_S,
    ):
        raise Conflict("the secret was rotated concurrently; try again")
    return get_owned(merchant_id, endpoint_id), secret


def send_test(merchant_id: str, endpoint_id: str) -> Event:
    """A `ping` event delivered to this endpoint only, through the normal queue."""
    endpoint = get_owned(merchant_id, endpoint_id)
    event = Event(
        event_id=ids.new_id("evt"),
        type="ping",
        created=ids.now(),
        merchant_id=merchant_id,
        data={"object": {"endpoint_id": endpoint.endpoint_id, "url": endpoint.url}},
    )
    event_repo.put_event(event, outbox=False)
    outbox.enqueue_for(event.event_id, [endpoint.endpoint_id])
    return event


def deliveries(
    merchant_id: str, endpoint_id: str, limit: int, before: str | None
) -> tuple[list[Delivery], bool]:
    get_owned(merchant_id, endpoint_id)
    return delivery_repo.deliveries_of(endpoint_id, limit, before)


def deliveries_of_events(event_ids: list[str], limit: int = 200) -> list[Delivery]:
    """Every endpoint's attempts at these events, newest first (the console's payment
    detail; admin only, so no owner check)."""
    found = [d for event_id in event_ids for d in delivery_repo.deliveries_of_event(event_id)]
    return sorted(found, key=lambda d: d.cursor, reverse=True)[:limit]
