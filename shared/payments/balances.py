"""A merchant's balance, from the ledger, in base units."""

from __future__ import annotations

from shared import ledger
from shared.models.ledger import MerchantBalance


def of(merchant_id: str) -> MerchantBalance:
    return ledger.default().merchant_balance(merchant_id)
