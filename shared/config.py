"""Configuration: one pydantic settings class per concern, read once at cold start.

A misconfigured function fails at start with a clear message (pydantic's
ValidationError names the missing ``BSCPAY_*`` variable).
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import resources


class AwsSettings(BaseSettings):
    """Where the stateful resources live (AWS or the local moto server)."""

    model_config = SettingsConfigDict(env_prefix="BSCPAY_", extra="ignore")

    prefix: str = "bscpay"
    region: str = Field(default="us-east-1", validation_alias="AWS_DEFAULT_REGION")
    # Set only for the local stack and tests (moto server); None means real AWS.
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    webhook_queue_url: str = ""
    settlement_queue_url: str = ""
    secrets_key_id: str = ""
    custody_key_id: str = ""
    user_pool_id: str = ""
    alerts_topic_arn: str = ""

    def table_name(self, logical: str) -> str:
        return resources.physical_name(self.prefix, logical)


class ChainSettings(BaseSettings):
    """The chain and token this deployment accepts."""

    model_config = SettingsConfigDict(env_prefix="BSCPAY_", extra="ignore")

    chain_id: int = 56
    rpc_urls: str = ""  # comma-separated, tried in order
    # Optional: wake on `newHeads` instead of polling every block interval.
    ws_url: str | None = None
    token_address: str = "0x55d398326f99059fF775485246999027B3197955"
    token_decimals: int = 18
    # Used when the node's `finalized` tag is absent or stops advancing for
    # `finality_stall_s` seconds: blocks this deep under the head count as final.
    finality_fallback_depth: int = 15
    finality_stall_s: float = 30.0
    # Extra confirmations for large transfers, e.g. '[{"min_amount": "10000", "extra_depth": 5}]'.
    risk_tiers: str = "[]"

    def extra_depth_for(self, amount_units: int) -> int:
        tiers = json.loads(self.risk_tiers or "[]")
        depth = 0
        for tier in tiers:
            if amount_units >= int(Decimal(str(tier["min_amount"])) * 10**self.token_decimals):
                depth = max(depth, int(tier["extra_depth"]))
        return depth

    @field_validator("token_address")
    @classmethod
    def _checksum_shape(cls, value: str) -> str:
        if not (value.startswith("0x") and len(value) == 42):
            raise ValueError("BSCPAY_TOKEN_ADDRESS must be a 0x-prefixed 20-byte address")
        int(value, 16)
        return value

    @field_validator("risk_tiers")
    @classmethod
    def _tiers_shape(cls, value: str) -> str:
        tiers = json.loads(value or "[]")
        if not isinstance(tiers, list) or not all(
            isinstance(t, dict) and {"min_amount", "extra_depth"} <= set(t) for t in tiers
        ):
            raise ValueError("BSCPAY_RISK_TIERS must be a JSON list of {min_amount, extra_depth}")
        return value

    def rpc_url_list(self) -> list[str]:
        return [u.strip() for u in self.rpc_urls.split(",") if u.strip()]


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BSCPAY_", extra="ignore")

    # Local mode allows http:// and loopback webhook targets; never in AWS.
    local_mode: bool = False
    signature_tolerance_s: int = 300
    default_expires_in_s: int = 900
    max_expires_in_s: int = 7 * 24 * 3600


class ScannerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BSCPAY_SCANNER_", extra="ignore")

    # Stop looping this long before the Lambda deadline.
    safety_margin_s: float = 8.0
    poll_interval_s: float = 0.45
    max_blocks_per_query: int = 2000
    lease_s: int = 90
    # Where a fresh deployment starts scanning; default: the current head.
    start_block: int | None = None


class PayoutSettings(BaseSettings):
    """Money leaving the hot wallet: payouts, refunds, cold moves (docs/adr/0013).
    Amounts are decimal USDT strings, like the API's."""

    model_config = SettingsConfigDict(env_prefix="BSCPAY_PAYOUT_", extra="ignore")

    # Platform fee defaults for merchants without their own terms.
    fee_bps: int = Field(default=50, ge=0, le=10_000)
    fee_fixed: Decimal = Field(default=Decimal("0"), ge=0)
    # Flat network fee charged per payout and refund (covers the hot wallet's gas).
    network_fee: Decimal = Field(default=Decimal("0.10"), ge=0)
    # Payouts and refunds above this wait for a second admin (four eyes).
    approval_threshold: Decimal = Field(default=Decimal("1000"), ge=0)
    # Smallest payout worth sending (after fees).
    minimum: Decimal = Field(default=Decimal("1"), gt=0)
    # Hot wallet cap: USDT above it (less what is reserved for payouts and refunds)
    # moves to the cold address; moves above cold_approval_threshold need approval.
    hot_wallet_cap: Decimal = Field(default=Decimal("10000"), ge=0)
    cold_approval_threshold: Decimal = Field(default=Decimal("50000"), ge=0)
    # The only destination a cold move can have. Empty: no cold moves.
    cold_address: str = ""
    # UTC hour at which daily payouts are made.
    daily_hour_utc: int = Field(default=0, ge=0, le=23)
    # After a settlement address changes, payouts to it need a second admin this long.
    address_cooldown_s: int = Field(default=86_400, ge=0)
    # Our Sweeper contract (refused as a destination); shared with the sweep settings.
    sweeper_address: str = Field(default="", validation_alias="BSCPAY_SWEEP_SWEEPER_ADDRESS")

    @field_validator("cold_address")
    @classmethod
    def _cold_shape(cls, value: str) -> str:
        if value and not (value.startswith("0x") and len(value) == 42):
            raise ValueError("BSCPAY_PAYOUT_COLD_ADDRESS must be a 0x-prefixed 20-byte address")
        if value:
            int(value, 16)
        return value


@lru_cache(maxsize=1)
def aws() -> AwsSettings:
    return AwsSettings()


@lru_cache(maxsize=1)
def chain() -> ChainSettings:
    return ChainSettings()


@lru_cache(maxsize=1)
def api() -> ApiSettings:
    return ApiSettings()


@lru_cache(maxsize=1)
def scanner() -> ScannerSettings:
    return ScannerSettings()


@lru_cache(maxsize=1)
def payouts() -> PayoutSettings:
    return PayoutSettings()


def reset() -> None:
    """Forget cached settings (tests and the local stack change the environment)."""
    for fn in (aws, chain, api, scanner, payouts):
        fn.cache_clear()
