"""The public checkout status (``GET /pay/{payment_id}/status``, issue 13): what the
paying customer's page may know about a payment. Nothing merchant-private: no merchant
id, order id, metadata or transaction details."""

from __future__ import annotations

from typing import Literal

from shared.models.base import Model


class Confirmations(Model):
    """Progress of funds seen but not final yet (approximate: blocks the scanner has read
    on top of the newest such transfer, against the gap to the finalized block)."""

    seen: int
    required: int


class CheckoutPrice(Model):
    """A fiat-priced payment's price and its locked rate (issue 14)."""

    amount: str  # "19.99"
    currency: str  # "EUR"
    rate: str  # tokens per unit of the currency, locked for the payment's life


class CheckoutOut(Model):
    id: str
    object: Literal["checkout"] = "checkout"
    merchant_name: str
    # pending | confirming | paid | overpaid | underpaid | expired | canceled | held
    status: str
    amount: str  # decimal USDT strings
    amount_received: str  # seen on chain, final or not
    amount_remaining: str  # what is still missing ("0" once paid)
    currency: str = "USDT"  # the token to pay in: USDT, USDC or FDUSD (issue 14 §3)
    network: Literal["BNB Smart Chain"] = "BNB Smart Chain"
    chain_id: int
    token_address: str
    token_decimals: int
    address: str  # the deposit address
    amount_units: str  # amount_remaining in base units
    # ethereum:<token>@<chainId>/transfer?address=<deposit>&uint256=<amount_units>
    eip681: str
    confirmations: Confirmations | None  # while funds are confirming
    expires_at: int  # unix seconds
    created_at: int
    now: int  # server time, for the countdown
    success_url: str | None
    cancel_url: str | None
    price: CheckoutPrice | None = None  # set when the merchant priced it in fiat
