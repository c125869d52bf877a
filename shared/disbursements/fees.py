"""What a disbursement costs the merchant: bscpay's platform fee (per merchant or the
deployment default) and the network fee that recovers gas, in USDT base units."""

from __future__ import annotations

from typing import Any

from shared import config
from shared.models.domain import SettlementProfile


def units(value: Any) -> int:
    """A configured decimal USDT amount in base units."""
    return int(value * 10 ** config.chain().token_decimals)


def platform_fee(profile: SettlementProfile | None, gross: int) -> int:
    settings = config.payouts()
    bps = profile.fee_bps if profile and profile.fee_bps is not None else settings.fee_bps
    fixed = (
        profile.fee_fixed
        if profile and profile.fee_fixed is not None
        else units(settings.fee_fixed)
    )
    return -(-gross * bps // 10_000) + fixed  # percent rounded up, plus the fixed part


def network_fee() -> int:
    return units(config.payouts().network_fee)
