"""A merchant's balance, from the ledger."""

from __future__ import annotations

from shared import config, ledger
from shared.models.amounts import format_amount
from shared.models.api import BalanceOut


def of(merchant_id: str) -> BalanceOut:
    balance = ledger.default().merchant_balance(merchant_id)
    decimals = config.chain().token_decimals
    return BalanceOut(
        available=format_amount(balance.available, decimals),
        pending_payout=format_amount(balance.pending_payout, decimals),
    )
