"""Merchants and their API keys. Secrets are returned once, stored only encrypted."""

from __future__ import annotations

import ipaddress

from shared import ids
from shared.auth import secrets
from shared.dal import merchants as merchant_repo
from shared.errors import NotFound, ValidationFailed
from shared.models.domain import ApiKey, Merchant


def _new_key(merchant_id: str, ip_allowlist: list[str]) -> tuple[ApiKey, str]:
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
        secret_ciphertext=secrets.encrypt(key_id, secret),
        ip_allowlist=ip_allowlist,
    )
    return key, secret


def create_merchant(name: str) -> tuple[Merchant, ApiKey, str]:
    merchant = Merchant(merchant_id=ids.new_id("mer"), name=name, created_at=ids.now())
    key, secret = _new_key(merchant.merchant_id, [])
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


def create_api_key(merchant_id: str, ip_allowlist: list[str]) -> tuple[ApiKey, str]:
    require_merchant(merchant_id)
    key, secret = _new_key(merchant_id, ip_allowlist)
    merchant_repo.put_api_key(key)
    return key, secret


def list_api_keys(merchant_id: str) -> list[ApiKey]:
    require_merchant(merchant_id)
    return merchant_repo.list_api_keys(merchant_id)


def revoke_api_key(merchant_id: str, key_id: str) -> None:
    if not ids.plausible(key_id, "ak") or not merchant_repo.revoke_api_key(
        key_id, merchant_id, ids.now()
    ):
        raise NotFound(f"no API key {key_id!r} for merchant {merchant_id!r}", "key_id")


MAX_TOLERANCE_BPS = 500  # 5 %: beyond that a shortfall is not a rounding matter


def set_underpay_tolerance(merchant_id: str, bps: int) -> Merchant:
    if not 0 <= bps <= MAX_TOLERANCE_BPS:
        raise ValidationFailed(
            f"underpay_tolerance_bps must be between 0 and {MAX_TOLERANCE_BPS}",
            "underpay_tolerance_bps",
        )
    if not ids.plausible(merchant_id, "mer") or not merchant_repo.set_underpay_tolerance(
        merchant_id, bps
    ):
        raise NotFound(f"no merchant {merchant_id!r}", "merchant_id")
    return require_merchant(merchant_id)
