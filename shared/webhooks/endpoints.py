"""Merchant webhook endpoint management."""

from __future__ import annotations

from shared import config, ids
from shared.auth import secrets
from shared.dal import repo
from shared.errors import NotFound, ValidationFailed
from shared.models.api import CreateWebhookEndpoint
from shared.models.domain import WebhookEndpoint
from shared.webhooks import ssrf

MAX_ENDPOINTS = 16


def create(merchant_id: str, request: CreateWebhookEndpoint) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its signing secret (shown to the merchant once)."""
    ssrf.check_url(request.url, config.api().local_mode)
    if len(repo.endpoints_of(merchant_id)) >= MAX_ENDPOINTS:
        raise ValidationFailed(f"at most {MAX_ENDPOINTS} webhook endpoints per merchant")
    endpoint_id = ids.new_id("we")
    secret = secrets.new_secret("whsec")
    endpoint = WebhookEndpoint(
        endpoint_id=endpoint_id,
        merchant_id=merchant_id,
        url=request.url,
        events=sorted(set(request.events)),
        created_at=ids.now(),
        secret_ciphertext=secrets.encrypt(endpoint_id, secret),
    )
    repo.put_endpoint(endpoint)
    return endpoint, secret


def list_for(merchant_id: str) -> list[WebhookEndpoint]:
    return repo.endpoints_of(merchant_id)


def delete(merchant_id: str, endpoint_id: str) -> None:
    if not repo.delete_endpoint(endpoint_id, merchant_id):
        raise NotFound(f"no webhook endpoint {endpoint_id!r}", "id")
