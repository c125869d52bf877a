"""Webhook endpoints and their signing secrets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from shared.dal import audit
from shared.dal import models as m
from shared.dal._base import bind, is_condition_failure
from shared.models.domain import (
    WebhookEndpoint,
)


def _endpoint(item: m.WebhookEndpointModel) -> WebhookEndpoint:
    return WebhookEndpoint(
        endpoint_id=item.endpoint_id,
        merchant_id=item.merchant_id,
        url=item.url,
        events=list(item.events),
        created_at=int(item.created_at),
        status=item.status,
        secret_ciphertext=item.secret_ciphertext,
        previous_secret_ciphertext=item.previous_secret_ciphertext,
        previous_secret_expires_at=(
            int(item.previous_secret_expires_at) if item.previous_secret_expires_at else None
        ),
        failing_since=int(item.failing_since) if item.failing_since else None,
    )


def _audited(
    write: Any, action: str, endpoint_id: str, merchant_id: str | None, **after: Any
) -> bool:
    """Commit ``write`` with its audit record; False when its condition failed."""
    entry = audit.AuditEntry(
        action, f"webhook_endpoint:{endpoint_id}", after=after or None, merchant_id=merchant_id
    )
    return audit.committed(write, [entry])


def put_endpoint(e: WebhookEndpoint) -> None:
    bind()
    item = m.WebhookEndpointModel(
        e.endpoint_id,
        merchant_id=e.merchant_id,
        url=e.url,
        events=e.events,
        created_at=e.created_at,
        status=e.status,
        secret_ciphertext=e.secret_ciphertext,
    )
    audit.transact(
        lambda tx: tx.save(item, condition=m.WebhookEndpointModel.endpoint_id.does_not_exist()),
        [
            audit.AuditEntry(
                "webhook_endpoint.created",
                f"webhook_endpoint:{e.endpoint_id}",
                after={"url": e.url, "events": e.events, "status": e.status},
                merchant_id=e.merchant_id,
            )
        ],
    )


def endpoints_by_id(endpoint_ids: Iterable[str]) -> dict[str, WebhookEndpoint]:
    bind()
    keys = sorted(set(endpoint_ids))
    return {i.endpoint_id: _endpoint(i) for i in m.WebhookEndpointModel.batch_get(keys)}


def get_endpoint(endpoint_id: str) -> WebhookEndpoint | None:
    bind()
    try:
        return _endpoint(m.WebhookEndpointModel.get(endpoint_id))
    except DoesNotExist:
        return None


def endpoints_of(merchant_id: str) -> list[WebhookEndpoint]:
    bind()
    return [_endpoint(i) for i in m.WebhookEndpointModel.by_merchant.query(merchant_id)]


def rotate_endpoint_secret(
    endpoint_id: str, merchant_id: str, new_ciphertext: str, old_ciphertext: str, old_until: int
) -> bool:
    """Swap in a new secret; the old one keeps signing until ``old_until``."""
    bind()
    model = m.WebhookEndpointModel
    return _audited(
        lambda tx: tx.update(
            model(endpoint_id),
            actions=[
                model.secret_ciphertext.set(new_ciphertext),
                model.previous_secret_ciphertext.set(old_ciphertext),
                model.previous_secret_expires_at.set(old_until),
            ],
            # The secret we read must still be current: two rotations cannot interleave.
            condition=(model.merchant_id == merchant_id)
            & (model.secret_ciphertext == old_ciphertext),
        ),
        "webhook_endpoint.secret_rotated",
        endpoint_id,
        merchant_id,
        previous_secret_expires_at=old_until,
    )


def set_endpoint_status(endpoint_id: str, status: str) -> None:
    bind()
    model = m.WebhookEndpointModel
    _audited(
        lambda tx: tx.update(
            model(endpoint_id),
            actions=[model.status.set(status)],
            condition=model.endpoint_id.exists(),
        ),
        f"webhook_endpoint.{status}",
        endpoint_id,
        None,
        status=status,
    )


def mark_endpoint_failing(endpoint_id: str, since: int | None) -> None:
    bind()
    action = (
        m.WebhookEndpointModel.failing_since.set(since)
        if since is not None
        else m.WebhookEndpointModel.failing_since.remove()
    )
    try:
        m.WebhookEndpointModel(endpoint_id).update(
            actions=[action], condition=m.WebhookEndpointModel.endpoint_id.exists()
        )
    except UpdateError as exc:
        if not is_condition_failure(exc):
            raise


def delete_endpoint(endpoint_id: str, merchant_id: str) -> bool:
    bind()
    return _audited(
        lambda tx: tx.delete(
            m.WebhookEndpointModel(endpoint_id),
            condition=m.WebhookEndpointModel.merchant_id == merchant_id,
        ),
        "webhook_endpoint.deleted",
        endpoint_id,
        merchant_id,
    )
