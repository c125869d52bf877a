"""Merchants and their API keys (a merchant is created together with its first key)."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.transactions import TransactWrite

from shared.dal import models as m
from shared.dal._base import bind, connection, is_condition_failure, take
from shared.models.domain import (
    ApiKey,
    Merchant,
)


def put_merchant(merchant: Merchant, first_key: ApiKey) -> None:
    bind()
    with TransactWrite(connection=connection()) as tx:
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


def get_merchant(merchant_id: str) -> Merchant | None:
    bind()
    try:
        item = m.MerchantModel.get(merchant_id)
    except DoesNotExist:
        return None
    return Merchant(
        merchant_id=item.merchant_id,
        name=item.name,
        created_at=int(item.created_at),
        status=item.status,
        underpay_tolerance_bps=int(item.underpay_tolerance_bps or 0),
    )


def set_underpay_tolerance(merchant_id: str, bps: int) -> bool:
    bind()
    try:
        m.MerchantModel(merchant_id).update(
            actions=[m.MerchantModel.underpay_tolerance_bps.set(bps)],
            condition=m.MerchantModel.merchant_id.exists(),
        )
    except UpdateError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def list_merchants(limit: int, after: int | None) -> tuple[list[Merchant], bool]:
    bind()
    query = m.MerchantModel.by_created.query(
        "merchant",
        m.MerchantModel.created_at < after if after is not None else None,
        scan_index_forward=False,
        limit=limit + 1,
    )
    items = [
        Merchant(merchant_id=i.merchant_id, name=i.name, created_at=int(i.created_at))
        for i in take(query, limit + 1)
    ]
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
    )


def put_api_key(key: ApiKey) -> None:
    bind()
    _key_item(key).save(condition=m.ApiKeyModel.key_id.does_not_exist())


def get_api_key(key_id: str) -> ApiKey | None:
    bind()
    try:
        item = m.ApiKeyModel.get(key_id, consistent_read=True)
    except DoesNotExist:
        return None
    return ApiKey(
        key_id=item.key_id,
        merchant_id=item.merchant_id,
        created_at=int(item.created_at),
        status=item.status,
        secret_ciphertext=item.secret_ciphertext,
        ip_allowlist=list(item.ip_allowlist or []),
        revoked_at=int(item.revoked_at) if item.revoked_at is not None else None,
    )


def list_api_keys(merchant_id: str) -> list[ApiKey]:
    bind()
    return [
        ApiKey(
            key_id=i.key_id,
            merchant_id=i.merchant_id,
            created_at=int(i.created_at),
            status=i.status,
            revoked_at=int(i.revoked_at) if i.revoked_at is not None else None,
        )
        for i in m.ApiKeyModel.by_merchant.query(merchant_id)
    ]


def revoke_api_key(key_id: str, merchant_id: str, when: int) -> bool:
    """Revoke; False when the key does not exist or belongs to another merchant."""
    bind()
    item = m.ApiKeyModel(key_id)
    try:
        item.update(
            actions=[m.ApiKeyModel.status.set("revoked"), m.ApiKeyModel.revoked_at.set(when)],
            condition=m.ApiKeyModel.merchant_id == merchant_id,
        )
    except UpdateError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True
