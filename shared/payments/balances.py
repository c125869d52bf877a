"""A merchant's balance, from the ledger."""

from __future__ import annotations

from shared import config, ledger
from shared.models.api import BalanceOut
from shared.payments.amounts import format_amount


def of(merchant_id: str) -> BalanceOut:
    balance = ledger.default().merchant_balance(merchant_id)
    decimals = config.chain().token_decimals
    return BalanceOut(
        available=format_amount(balance.available, decimals),
        pending_payout=format_amount(balance.pending_payout, decimals),
    )
