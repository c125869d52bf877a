"""A merchant's balance, from the ledger, in base units."""

from __future__ import annotations

from shared import config, ledger
from shared.models.ledger import Asset, MerchantBalance


def of(merchant_id: str) -> MerchantBalance:
    return ledger.default().merchant_balance(merchant_id)


def per_currency(merchant_id: str) -> dict[str, MerchantBalance]:
    """The balance in every accepted token, USDT first (issue 14 §3)."""
    book = ledger.default()
    return {
        symbol: book.merchant_balance(merchant_id, Asset(symbol))
        for symbol in config.chain().token_list()
    }
