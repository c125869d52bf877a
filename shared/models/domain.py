"""Domain models that logic works on; ``shared.dal`` maps them to and from storage."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from shared.models.base import Model


class PaymentStatus(StrEnum):
    PENDING = "pending"
    CONFIRMING = "confirming"
    PAID = "paid"
    OVERPAID = "overpaid"
    UNDERPAID = "underpaid"
    EXPIRED = "expired"
    CANCELED = "canceled"
    # Funds from a flagged sender wait for a finance user's review (docs/adr/0020).
    HELD = "held"

    @property
    def is_open(self) -> bool:
        return self in (PaymentStatus.PENDING, PaymentStatus.CONFIRMING)


class TransferStatus(StrEnum):
    PENDING = "pending"
    FINAL = "final"
    REVERSED = "reversed"


class Merchant(Model):
    merchant_id: str
    name: str
    created_at: int
    status: str = "active"  # active | suspended (writes refused, payouts wait)
    status_reason: str | None = None
    status_changed_at: int | None = None
    # Accepted shortfall in basis points (50 = 0.5 %): such payments count as paid.
    underpay_tolerance_bps: int = 0
    # Requests a minute each of its API keys may make (issue 15); None: the deployment's
    # default (BSCPAY_API_RATE_LIMIT_PER_MINUTE).
    rate_limit_per_minute: int | None = None
    # Added to the exchange rate of its fiat-priced payments (basis points; issue 14).
    price_spread_bps: int = 0
    # KYC of the merchant (pending | verified | rejected): set by an admin or the KYC
    # provider's signed callback; with BSCPAY_PAYOUTS_REQUIRE_KYC payouts wait for verified.
    kyc_status: str = "pending"
    kyc_reason: str | None = None
    kyc_changed_at: int | None = None
    kyc_source: str | None = None  # "admin:<username>" or "provider:kyc"


class ApiKey(Model):
    key_id: str
    merchant_id: str
    created_at: int
    # pending_approval (a later key, until a second admin approves it) | active | revoked
    status: str = "active"
    secret_ciphertext: str = ""
    ip_allowlist: list[str] = Field(default_factory=list)
    revoked_at: int | None = None
    created_by: str = ""  # "admin:<username>" or "system:<function>"
    approved_by: str | None = None


class Transfer(Model):
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
    # AML screening of from_address when the transfer became final (docs/adr/0020).
    risk_level: str | None = None  # "none" … "severe", "unknown"
    risk_source: str | None = None  # "blocklist" | "provider" | "provider_unavailable"
    flagged_by: str | None = None  # who listed the sender ("admin:<name>")
    # "held" -> "released" | "returning" (refund requested) -> "returned" (refund paid)
    # or "held" again (refund failed/rejected); None: never held
    hold: str | None = None
    held_from: str | None = None  # the payment's status when these funds were held
    returned_in: str | None = None  # the refund ("re_…") sending them back, once returned
    late: bool = False  # final after its payment had settled: late funds
    # The token moved (issue 14 §3). Another configured token than the payment's is
    # credited in its own currency and never counted toward the payment.
    currency: str = "USDT"


class Customer(Model):
    """A merchant's customer with a permanent deposit address (issue 14 §2)."""

    customer_id: str
    merchant_id: str
    reference: str
    currency: str
    address: str
    derivation_index: int
    created_at: int


class QuoteSource(Model):
    """Where one rate of a quote came from."""

    type: str  # "chainlink" (a feed on the chain) | "http" (the second source)
    pair: str  # "EUR/USD"
    value: str  # USD per unit, decimal string
    feed: str | None = None  # the feed's address (chainlink)
    round_id: int | None = None
    updated_at: int | None = None  # the round's time (chainlink)


class Quote(Model):
    """How a fiat price became the payment's token amount (issue 14, docs/adr/0027). The
    rate is locked for the payment's life: ``expires_at`` is the payment's."""

    price_amount: str  # the merchant's fiat price, decimal string
    price_currency: str  # "EUR"
    rate: str  # tokens per fiat unit, spread included, rounded up (10 decimals)
    spread_bps: int = 0
    sources: list[QuoteSource] = Field(default_factory=list)
    at: int
    expires_at: int


class Payment(Model):
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
    paid_at: int | None = None  # when it became paid or overpaid
    # The hosted checkout's redirects (issue 13); None when the merchant gave none.
    success_url: str | None = None
    cancel_url: str | None = None
    quote: Quote | None = None  # a fiat-priced payment's quote (issue 14)
    version: int = 0
    event_seq: int = 0
    transactions: list[Transfer] = Field(default_factory=list)


class Event(Model):
    event_id: str
    type: str
    created: int
    merchant_id: str
    payment_id: str | None = None
    seq: int = 0
    data: dict[str, Any]


class WebhookEndpoint(Model):
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


class Delivery(Model):
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


class DisbursementKind(StrEnum):
    PAYOUT = "payout"  # a merchant's balance to its settlement address
    REFUND = "refund"  # part of a payment back to a payer
    COLD_MOVE = "cold_move"  # hot wallet excess to the allowlisted cold address


class DisbursementStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"  # above the threshold: a second admin decides
    QUEUED = "queued"  # approved (or under the threshold), handed to settlement
    PROCESSING = "processing"  # settlement is broadcasting its transaction
    PAID = "paid"  # mined; the ledger settled it
    FAILED = "failed"  # the transfer failed; the reservation went back to the balance
    REJECTED = "rejected"  # an admin refused it; the reservation went back

    @property
    def is_final(self) -> bool:
        return self in (
            DisbursementStatus.PAID,
            DisbursementStatus.FAILED,
            DisbursementStatus.REJECTED,
        )


class Disbursement(Model):
    """Money leaving the hot wallet. ``gross`` leaves the merchant's balance (reserved
    at creation); ``amount`` = gross - fee - network_fee reaches ``destination``."""

    disbursement_id: str
    kind: DisbursementKind
    status: DisbursementStatus
    merchant_id: str | None  # None for cold moves
    payment_id: str | None = None  # refunds
    destination: str
    gross: int
    fee: int = 0
    network_fee: int = 0
    amount: int
    requested_by: str  # "merchant:mer_…", "admin:<user>", "schedule", "hot_wallet_cap"
    address_set_by: str | None = None  # payouts: the admin who set the destination
    # Requested with an API key: that key and the admin who created it (never its approver)
    requested_key: str | None = None
    key_created_by: str | None = None
    decided_by: str | None = None  # the approving or rejecting admin
    reason: str | None = None  # rejection or failure reason
    tx_hash: str | None = None
    gas_fee_wei: int | None = None
    currency: str = "USDT"  # the token sent (issue 14 §3)
    created_at: int
    updated_at: int
    version: int = 0


class PayoutSchedule(StrEnum):
    MANUAL = "manual"  # only when an admin requests one
    DAILY = "daily"  # once a day at PayoutSettings.daily_hour_utc
    THRESHOLD = "threshold"  # as soon as the available balance reaches the threshold


class SettlementProfile(Model):
    merchant_id: str
    address: str  # checksummed settlement address
    schedule: PayoutSchedule = PayoutSchedule.MANUAL
    threshold: int | None = None  # base units, for THRESHOLD
    fee_bps: int | None = None  # None: the deployment's default
    fee_fixed: int | None = None
    address_changed_at: int = 0
    address_changed_by: str = ""
    # A new address takes effect for payouts once a second admin confirms it.
    address_confirmed_by: str | None = None
    address_confirmed_at: int | None = None
    updated_at: int
    updated_by: str
