"""Merchant/admin API request and response shapes (separate from stored models)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from shared.models.amounts import format_amount
from shared.models.base import Model
from shared.models.domain import Delivery, Event, WebhookEndpoint
from shared.models.events import SUBSCRIBABLE_EVENT_TYPES, SubscribableEventType
from shared.models.ledger import MerchantBalance

# The payment object is shared with event payloads; imported here for the responses below.
from shared.models.objects import PaymentOut, RiskOut


class _Strict(Model):
    model_config = ConfigDict(extra="forbid")


class PriceIn(_Strict):
    """A fiat price (issue 14): the token amount comes from a quote, locked for the
    payment's life. Currencies: USD and those with a configured feed (docs/pricing.md)."""

    amount: StrictStr = Field(min_length=1, max_length=40, examples=["19.99"])
    currency: StrictStr = Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])


class CreatePayment(_Strict):
    # A JSON number is rejected (422): amounts are decimal strings only. Exactly one of
    # `amount` (in the token) and `price` (in a fiat currency).
    amount: StrictStr | None = Field(default=None, max_length=40, examples=["12.50"])
    price: PriceIn | None = None
    # The token to be paid in: USDT, or another configured stablecoin (USDC, FDUSD).
    currency: StrictStr = Field(default="USDT", pattern=r"^[A-Z]{2,10}$", examples=["USDT"])
    order_id: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    expires_in: StrictInt | None = Field(default=None, ge=60, le=7 * 24 * 3600)
    # Where the hosted checkout sends the customer once paid / when they give up (https;
    # http only on the local stack). Shown on the payment and to the checkout page.
    success_url: StrictStr | None = Field(
        default=None, min_length=8, max_length=2048, examples=["https://shop.example/thanks"]
    )
    cancel_url: StrictStr | None = Field(
        default=None, min_length=8, max_length=2048, examples=["https://shop.example/cart"]
    )

    @field_validator("metadata")
    @classmethod
    def _bounded_metadata(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 20:
            raise ValueError("metadata has at most 20 keys")
        for key, item in value.items():
            if not 1 <= len(key) <= 40 or len(item) > 500:
                raise ValueError("metadata keys are 1-40 characters, values at most 500")
        return value

    @model_validator(mode="after")
    def _amount_or_price(self) -> CreatePayment:
        if (self.amount is None) == (self.price is None):
            raise ValueError("give exactly one of amount (in the token) and price (in fiat)")
        return self


class CreateWebhookEndpoint(_Strict):
    url: StrictStr = Field(min_length=8, max_length=2048)
    events: list[SubscribableEventType] = Field(
        min_length=1, max_length=len(SUBSCRIBABLE_EVENT_TYPES)
    )


class CreateMerchant(_Strict):
    name: StrictStr = Field(min_length=1, max_length=200)


class UpdateMerchant(_Strict):
    """The settings to change; the ones left out stay as they are."""

    underpay_tolerance_bps: StrictInt | None = Field(default=None, ge=0, le=500)
    # Requests a minute each of the merchant's API keys may make; null: the deployment
    # default (BSCPAY_API_RATE_LIMIT_PER_MINUTE).
    rate_limit_per_minute: StrictInt | None = Field(default=None, ge=1, le=100_000)
    # Added to fiat-priced payments' exchange rate, in basis points (issue 14).
    price_spread_bps: StrictInt | None = Field(default=None, ge=0, le=1_000)

    def changes(self) -> dict[str, int | None]:
        """The fields the request named (an explicit null resets an optional one)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class Rescan(_Strict):
    from_block: StrictInt = Field(ge=0)
    to_block: StrictInt = Field(ge=0)


class CreateRefund(_Strict):
    address: StrictStr = Field(max_length=42, description="Where the refund is sent")
    amount: StrictStr = Field(max_length=64, description='Decimal string, e.g. "12.50"')


class SettlementProfileIn(_Strict):
    address: StrictStr = Field(max_length=42)
    schedule: Literal["manual", "daily", "threshold"] = "manual"
    threshold: StrictStr | None = Field(default=None, max_length=64)
    fee_bps: StrictInt | None = Field(default=None, ge=0, le=10_000)
    fee_fixed: StrictStr | None = Field(default=None, max_length=64)


class RequestPayout(_Strict):
    amount: StrictStr | None = Field(default=None, max_length=64)
    # The token to pay out from its balance in (issue 14 §3).
    currency: StrictStr = Field(default="USDT", pattern=r"^[A-Z]{2,10}$")


class GasFunding(_Strict):
    tx_hash: StrictStr = Field(max_length=66, description="BNB sent to the hot wallet")


class DecideDisbursement(_Strict):
    reason: StrictStr = Field(default="", max_length=500)


class SuspendMerchant(_Strict):
    reason: StrictStr = Field(min_length=1, max_length=500)


class BlockAddress(_Strict):
    """``POST /admin/screening/blocklist`` (docs/adr/0020)."""

    address: StrictStr = Field(
        max_length=64, examples=["0x5aeda56215b167893e80b4fe645ba6d5bab767de"]
    )
    reason: StrictStr = Field(min_length=1, max_length=500)


class SetKyc(_Strict):
    status: Literal["pending", "verified", "rejected"]
    reason: StrictStr | None = Field(default=None, max_length=500)  # required to reject


class SetRoles(_Strict):
    roles: list[Literal["viewer", "support", "finance", "admin"]] = Field(max_length=4)


class CreateApiKey(_Strict):
    ip_allowlist: list[StrictStr] = Field(default_factory=list, max_length=20)


class EventOut(Model):
    id: str
    object: Literal["event"] = "event"
    type: str
    created: int
    payment_id: str | None
    sequence: int  # per payment, 1, 2, 3, ...
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            id=event.event_id,
            type=event.type,
            created=event.created,
            payment_id=event.payment_id,
            sequence=event.seq,
            data=event.data,
        )


class WebhookEndpointOut(Model):
    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    url: str
    events: list[str]
    status: str
    created_at: int
    secret: str | None = None  # only in the creation response

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, secret: str | None = None) -> WebhookEndpointOut:
        return cls(
            id=endpoint.endpoint_id,
            url=endpoint.url,
            events=endpoint.events,
            status=endpoint.status,
            created_at=endpoint.created_at,
            secret=secret,
        )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class DeliveryOut(Model):
    id: str
    object: Literal["webhook_delivery"] = "webhook_delivery"
    event_id: str
    event_type: str
    attempt: int
    created: int
    status_code: int | None
    latency_ms: int
    error: str | None
    response_excerpt: str | None
    cursor: str

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            id=d.delivery_id,
            event_id=d.event_id,
            event_type=d.event_type,
            attempt=d.attempt,
            created=d.created,
            status_code=d.status_code,
            latency_ms=d.latency_ms,
            error=d.error,
            response_excerpt=d.response_excerpt,
            cursor=d.cursor,
        )


class Page(Model):
    object: Literal["list"] = "list"
    data: list[Any]
    has_more: bool
    next_cursor: str | None = None


class ErrorDetail(Model):
    type: str
    code: str
    message: str
    param: str | None = None


class ErrorOut(Model):
    error: ErrorDetail


class PaymentList(Model):
    object: Literal["list"] = "list"
    data: list[PaymentOut]
    has_more: bool


class WebhookEndpointList(Model):
    object: Literal["list"] = "list"
    data: list[WebhookEndpointOut]
    has_more: bool


class EventList(Model):
    object: Literal["list"] = "list"
    data: list[EventOut]
    has_more: bool


class DeliveryList(Model):
    object: Literal["list"] = "list"
    data: list[DeliveryOut]
    has_more: bool


class DeletedOut(Model):
    id: str
    object: str
    deleted: bool


class RedeliveryOut(Model):
    id: str
    object: Literal["event"] = "event"
    redelivering_to: int


class CurrencyBalanceOut(Model):
    currency: str  # "USDT", "USDC", "FDUSD"
    available: str
    pending_payout: str
    held: str


class BalanceOut(Model):
    """The USDT balance (top level, as before issue 14) and every accepted token's."""

    object: Literal["balance"] = "balance"
    currency: Literal["USDT"] = "USDT"
    available: str  # final funds credited to the merchant
    pending_payout: str  # reserved for payouts not yet settled
    held: str = "0"  # from flagged senders, awaiting review (docs/adr/0020)
    balances: list[CurrencyBalanceOut] = Field(default_factory=list)

    @classmethod
    def of(cls, per_currency: dict[str, MerchantBalance], decimals: int) -> BalanceOut:
        def fmt(value: int) -> str:
            return format_amount(value, decimals)

        usdt = per_currency["USDT"]
        return cls(
            available=fmt(usdt.available),
            pending_payout=fmt(usdt.pending_payout),
            held=fmt(usdt.held),
            balances=[
                CurrencyBalanceOut(
                    currency=symbol,
                    available=fmt(b.available),
                    pending_payout=fmt(b.pending_payout),
                    held=fmt(b.held),
                )
                for symbol, b in per_currency.items()
            ],
        )


class DisbursementOut(Model):
    """A payout (``po_…``) or a refund (``re_…``)."""

    id: str
    object: Literal["payout", "refund", "cold_move"]
    status: Literal["pending_approval", "queued", "processing", "paid", "failed", "rejected"]
    currency: str = "USDT"  # the token sent: USDT, USDC or FDUSD (issue 14 §3)
    amount: str  # what reaches the destination
    gross: str  # what left the merchant's balance
    fee: str
    network_fee: str
    destination: str
    tx_hash: str | None
    failure_reason: str | None
    created_at: int
    updated_at: int
    payment_id: str | None = None  # refunds
    # Why a queued transfer is not sent yet (e.g. "hot_wallet_liquidity"), in words too.
    waiting_for: Literal["hot_wallet_liquidity", "merchant_kyc"] | None = None
    waiting_message: str | None = None


class DisbursementList(Model):
    object: Literal["list"] = "list"
    data: list[DisbursementOut]
    has_more: bool


class ReportRow(Model):
    """One bucket of the summary report (docs/adr/0022). Payment counts and time to paid
    belong to the bucket the payment was created in; money to when the ledger moved it."""

    start: int  # unix seconds
    end: int  # unix seconds, excluded
    payments_created: int
    payments_paid: int  # paid in full: paid or overpaid
    payments_overpaid: int
    payments_underpaid: int
    payments_expired: int
    payments_canceled: int
    payments_held: int  # held for screening at some point
    conversion_rate: str | None  # payments_paid / payments_created, 4 places
    gross_received: str  # final funds credited (late funds included)
    late_funds: str  # funds final after their payment had settled
    fees_earned: str  # fees of settled payouts and refunds
    refunded: str  # sent back to payers (net of fees)
    paid_out: str  # sent to settlement addresses (net of fees)
    time_to_paid_p50_s: int | None  # histogram resolution: 5 s to 1 min, then coarser
    time_to_paid_p95_s: int | None


class ReportSummaryOut(Model):
    object: Literal["report.summary"] = "report.summary"
    interval: Literal["day", "week", "month"]
    merchant_id: str | None
    data: list[ReportRow]
    totals: ReportRow


# ---- customer deposit addresses (issue 14 §2) ------------------------------------------


class CreateCustomer(_Strict):
    """The merchant's own name for its customer; the same reference always gives the
    same customer and address."""

    reference: StrictStr = Field(min_length=1, max_length=128, examples=["user-42"])
    currency: StrictStr = Field(default="USDT", pattern=r"^[A-Z]{2,10}$", examples=["USDT"])


class CustomerOut(Model):
    id: str
    object: Literal["customer"] = "customer"
    reference: str
    currency: str  # the token the merchant expects; every accepted token is credited
    address: str  # permanent: every final transfer to it is a deposit
    network: Literal["bsc"] = "bsc"
    chain_id: int
    token_address: str
    created_at: int


class DepositOut(Model):
    id: str  # "dep_…"
    object: Literal["deposit"] = "deposit"
    customer: str
    reference: str | None
    amount: str
    currency: str
    status: str  # pending | final | reversed
    sender: str
    address: str
    tx_hash: str
    log_index: int
    block_number: int
    seen_at: int
    risk: RiskOut | None = None
    held: bool = False  # from a flagged sender: credited to held, awaiting review


class CustomerList(Model):
    object: Literal["list"] = "list"
    data: list[CustomerOut]
    has_more: bool


class DepositList(Model):
    object: Literal["list"] = "list"
    data: list[DepositOut]
    has_more: bool = False
