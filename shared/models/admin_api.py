"""What the admin API answers, as models: they document the admin OpenAPI document
(``make openapi``) and the schemathesis run checks every answer against them. The
handlers still shape plain dicts; these models describe those shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from shared.models.api import DisbursementOut, PaymentOut


class ApiKeyOut(BaseModel):
    id: str
    object: Literal["api_key"] = "api_key"
    merchant_id: str
    status: str
    created_at: int
    ip_allowlist: list[str]
    secret: str | None = None  # only when created: shown once


class ApiKeyList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ApiKeyOut]
    has_more: bool


class RevokedKeyOut(BaseModel):
    id: str
    object: Literal["api_key"] = "api_key"
    status: Literal["revoked"] = "revoked"


class MerchantOut(BaseModel):
    id: str
    object: Literal["merchant"] = "merchant"
    name: str
    created_at: int
    underpay_tolerance_bps: int


class NewMerchantOut(MerchantOut):
    api_key: ApiKeyOut  # with its secret, shown once


class MerchantList(BaseModel):
    object: Literal["list"] = "list"
    data: list[MerchantOut]
    has_more: bool


class AdminPaymentOut(PaymentOut):
    merchant_id: str


class AdminPaymentList(BaseModel):
    object: Literal["list"] = "list"
    data: list[AdminPaymentOut]
    has_more: bool


class SettlementProfileOut(BaseModel):
    object: Literal["settlement_profile"] = "settlement_profile"
    merchant_id: str
    address: str | None
    schedule: Literal["manual", "daily", "threshold"]
    threshold: str | None
    fee_bps: int | None
    fee_fixed: str | None
    updated_at: int | None
    updated_by: str | None


class AdminDisbursementOut(DisbursementOut):
    """A payout, refund or cold move with who asked for it and who decided."""

    kind: Literal["payout", "refund", "cold_move"]
    merchant_id: str | None
    requested_by: str | None
    decided_by: str | None
    reason: str | None
    gas_fee_wei: str | None


class AdminDisbursementList(BaseModel):
    object: Literal["list"] = "list"
    data: list[AdminDisbursementOut]
    has_more: bool


class TreasuryUsdt(BaseModel):
    deposits: str
    hot: str
    cold: str
    owed_in_flight: str


class TreasuryBnb(BaseModel):
    gas: str


class TreasuryOut(BaseModel):
    object: Literal["treasury"] = "treasury"
    hot_wallet: str | None
    cold_address: str | None
    hot_wallet_cap: str
    usdt: TreasuryUsdt
    bnb: TreasuryBnb


class GasFundingOut(BaseModel):
    object: Literal["gas_funding"] = "gas_funding"
    tx_hash: str
    bnb: str


class RescanOut(BaseModel):
    object: Literal["rescan"] = "rescan"
    from_block: int
    to_block: int
    status: str
