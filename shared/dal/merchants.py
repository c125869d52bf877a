"""Merchants and their API keys (a merchant is created together with its first key).
Every change is written with its audit record (``shared.dal.audit``) and, where the
merchant is told, its event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from shared.dal import audit
from shared.dal import models as m
from shared.dal._base import bind, take
from shared.dal.events import event_item
from shared.models.domain import ApiKey, Event, Merchant


def _with_events(tx: TransactWrite, events: Sequence[Event]) -> None:
    for event in events:
        tx.save(event_item(event), condition=m.EventModel.event_id.does_not_exist())


def _key_fields(key: ApiKey) -> dict[str, Any]:
    return {
        "status": key.status,
        "ip_allowlist": key.ip_allowlist,
        "created_by": key.created_by,
    }


def put_merchant(merchant: Merchant, first_key: ApiKey) -> None:
    bind()

    def write(tx: TransactWrite) -> None:
        tx.save(
            m.MerchantModel(
                merchant.merchant_id,
                name=merchant.name,
                created_at=merchant.created_at,
                status=merchant.status,
            ),
            condition=m.MerchantModel.merchant_id.does_not_exist(),
        )
        tx.save(_key_item(first_key), condition=m.ApiKeyModel.key_id.does_not_exist())

    target = f"merchant:{merchant.merchant_id}"
    audit.transact(
        write,
        [
            audit.AuditEntry(
                "merchant.created",
                target,
                after={"name": merchant.name, "first_key": first_key.key_id},
                merchant_id=merchant.merchant_id,
            ),
            audit.AuditEntry(
                "api_key.created",
                f"api_key:{first_key.key_id}",
                after=_key_fields(first_key),
                merchant_id=merchant.merchant_id,
            ),
        ],
    )


def _merchant(item: m.MerchantModel) -> Merchant:
    return Merchant(
        merchant_id=item.merchant_id,
        name=item.name,
        created_at=int(item.created_at),
        status=item.status,
        status_reason=item.status_reason,
        status_changed_at=int(item.status_changed_at) if item.status_changed_at else None,
        underpay_tolerance_bps=int(item.underpay_tolerance_bps or 0),
        rate_limit_per_minute=(
            int(item.rate_limit_per_minute) if item.rate_limit_per_minute is not None else None
        ),
        price_spread_bps=int(item.price_spread_bps or 0),
        kyc_status=item.kyc_status or "pending",
        kyc_reason=item.kyc_reason,
        kyc_changed_at=int(item.kyc_changed_at) if item.kyc_changed_at else None,
        kyc_source=item.kyc_source,
    )


def get_merchant(merchant_id: str) -> Merchant | None:
    bind()
    try:
        item = m.MerchantModel.get(merchant_id)
    except DoesNotExist:
        return None
    return _merchant(item)


# The merchant's settings an admin may change (POST /admin/merchants/{id}); None removes
# an optional one (back to the deployment default).
SETTINGS = ("underpay_tolerance_bps", "rate_limit_per_minute", "price_spread_bps")


def update_settings(
    merchant_id: str, after: dict[str, int | None], before: dict[str, int | None]
) -> bool:
    """Set the given settings with their audit record; False when there is no merchant."""
    bind()
    unknown = set(after) - set(SETTINGS)
    if unknown or not after:
        raise ValueError(f"not merchant settings: {sorted(unknown) or 'none'}")
    model = m.MerchantModel
    actions = [
        getattr(model, name).set(value) if value is not None else getattr(model, name).remove()
        for name, value in after.items()
    ]

    def write(tx: TransactWrite) -> None:
        tx.update(model(merchant_id), actions=actions, condition=model.merchant_id.exists())

    entry = audit.AuditEntry(
        "merchant.updated",
        f"merchant:{merchant_id}",
        before=dict(before),
        after=dict(after),
        merchant_id=merchant_id,
    )
    return audit.committed(write, [entry])


def set_status(
    merchant_id: str,
    status: str,
    expected: str,
    reason: str | None,
    when: int,
    events: Sequence[Event],
) -> bool:
    """``expected`` → ``status`` (suspend, resume); False when the merchant was not in
    ``expected`` (or does not exist)."""
    bind()

    def write(tx: TransactWrite) -> None:
        tx.update(
            m.MerchantModel(merchant_id),
            actions=[
                m.MerchantModel.status.set(status),
                m.MerchantModel.status_changed_at.set(when),
                m.MerchantModel.status_reason.set(reason)
                if reason
                else m.MerchantModel.status_reason.remove(),
            ],
            condition=m.MerchantModel.merchant_id.exists() & (m.MerchantModel.status == expected),
        )
        _with_events(tx, events)

    action = "merchant.suspended" if status == "suspended" else "merchant.resumed"
    entry = audit.AuditEntry(
        action,
        f"merchant:{merchant_id}",
        before={"status": expected},
        after={"status": status, "reason": reason},
        merchant_id=merchant_id,
    )
    return audit.committed(write, [entry])


def set_kyc(
    merchant_id: str,
    status: str,
    expected: str,
    reason: str | None,
    source: str,
    when: int,
    events: Sequence[Event],
) -> bool:
    """KYC ``expected`` -> ``status`` with its audit record and event; False when the
    merchant's KYC status was no longer ``expected`` (or the merchant does not exist).
    A merchant written before KYC existed has no attribute: that is ``pending``."""
    bind()
    model = m.MerchantModel
    current = model.kyc_status == expected
    if expected == "pending":
        current = current | model.kyc_status.does_not_exist()

    def write(tx: TransactWrite) -> None:
        tx.update(
            model(merchant_id),
            actions=[
                model.kyc_status.set(status),
                model.kyc_changed_at.set(when),
                model.kyc_source.set(source),
                model.kyc_reason.set(reason) if reason else model.kyc_reason.remove(),
            ],
            condition=model.merchant_id.exists() & current,
        )
        _with_events(tx, events)

    entry = audit.AuditEntry(
        "merchant.kyc_updated",
        f"merchant:{merchant_id}",
        before={"kyc_status": expected},
        after={"kyc_status": status, "reason": reason, "source": source},
        merchant_id=merchant_id,
    )
    return audit.committed(write, [entry])


def list_merchants(limit: int, after: int | None) -> tuple[list[Merchant], bool]:
    bind()
    query = m.MerchantModel.by_created.query(
        "merchant",
        m.MerchantModel.created_at < after if after is not None else None,
        scan_index_forward=False,
        limit=limit + 1,
    )
    items = [_merchant(i) for i in take(query, limit + 1)]
    return items[:limit], len(items) > limit


def _key_item(key: ApiKey) -> m.ApiKeyModel:
    return m.ApiKeyModel(
        key.key_id,
        merchant_id=key.merchant_id,
        created_at=key.created_at,
        status=key.status,
        secret_ciphertext=key.secret_ciphertext,
        ip_allowlist=key.ip_allowlist,
        revoked_at=key.revoked_at,
        created_by=key.created_by or None,
        approved_by=key.approved_by,
    )


def put_api_key(key: ApiKey, events: Sequence[Event] = ()) -> None:
    bind()

    def write(tx: TransactWrite) -> None:
        tx.save(_key_item(key), condition=m.ApiKeyModel.key_id.does_not_exist())
        _with_events(tx, events)

    entry = audit.AuditEntry(
        "api_key.created",
        f"api_key:{key.key_id}",
        after=_key_fields(key),
        merchant_id=key.merchant_id,
    )
    audit.transact(write, [entry])


def _key(item: m.ApiKeyModel, with_secret: bool) -> ApiKey:
    return ApiKey(
        key_id=item.key_id,
        merchant_id=item.merchant_id,
        created_at=int(item.created_at),
        status=item.status,
        secret_ciphertext=item.secret_ciphertext if with_secret else "",
        ip_allowlist=list(item.ip_allowlist or []),
        revoked_at=int(item.revoked_at) if item.revoked_at is not None else None,
        created_by=item.created_by or "",
        approved_by=item.approved_by,
    )


def get_api_key(key_id: str) -> ApiKey | None:
    bind()
    try:
        item = m.ApiKeyModel.get(key_id, consistent_read=True)
    except DoesNotExist:
        return None
    return _key(item, with_secret=True)


def list_api_keys(merchant_id: str) -> list[ApiKey]:
    bind()
    return [_key(i, with_secret=False) for i in m.ApiKeyModel.by_merchant.query(merchant_id)]


def approve_api_key(
    key_id: str, merchant_id: str, approver: str, events: Sequence[Event] = ()
) -> bool:
    """pending_approval → active by ``approver``, who is not the key's creator (the
    condition holds that even against a racing writer); False otherwise."""
    bind()
    key = m.ApiKeyModel

    def write(tx: TransactWrite) -> None:
        tx.update(
            key(key_id),
            actions=[key.status.set("active"), key.approved_by.set(approver)],
            condition=(key.merchant_id == merchant_id)
            & (key.status == "pending_approval")
            & (key.created_by != approver),
        )
        _with_events(tx, events)

    entry = audit.AuditEntry(
        "api_key.approved",
        f"api_key:{key_id}",
        before={"status": "pending_approval"},
        after={"status": "active", "approved_by": approver},
        merchant_id=merchant_id,
    )
    return audit.committed(write, [entry])


def revoke_api_key(key_id: str, merchant_id: str, when: int) -> bool:
    """Revoke; False when the key does not exist or belongs to another merchant."""
    bind()
    key = m.ApiKeyModel

    def write(tx: TransactWrite) -> None:
        tx.update(
            key(key_id),
            actions=[key.status.set("revoked"), key.revoked_at.set(when)],
            condition=key.merchant_id == merchant_id,
        )

    entry = audit.AuditEntry(
        "api_key.revoked",
        f"api_key:{key_id}",
        after={"status": "revoked"},
        merchant_id=merchant_id,
    )
    return audit.committed(write, [entry])
