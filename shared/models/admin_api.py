"""What the admin API answers, as models: they document the admin OpenAPI document
(``make openapi``) and the schemathesis run checks every answer against them. The
handlers still shape plain dicts; these models describe those shapes."""

from __future__ import annotations

from typing import Any, Literal

from shared.models.api import DeliveryOut, DisbursementOut, EventOut, PaymentOut
from shared.models.base import Model
from shared.models.domain import Delivery


class ApiKeyOut(Model):
    id: str
    object: Literal["api_key"] = "api_key"
    merchant_id: str
    status: Literal["pending_approval", "active", "revoked"]
    created_at: int
    ip_allowlist: list[str]
    created_by: str | None = None
    approved_by: str | None = None
    secret: str | None = None  # only when created: shown once


class ApiKeyList(Model):
    object: Literal["list"] = "list"
    data: list[ApiKeyOut]
    has_more: bool


class RevokedKeyOut(Model):
    id: str
    object: Literal["api_key"] = "api_key"
    status: Literal["revoked"] = "revoked"


class MerchantOut(Model):
    id: str
    object: Literal["merchant"] = "merchant"
    name: str
    created_at: int
    status: Literal["active", "suspended"]
    status_reason: str | None = None
    underpay_tolerance_bps: int
    rate_limit_per_minute: int | None = None  # None: the deployment default
    price_spread_bps: int = 0  # added to fiat-priced payments' rate
    kyc_status: Literal["pending", "verified", "rejected"] = "pending"
    kyc_reason: str | None = None
    kyc_changed_at: int | None = None
    kyc_source: str | None = None  # "admin:<username>" or "provider:kyc"


class NewMerchantOut(MerchantOut):
    api_key: ApiKeyOut  # with its secret, shown once


class MerchantList(Model):
    object: Literal["list"] = "list"
    data: list[MerchantOut]
    has_more: bool


class AdminPaymentOut(PaymentOut):
    merchant_id: str


class AdminDeliveryOut(DeliveryOut):
    """A webhook delivery attempt, naming the endpoint it went to."""

    endpoint_id: str

    @classmethod
    def of(cls, d: Delivery) -> AdminDeliveryOut:
        return cls(**DeliveryOut.of(d).model_dump(), endpoint_id=d.endpoint_id)


class AdminPaymentDetailOut(AdminPaymentOut):
    """One payment for the console: its transfers, its newest events (up to 100) and
    the webhook delivery attempts of those events (newest first, up to 200)."""

    events: list[EventOut]
    deliveries: list[AdminDeliveryOut]


class AdminPaymentList(Model):
    object: Literal["list"] = "list"
    data: list[AdminPaymentOut]
    has_more: bool


class SettlementProfileOut(Model):
    object: Literal["settlement_profile"] = "settlement_profile"
    merchant_id: str
    address: str | None
    schedule: Literal["manual", "daily", "threshold"]
    threshold: str | None
    fee_bps: int | None
    fee_fixed: str | None
    # pending_confirmation: no payout goes to the address until a second admin confirms it
    address_status: Literal["pending_confirmation", "confirmed"]
    address_set_by: str | None
    address_confirmed_by: str | None
    updated_at: int | None
    updated_by: str | None


class AdminDisbursementOut(DisbursementOut):
    """A payout, refund or cold move with who asked for it and who decided."""

    kind: Literal["payout", "refund", "cold_move"]
    merchant_id: str | None
    requested_by: str | None
    requested_key: str | None = None  # the API key a refund was requested with
    key_created_by: str | None = None  # that key's creator: never its approver
    decided_by: str | None
    reason: str | None
    gas_fee_wei: str | None


class AdminDisbursementList(Model):
    object: Literal["list"] = "list"
    data: list[AdminDisbursementOut]
    has_more: bool


class TreasuryUsdt(Model):
    deposits: str
    hot: str
    cold: str
    owed_in_flight: str


class TreasuryBnb(Model):
    gas: str


class TreasuryOut(Model):
    object: Literal["treasury"] = "treasury"
    hot_wallet: str | None
    cold_address: str | None
    hot_wallet_cap: str
    usdt: TreasuryUsdt
    bnb: TreasuryBnb
    tokens: dict[str, TreasuryToken] = {}  # USDC, FDUSD: deposits and hot wallet


class TreasuryToken(Model):
    deposits: str
    hot: str


class GasFundingOut(Model):
    object: Literal["gas_funding"] = "gas_funding"
    tx_hash: str
    bnb: str


class AdminMeOut(Model):
    object: Literal["admin_user"] = "admin_user"
    username: str
    roles: list[Literal["viewer", "support", "finance", "admin"]]


class RescanOut(Model):
    object: Literal["rescan"] = "rescan"
    from_block: int
    to_block: int
    status: str


class AuditActorOut(Model):
    label: str  # "admin:<username>", "api_key:<id>", "system:<function>"
    kind: Literal["admin", "api_key", "system"]
    id: str
    name: str
    roles: list[str]
    merchant_id: str | None


class AuditRecordOut(Model):
    id: str
    object: Literal["audit_record"] = "audit_record"
    chain: str
    seq: int
    created_at_ms: int
    actor: AuditActorOut
    action: str
    target: str
    merchant_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str
    source_ip: str
    prev_hash: str
    hash: str


class AuditList(Model):
    object: Literal["list"] = "list"
    data: list[AuditRecordOut]
    has_more: bool


class AuditVerifyOut(Model):
    object: Literal["audit_verification"] = "audit_verification"
    ok: bool
    checked: int
    first_break: str | None = None  # the first edited record, or the one after a gap
    reason: str | None = None


class AdminUserOut(Model):
    object: Literal["admin_user"] = "admin_user"
    username: str
    enabled: bool | None = None
    status: str | None = None
    roles: list[str] | None = None
    signed_out_at: int | None = None


class AdminUserList(Model):
    object: Literal["list"] = "list"
    data: list[AdminUserOut]
    has_more: bool


class BlocklistEntryOut(Model):
    """An address on the screening blocklist (docs/adr/0020)."""

    object: Literal["blocklist_entry"] = "blocklist_entry"
    address: str  # lower-case hex
    reason: str
    created_by: str  # "admin:<username>": may not release or return what it holds
    created_at: int


class BlocklistList(Model):
    object: Literal["list"] = "list"
    data: list[BlocklistEntryOut]
    has_more: bool
