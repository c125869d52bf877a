"""The public objects a merchant sees, in API responses and in event payloads alike.

A webhook's ``data.object`` is the payment exactly as ``GET /v1/payments/{id}`` shows
it, so both are built from this one model (``shared/events/payloads.py`` for events,
``shared/models/api.py`` for the OpenAPI document and responses)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from shared import config
from shared.models.amounts import format_amount
from shared.models.base import Model
from shared.models.domain import Payment, Quote, QuoteSource, Transfer


class RiskOut(Model):
    """AML screening of the sender when the transfer became final (docs/adr/0020)."""

    level: str  # none | low | medium | high | severe | unknown
    source: str  # blocklist | provider | provider_unavailable | none


class TransactionOut(Model):
    model_config = ConfigDict(populate_by_name=True)

    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    from_: str = Field(alias="from")
    sender: str  # the sending address (same as "from")
    amount: str
    # The token moved: the payment's currency, or another accepted token (never counted
    # toward the payment; credited in its own currency, issue 14 §3).
    currency: str = "USDT"
    status: str
    # null until the transfer is final and screened
    risk: RiskOut | None = None
    # held | released | returning | returned when the funds were held; null otherwise
    hold: str | None = None

    @classmethod
    def of(cls, transfer: Transfer, decimals: int) -> TransactionOut:
        return cls(
            tx_hash=transfer.tx_hash,
            log_index=transfer.log_index,
            block_number=transfer.block_number,
            block_hash=transfer.block_hash,
            from_=transfer.from_address,
            sender=transfer.from_address,
            amount=format_amount(transfer.amount, decimals),
            currency=transfer.currency,
            status=transfer.status.value,
            risk=RiskOut(level=transfer.risk_level, source=transfer.risk_source or "none")
            if transfer.risk_level
            else None,
            hold=transfer.hold,
        )


class PriceOut(Model):
    amount: str
    currency: str


class QuoteOut(Model):
    """A fiat-priced payment's quote (issue 14): the rate is locked until ``expires_at``
    (the payment's expiry)."""

    price: PriceOut
    rate: str  # tokens per unit of the price's currency, spread included
    spread_bps: int
    sources: list[QuoteSource]
    at: int
    expires_at: int

    @classmethod
    def of(cls, quote: Quote) -> QuoteOut:
        return cls(
            price=PriceOut(amount=quote.price_amount, currency=quote.price_currency),
            rate=quote.rate,
            spread_bps=quote.spread_bps,
            sources=quote.sources,
            at=quote.at,
            expires_at=quote.expires_at,
        )


class PaymentOut(Model):
    id: str
    object: Literal["payment"] = "payment"
    status: str
    amount: str
    currency: str
    network: Literal["bsc"] = "bsc"
    chain_id: int
    token_address: str
    address: str
    amount_received: str
    amount_pending: str
    amount_excess: str  # final funds beyond the amount (overpaid or sent again)
    order_id: str | None
    metadata: dict[str, str]
    created_at: int
    expires_at: int
    payment_uri: str
    # The hosted checkout page for the customer (BSCPAY_CHECKOUT_BASE_URL + "/pay/<id>");
    # null when the deployment has no checkout base URL configured.
    checkout_url: str | None
    success_url: str | None  # where the checkout sends the customer once paid
    cancel_url: str | None  # where it sends them when they give up
    quote: QuoteOut | None = None  # set when the payment was priced in fiat
    transactions: list[TransactionOut]

    @classmethod
    def of(cls, payment: Payment, decimals: int = 18) -> PaymentOut:
        base = config.checkout().base_url
        return cls(
            id=payment.payment_id,
            status=payment.status.value,
            amount=format_amount(payment.amount, decimals),
            currency=payment.currency,
            chain_id=payment.chain_id,
            token_address=payment.token_address,
            address=payment.address,
            amount_received=format_amount(payment.amount_received, decimals),
            amount_pending=format_amount(payment.amount_pending, decimals),
            amount_excess=format_amount(max(payment.amount_received - payment.amount, 0), decimals),
            order_id=payment.order_id,
            metadata=payment.metadata,
            created_at=payment.created_at,
            expires_at=payment.expires_at,
            # EIP-681 token transfer request, understood by wallets.
            payment_uri=(
                f"ethereum:{payment.token_address}@{payment.chain_id}/transfer"
                f"?address={payment.address}&uint256={payment.amount}"
            ),
            checkout_url=f"{base}/pay/{payment.payment_id}" if base else None,
            success_url=payment.success_url,
            cancel_url=payment.cancel_url,
            quote=QuoteOut.of(payment.quote) if payment.quote else None,
            transactions=[TransactionOut.of(t, decimals) for t in payment.transactions],
        )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)
