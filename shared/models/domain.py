"""Domain models that logic works on; ``shared.dal`` maps them to and from storage."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class PaymentStatus(StrEnum):
    PENDING = "pending"
    CONFIRMING = "confirming"
    PAID = "paid"
    OVERPAID = "overpaid"
    UNDERPAID = "underpaid"
    EXPIRED = "expired"
    CANCELED = "canceled"

    @property
    def is_open(self) -> bool:
        return self in (PaymentStatus.PENDING, PaymentStatus.CONFIRMING)


class TransferStatus(StrEnum):
    PENDING = "pending"
    FINAL = "final"
    REVERSED = "reversed"


class Merchant(BaseModel):
    merchant_id: str
    name: str
    created_at: int
    status: str = "active"
    # Accepted shortfall in basis points (50 = 0.5 %): such payments count as paid.
    underpay_tolerance_bps: int = 0


class ApiKey(BaseModel):
    key_id: str
    merchant_id: str
    created_at: int
    status: str = "active"  # active | revoked
    secret_ciphertext: str = ""
    ip_allowlist: list[str] = Field(default_factory=list)
    revoked_at: int | None = None


class Transfer(BaseModel):
    transfer_id: str
    chain_id: int
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    from_address: str
    to_address: str
    amount: int
    payment_id: str
    merchant_id: str
    status: TransferStatus = TransferStatus.PENDING
    seen_at: int = 0


class Payment(BaseModel):
    payment_id: str
    merchant_id: str
    status: PaymentStatus
    amount: int
    amount_received: int = 0
    amount_pending: int = 0
    currency: str = "USDT"
    chain_id: int
    token_address: str
    address: str
    derivation_index: int
    order_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    created_at: int
    expires_at: int
    tolerance: int = 0  # accepted shortfall in base units, fixed at creation
    version: int = 0
    event_seq: int = 0
    transactions: list[Transfer] = Field(default_factory=list)


class Event(BaseModel):
    event_id: str
    type: str
    created: int
    merchant_id: str
    payment_id: str | None = None
    seq: int = 0
    data: dict[str, Any]


class WebhookEndpoint(BaseModel):
    endpoint_id: str
    merchant_id: str
    url: str
    events: list[str]
    created_at: int
    status: str = "enabled"  # enabled | disabled
    secret_ciphertext: str = ""
    previous_secret_ciphertext: str | None = None
    previous_secret_expires_at: int | None = None
    failing_since: int | None = None


class Delivery(BaseModel):
    delivery_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    attempt: int
    created: int
    status_code: int | None
    latency_ms: int
    error: str | None = None
    response_excerpt: str | None = None
    cursor: str = ""  # opaque position in the endpoint's log
