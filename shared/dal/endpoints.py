"""Webhook endpoints and their signing secrets."""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.exceptions import DoesNotExist, UpdateError

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


def put_endpoint(e: WebhookEndpoint) -> None:
    bind()
    m.WebhookEndpointModel(
        e.endpoint_id,
        merchant_id=e.merchant_id,
        url=e.url,
        events=e.events,
        created_at=e.created_at,
        status=e.status,
        secret_ciphertext=e.secret_ciphertext,
    ).save(condition=m.WebhookEndpointModel.endpoint_id.does_not_exist())


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
    try:
        m.WebhookEndpointModel(endpoint_id).update(
            actions=[
                m.WebhookEndpointModel.secret_ciphertext.set(new_ciphertext),
                m.WebhookEndpointModel.previous_secret_ciphertext.set(old_ciphertext),
                m.WebhookEndpointModel.previous_secret_expires_at.set(old_until),
            ],
            # The secret we read must still be current: two rotations cannot interleave.
            condition=(m.WebhookEndpointModel.merchant_id == merchant_id)
            & (m.WebhookEndpointModel.secret_ciphertext == old_ciphertext),
        )
    except UpdateError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def set_endpoint_status(endpoint_id: str, status: str) -> None:
    bind()
    try:
        m.WebhookEndpointModel(endpoint_id).update(
            actions=[m.WebhookEndpointModel.status.set(status)],
            condition=m.WebhookEndpointModel.endpoint_id.exists(),
        )
    except UpdateError as exc:
        if not is_condition_failure(exc):
            raise


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
    try:
        m.WebhookEndpointModel(endpoint_id).delete(
            condition=m.WebhookEndpointModel.merchant_id == merchant_id
        )
    except Exception as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True
