"""Merchants and their API keys. Secrets are returned once, stored only encrypted.

A merchant's first key (created with it) is active at once; every later key waits
(``pending_approval``) until an admin other than its creator approves it: one admin
alone can never mint a working key for someone else's balance (docs/adr/0019). Minting
and approving a key alert the operators and tell the merchant (``api_key.*`` events).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from shared import ids
from shared.actor import current
from shared.alerts import raise_alert
from shared.auth import secrets
from shared.dal import merchants as merchant_repo
from shared.errors import FourEyes, InvalidState, NotFound, ValidationFailed
from shared.events import outbox
from shared.models.domain import ApiKey, Event, Merchant

MAX_REASON = 500


def _new_key(merchant_id: str, ip_allowlist: list[str], status: str) -> tuple[ApiKey, str]:
    for cidr in ip_allowlist:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise ValidationFailed(f"{cidr!r} is not an IP network", "ip_allowlist") from exc
    key_id = ids.new_id("ak")
    secret = secrets.new_secret("sk")
    key = ApiKey(
        key_id=key_id,
        merchant_id=merchant_id,
        created_at=ids.now(),
        status=status,
        secret_ciphertext=secrets.encrypt(key_id, secret),
        ip_allowlist=ip_allowlist,
        created_by=current().label,
    )
    return key, secret


def create_merchant(name: str) -> tuple[Merchant, ApiKey, str]:
    merchant = Merchant(merchant_id=ids.new_id("mer"), name=name, created_at=ids.now())
    key, secret = _new_key(merchant.merchant_id, [], "active")
    merchant_repo.put_merchant(merchant, key)
    return merchant, key, secret


def list_merchants(limit: int, starting_after: str | None) -> tuple[list[Merchant], bool]:
    after = None
    if starting_after:
        anchor = (
            merchant_repo.get_merchant(starting_after)
            if ids.plausible(starting_after, "mer")
            else None
        )
        if anchor is None:
            raise NotFound(f"no merchant {starting_after!r}", "starting_after")
        after = anchor.created_at
    return merchant_repo.list_merchants(limit, after)


def require_merchant(merchant_id: str) -> Merchant:
    merchant = (
        merchant_repo.get_merchant(merchant_id) if ids.plausible(merchant_id, "mer") else None
    )
    if merchant is None:
        raise NotFound(f"no merchant {merchant_id!r}", "merchant_id")
    return merchant


def _key_event(key: ApiKey, kind: str) -> Event:
    """What the merchant is told of a key: never its secret."""
    return Event(
        event_id=ids.new_id("evt"),
        type=f"api_key.{kind}",
        created=ids.now(),
        merchant_id=key.merchant_id,
        data={
            "object": {
                "id": key.key_id,
                "object": "api_key",
                "status": key.status,
                "created_by": key.created_by,
                "approved_by": key.approved_by,
                "ip_allowlist": key.ip_allowlist,
            }
        },
    )


def create_api_key(merchant_id: str, ip_allowlist: list[str]) -> tuple[ApiKey, str]:
    """A further key for the merchant: pending until a second admin approves it."""
    require_merchant(merchant_id)
    key, secret = _new_key(merchant_id, ip_allowlist, "pending_approval")
    event = _key_event(key, "created")
    merchant_repo.put_api_key(key, [event])
    outbox.publish([event])
    raise_alert(
        "api_key_created",
        "API key created (waits for a second admin)",
        merchant_id=merchant_id,
        key_id=key.key_id,
        by=key.created_by,
    )
    return key, secret


def approve_api_key(merchant_id: str, key_id: str) -> ApiKey:
    approver = current().label
    key = merchant_repo.get_api_key(key_id) if ids.plausible(key_id, "ak") else None
    if key is None or key.merchant_id != merchant_id:
        raise NotFound(f"no API key {key_id!r} for merchant {merchant_id!r}", "key_id")
    if key.created_by == approver:
        raise FourEyes("the admin who created a key cannot approve it; ask another admin")
    if key.status != "pending_approval":
        raise InvalidState(f"API key {key_id} is {key.status}, not pending_approval")
    approved = key.model_copy(update={"status": "active", "approved_by": approver})
    event = _key_event(approved, "approved")
    if not merchant_repo.approve_api_key(key_id, merchant_id, approver, [event]):
        raise InvalidState(f"API key {key_id} changed meanwhile; list the keys and retry")
    outbox.publish([event])
    raise_alert(
        "api_key_approved",
        "API key approved",
        merchant_id=merchant_id,
        key_id=key_id,
        created_by=key.created_by,
        approved_by=approver,
    )
    return approved


def list_api_keys(merchant_id: str) -> list[ApiKey]:
    require_merchant(merchant_id)
    return merchant_repo.list_api_keys(merchant_id)


def revoke_api_key(merchant_id: str, key_id: str) -> None:
    if not ids.plausible(key_id, "ak") or not merchant_repo.revoke_api_key(
        key_id, merchant_id, ids.now()
    ):
        raise NotFound(f"no API key {key_id!r} for merchant {merchant_id!r}", "key_id")


MAX_TOLERANCE_BPS = 500  # 5 %: beyond that a shortfall is not a rounding matter
MAX_RATE_LIMIT_PER_MINUTE = 100_000  # per API key; the WAF's first line sits above it
MAX_SPREAD_BPS = 1_000  # 10 %: a spread beyond that is a different price, not a spread


def set_underpay_tolerance(merchant_id: str, bps: int) -> Merchant:
    return update_settings(merchant_id, {"underpay_tolerance_bps": bps})


def update_settings(merchant_id: str, changes: dict[str, int | None]) -> Merchant:
    """Change some of the merchant's settings at once (one audit record)."""
    bps = changes.get("underpay_tolerance_bps")
    if "underpay_tolerance_bps" in changes and (bps is None or not 0 <= bps <= MAX_TOLERANCE_BPS):
        raise ValidationFailed(
            f"underpay_tolerance_bps must be between 0 and {MAX_TOLERANCE_BPS}",
            "underpay_tolerance_bps",
        )
    limit = changes.get("rate_limit_per_minute")
    if limit is not None and not 1 <= limit <= MAX_RATE_LIMIT_PER_MINUTE:
        raise ValidationFailed(
            f"rate_limit_per_minute must be between 1 and {MAX_RATE_LIMIT_PER_MINUTE} "
            "(null: the deployment default)",
            "rate_limit_per_minute",
        )
    spread = changes.get("price_spread_bps")
    if "price_spread_bps" in changes and spread is not None and not 0 <= spread <= MAX_SPREAD_BPS:
        raise ValidationFailed(
            f"price_spread_bps must be between 0 and {MAX_SPREAD_BPS}", "price_spread_bps"
        )
    if not changes:
        raise ValidationFailed("name at least one setting to change")
    current = require_merchant(merchant_id)
    before = {name: getattr(current, name) for name in changes}
    if not merchant_repo.update_settings(merchant_id, dict(changes), before):
        raise NotFound(f"no merchant {merchant_id!r}", "merchant_id")
    return require_merchant(merchant_id)


# ---- lifecycle --------------------------------------------------------------------------


def _status_event(merchant: Merchant, kind: str, reason: str | None) -> Event:
    data: dict[str, Any] = {"object": {"id": merchant.merchant_id, "object": "merchant"}}
    data["object"].update({"status": merchant.status, "reason": reason})
    return Event(
        event_id=ids.new_id("evt"),
        type=f"merchant.{kind}",
        created=ids.now(),
        merchant_id=merchant.merchant_id,
        data=data,
    )


def suspend(merchant_id: str, reason: str) -> Merchant:
    """Refuse the merchant's writes; payments in flight still finalize and credit, and
    its payouts wait until it is resumed."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise ValidationFailed(f"reason must be 1-{MAX_REASON} characters", "reason")
    return _set_status(merchant_id, "suspended", "active", reason)


def resume(merchant_id: str) -> Merchant:
    return _set_status(merchant_id, "active", "suspended", None)


def _set_status(merchant_id: str, status: str, expected: str, reason: str | None) -> Merchant:
    merchant = require_merchant(merchant_id)
    if merchant.status != expected:
        raise InvalidState(f"merchant {merchant_id} is {merchant.status}, not {expected}")
    changed = merchant.model_copy(update={"status": status, "status_reason": reason})
    kind = "suspended" if status == "suspended" else "resumed"
    event = _status_event(changed, kind, reason)
    if not merchant_repo.set_status(merchant_id, status, expected, reason, ids.now(), [event]):
        raise InvalidState(f"merchant {merchant_id} changed meanwhile; retry")
    outbox.publish([event])
    raise_alert(f"merchant_{kind}", f"merchant {kind}", merchant_id=merchant_id, reason=reason)
    return require_merchant(merchant_id)
