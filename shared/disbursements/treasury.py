"""The operator's view of the money on chain, and recording BNB sent for gas.

Gas funding is booked only for a transaction the chain confirms: mined, successful,
sent to the hot wallet, carrying the stated value. Its hash is the journal id, so the
same funding is never counted twice.
"""

from __future__ import annotations

import re
from typing import Any

from shared import config, ledger
from shared.chain.rpc import JsonRpc, endpoints
from shared.custody import setup
from shared.disbursements import schedule
from shared.errors import InvalidState, ValidationFailed
from shared.models.amounts import format_amount

TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
BNB_DECIMALS = 18


def overview() -> dict[str, Any]:
    settings = config.payouts()
    holdings = ledger.default().holdings()
    owed = sum(d.amount for d in schedule.in_flight())
    decimals = config.chain().token_decimals
    return {
        "object": "treasury",
        "hot_wallet": setup.hot_wallet_address(),
        "cold_address": settings.cold_address or None,
        "hot_wallet_cap": str(settings.hot_wallet_cap),
        "usdt": {
            "deposits": format_amount(holdings["holdings:deposits"], decimals),
            "hot": format_amount(holdings["holdings:hot"], decimals),
            "cold": format_amount(holdings["holdings:cold"], decimals),
            "owed_in_flight": format_amount(owed, decimals),
        },
        "bnb": {"gas": format_amount(holdings["holdings:gas"], BNB_DECIMALS)},
        # The other accepted tokens (issue 14 §3): on deposit addresses and the hot wallet.
        "tokens": {
            symbol: {
                "deposits": format_amount(holdings.get(f"{symbol}:holdings:deposits", 0), decimals),
                "hot": format_amount(holdings.get(f"{symbol}:holdings:hot", 0), decimals),
            }
            for symbol in config.chain().token_list()
            if symbol != "USDT"
        },
    }


def record_gas_funding(tx_hash: str, rpc: JsonRpc | None = None) -> int:
    """Book the BNB a confirmed transaction sent to the hot wallet; returns wei."""
    if not isinstance(tx_hash, str) or not TX_HASH.fullmatch(tx_hash):
        raise ValidationFailed("tx_hash must be a 0x-prefixed 32-byte hash", "tx_hash")
    hot = setup.hot_wallet_address()
    if not hot:
        raise InvalidState("custody is not set up: there is no hot wallet yet")
    rpc = rpc or JsonRpc(endpoints())
    tx = rpc.call("eth_getTransactionByHash", [tx_hash])
    receipt = rpc.receipt(tx_hash)
    if not tx or not receipt:
        raise ValidationFailed("no mined transaction with this hash", "tx_hash")
    if int(receipt.get("status", "0x0"), 16) != 1:
        raise ValidationFailed("the transaction failed on chain", "tx_hash")
    if str(tx.get("to") or "").lower() != hot.lower():
        raise ValidationFailed(f"the transaction does not pay the hot wallet {hot}", "tx_hash")
    value = int(tx.get("value", "0x0"), 16)
    if value <= 0:
        raise ValidationFailed("the transaction carries no BNB", "tx_hash")
    ledger.default().fund_gas(value, journal_id=f"gas_funding:{tx_hash.lower()}")
    return value
