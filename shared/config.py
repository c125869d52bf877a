"""Configuration: one pydantic settings class per concern, read once at cold start.

A misconfigured function fails at start with a clear message (pydantic's
ValidationError names the missing ``BSCPAY_*`` variable).
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import resources


class AwsSettings(BaseSettings):
    """Where the stateful resources live (AWS or the local moto server)."""

    model_config = SettingsConfigDict(env_prefix="BSCPAY_", extra="ignore", defer_build=True)

    prefix: str = "bscpay"
    region: str = Field(default="us-east-1", validation_alias="AWS_DEFAULT_REGION")
    # Set only for the local stack and tests (moto server); None means real AWS.
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    webhook_queue_url: str = ""
    settlement_queue_url: str = ""
    secrets_key_id: str = ""
    custody_key_id: str = ""
    # A KMS key in ANOTHER region (its ARN) under which custody setup also seals the
    # mnemonic: the recovery path when the primary region or its key is lost (ADR 0036).
    custody_backup_key_id: str = ""
    user_pool_id: str = ""
    alerts_topic_arn: str = ""
    # CSV exports too large to answer inline go here (docs/reports.md); "" = inline only.
    exports_bucket: str = ""

    def table_name(self, logical: str) -> str:
        return resources.physical_name(self.prefix, logical)


# The stablecoins bscpay knows (each is an asset of the ledger, shared.models.ledger).
KNOWN_TOKENS = ("USDT", "USDC", "FDUSD")


class Token(BaseModel):
    """One accepted BEP20 stablecoin: its symbol (the payment's ``currency``), its
    contract (0x hex as configured; compare with ``.lower()``) and decimals."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    address: str
    decimals: int


class ChainSettings(BaseSettings):
    """The chain and tokens this deployment accepts."""

    model_config = SettingsConfigDict(env_prefix="BSCPAY_", extra="ignore", defer_build=True)

    chain_id: int = 56
    rpc_urls: str = ""  # comma-separated, tried in order
    # In AWS the URLs (they carry providers' API keys) are a Secrets Manager secret,
    # named here and read at cold start (shared.chain.rpc.endpoints); never in the
    # template or the environment (issue 16).
    rpc_urls_secret: str = ""
    # Optional: wake on `newHeads` instead of polling every block interval.
    ws_url: str | None = None
    token_address: str = "0x55d398326f99059fF775485246999027B3197955"  # USDT
    token_decimals: int = 18
    # The other stablecoins accepted beside USDT (issue 14 §3, docs/adr/0028), e.g.
    # '{"USDC": {"address": "0x8AC7…", "decimals": 18}, "FDUSD": {...}}'. Symbols from
    # KNOWN_TOKENS; every token has the decimals of USDT (18 on BSC). Empty: USDT only.
    tokens: str = "{}"
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

    @field_validator("tokens")
    @classmethod
    def _tokens_shape(cls, value: str) -> str:
        tokens = json.loads(value or "{}")
        if not isinstance(tokens, dict):
            raise ValueError("BSCPAY_TOKENS must be a JSON object of symbol -> {address, decimals}")
        for symbol, spec in tokens.items():
            if symbol not in KNOWN_TOKENS:
                raise ValueError(f"BSCPAY_TOKENS: {symbol!r} is not one of {KNOWN_TOKENS}")
            address = spec.get("address", "") if isinstance(spec, dict) else ""
            if not (isinstance(address, str) and address.startswith("0x") and len(address) == 42):
                raise ValueError(f"BSCPAY_TOKENS: {symbol} needs a 0x-prefixed address")
            int(address, 16)
        return value

    @model_validator(mode="after")
    def _tokens_agree(self) -> ChainSettings:
        seen: set[str] = set()
        for token in self.token_list().values():
            if token.decimals != self.token_decimals:
                raise ValueError(
                    f"BSCPAY_TOKENS: {token.symbol} has {token.decimals} decimals; every "
                    f"accepted token must have USDT's {self.token_decimals}"
                )
            if token.address.lower() in seen:
                raise ValueError(f"BSCPAY_TOKENS: {token.address} is listed twice")
            seen.add(token.address.lower())
        return self

    def token_list(self) -> dict[str, Token]:
        """Every accepted token by symbol, USDT (``token_address``) first."""
        out = {
            "USDT": Token(symbol="USDT", address=self.token_address, decimals=self.token_decimals)
        }
        for symbol, spec in json.loads(self.tokens or "{}").items():
            if symbol == "USDT":
                continue  # USDT is token_address
            out[symbol] = Token(
                symbol=symbol,
                address=str(spec["address"]),
                decimals=int(spec.get("decimals", self.token_decimals)),
            )
        return out

    def token(self, symbol: str) -> Token | None:
        return self.token_list().get(symbol)

    def token_at(self, address: str) -> Token | None:
        return next(
            (t for t in self.token_list().values() if t.address.lower() == address.lower()), None
        )

    def rpc_url_list(self) -> list[str]:
        return [u.strip() for u in self.rpc_urls.split(",") if u.strip()]


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BSCPAY_", extra="ignore", defer_build=True)

    # Local mode allows http:// and loopback webhook targets; never in AWS.
    local_mode: bool = False
    signature_tolerance_s: int = 300
    default_expires_in_s: int = 900
    max_expires_in_s: int = 7 * 24 * 3600
    # Requests a minute per API key unless the merchant has its own
    # (BSCPAY_API_RATE_LIMIT_PER_MINUTE; issue 15, docs/adr/0033).
    api_rate_limit_per_minute: int = Field(default=600, ge=1, le=100_000)
    # Webhook redeliveries and test events a minute per merchant: each one fans out to
    # every endpoint, so they get their own small budget.
    webhook_action_limit_per_minute: int = Field(default=10, ge=1, le=10_000)


class CheckoutSettings(BaseSettings):
    """The hosted checkout (``BSCPAY_CHECKOUT_*``, issue 13): where its pages live and how
    hard its public status endpoint may be polled."""

    model_config = SettingsConfigDict(
        env_prefix="BSCPAY_CHECKOUT_", extra="ignore", defer_build=True
    )

    # Every payment object carries checkout_url = base_url + "/pay/<id>" (the local stack:
    # http://127.0.0.1:<api port>; AWS: the CloudFront domain). Empty: checkout_url null.
    base_url: str = ""
    # GET /pay/<id>/status: at most this many requests per client IP per window (a
    # DynamoDB counter per IP and window; the page polls every ~2 s).
    rate_limit: int = Field(default=120, ge=1)
    rate_window_s: int = Field(default=60, ge=1, le=3600)
    # The header carrying the viewer's address when a proxy (CloudFront:
    # "CloudFront-Viewer-Address") sits in front; empty: the connection's source IP.
    client_ip_header: str = ""
    # The secret CloudFront sends as X-Origin-Verify (docs/adr/0026): with one set, the
    # header above is believed only on requests carrying it; a request straight to the
    # API's own endpoint is counted by its source IP, whatever headers it invents.
    # The value (local stack, tests) or the Secrets Manager secret holding it (AWS).
    origin_secret: SecretStr = SecretStr("")
    origin_secret_arn: str = ""

    @field_validator("base_url")
    @classmethod
    def _base_shape(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("BSCPAY_CHECKOUT_BASE_URL must start with https:// or http://")
        return value


class ScannerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BSCPAY_SCANNER_", extra="ignore", defer_build=True
    )

    # Stop looping this long before the Lambda deadline.
    safety_margin_s: float = 8.0
    poll_interval_s: float = 0.45
    max_blocks_per_query: int = 2000
    lease_s: int = 90
    # Transfers to different payments are recorded and finalized this many at a time;
    # each payment's own stay in chain order, with one worker (issue 16 §2).
    workers: int = Field(default=8, ge=1, le=32)
    # Where a fresh deployment starts scanning; default: the current head.
    start_block: int | None = None


class PayoutSettings(BaseSettings):
    """Money leaving the hot wallet: payouts, refunds, cold moves (docs/adr/0013).
    Amounts are decimal USDT strings, like the API's."""

    model_config = SettingsConfigDict(env_prefix="BSCPAY_PAYOUT_", extra="ignore", defer_build=True)

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


class KycSettings(BaseSettings):
    """Merchant KYC (``BSCPAY_KYC_*``, docs/adr/0021): the provider's signed callback and
    whether payouts wait for ``verified``."""

    model_config = SettingsConfigDict(env_prefix="BSCPAY_KYC_", extra="ignore", defer_build=True)

    # Payouts (manual, scheduled, queued) wait until the merchant's KYC is verified.
    payouts_require_kyc: bool = Field(default=False, validation_alias="BSCPAY_PAYOUTS_REQUIRE_KYC")
    # HMAC-SHA256 secret shared with the KYC provider: the value itself (local stack,
    # tests) or a Secrets Manager secret holding it (AWS). Neither: the callback is off.
    callback_secret: SecretStr = SecretStr("")
    callback_secret_arn: str = ""
    # The timestamp a callback is signed with (t= in X-Kyc-Signature) must be this close.
    callback_tolerance_s: int = Field(default=300, ge=30, le=3600)


class ScreeningSettings(BaseSettings):
    """AML screening of senders (``BSCPAY_SCREENING_*``, docs/adr/0020). The blocklist
    always applies; the HTTP provider only when ``provider_url`` is set."""

    model_config = SettingsConfigDict(
        env_prefix="BSCPAY_SCREENING_", extra="ignore", defer_build=True
    )

    # POST {"address", "chain_id"} signed with HMAC-SHA256 (X-Bscpay-Signature); the
    # answer is {"level": "none|low|medium|high|severe"}. Empty: no provider.
    provider_url: str = ""
    # The HMAC secret shared with the provider (never logged): the value itself (local
    # stack, tests) or the Secrets Manager secret holding it (AWS).
    provider_secret: SecretStr = SecretStr("")
    provider_secret_arn: str = ""
    timeout_s: float = Field(default=3.0, gt=0, le=30)
    # Risk levels that hold a transfer's funds.
    flag_levels: str = "high,severe"
    # When the provider cannot answer (error, timeout, breaker open) and no cached
    # verdict is left: "closed" holds the funds for review, "open" lets them through.
    fail_mode: Literal["open", "closed"] = "closed"
    # A provider verdict is reused for an address this long.
    cache_ttl_s: int = Field(default=3600, ge=0)
    # After this many consecutive failures the provider is not called for reset_s.
    breaker_failures: int = Field(default=5, ge=1)
    breaker_reset_s: float = Field(default=60.0, gt=0)

    def flagged_levels(self) -> frozenset[str]:
        return frozenset(x.strip().lower() for x in self.flag_levels.split(",") if x.strip())


# --- settlement (shared/settlement) ----------------------------------------------------

GWEI = 10**9
MIN_BUMP_BPS = 1250  # 12.5 %: above geth/BSC's 10 % replacement rule, with rounding room


class OutboundSettings(BaseSettings):
    """Outgoing transfers from the hot wallet (``BSCPAY_OUTBOUND_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="BSCPAY_OUTBOUND_", extra="ignore", defer_build=True
    )

    # A broadcast transaction not mined this long after it was signed is replaced.
    stuck_after_s: float = Field(default=60.0, gt=0)
    # How long one invocation waits for the receipt before TransferStillPending (keep it
    # well under the function's timeout).
    wait_s: float = Field(default=30.0, ge=0)
    poll_interval_s: float = Field(default=1.0, gt=0)
    # Gas price increase of a replacement, in basis points of the highest live attempt.
    gas_bump_bps: int = Field(default=MIN_BUMP_BPS, ge=MIN_BUMP_BPS, le=100_000)
    # The nonce is used on chain but no attempt has a receipt: a lagging node, usually,
    # so the record stays open; this long after that was first seen: alert
    # `nonce_used_elsewhere` and look for the transaction in finalized blocks.
    nonce_lost_after_s: float = Field(default=3600.0, ge=0)
    # Full blocks that scan reads per call (it goes on from there on the next call).
    nonce_scan_blocks: int = Field(default=200, ge=1, le=10_000)


class SweepSettings(BaseSettings):
    """Executing sweeps (``BSCPAY_SWEEP_*``): gas-price policy and the Sweeper."""

    model_config = SettingsConfigDict(env_prefix="BSCPAY_SWEEP_", extra="ignore", defer_build=True)

    # BSC validators accept 0.05-0.1 gwei today; the ceiling bounds what a spiking or
    # lying node can make us pay. Every hot-wallet transaction uses this policy
    # (shared.chain.evm.gas_policy).
    gas_floor_wei: int = Field(default=GWEI // 10, ge=0)
    gas_ceiling_wei: int = Field(default=5 * GWEI, gt=0)
    # Our Sweeper instance (deployed with the hot wallet as operator); empty: naive only.
    sweeper_address: str = ""
    max_batch: int = Field(default=200, ge=1, le=1000)

    @model_validator(mode="after")
    def _floor_under_ceiling(self) -> SweepSettings:
        if self.gas_floor_wei > self.gas_ceiling_wei:
            raise ValueError("BSCPAY_SWEEP_GAS_FLOOR_WEI exceeds BSCPAY_SWEEP_GAS_CEILING_WEI")
        return self


class PlannerSettings(BaseSettings):
    """Planning sweeps (``BSCPAY_SWEEP_*``): what is worth sweeping, and when to resume."""

    model_config = SettingsConfigDict(env_prefix="BSCPAY_SWEEP_", extra="ignore", defer_build=True)

    # Below this (base units) a sweep would mostly pay gas: wait for more to arrive.
    min_amount: int = Field(default=10**18, ge=0)
    batch: int = Field(default=50, ge=1, le=200)
    # Sweeps planned per token and run (each of up to `batch` deposits): the planner's
    # ceiling is batch x max_batches deposits a minute (issue 16 §2), not one batch.
    # 50 x 50 = 2,500 a minute: the 100x target (~38 payments/s) makes 2,280; the hot
    # wallet's group no longer waits for receipts (docs/adr/0040), so it keeps up.
    max_batches: int = Field(default=50, ge=1, le=100)
    # A sweep record left open (not CONFIRMED/FAILED) and unchanged this long is sent
    # to the queue again: its message ran out of receives (~6 minutes of "not mined
    # yet") and went to the DLQ, and nothing else would ever finish it.
    resume_after_s: int = Field(default=900, ge=0)
    resume_batch: int = Field(default=25, ge=1, le=100)


class ReconcilerSettings(BaseSettings):
    """The ledger-versus-chain reconciler (``BSCPAY_RECONCILE_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="BSCPAY_RECONCILE_", extra="ignore", defer_build=True
    )

    # BNB the ledger cannot see yet: gas left on deposit addresses by naive sweeps.
    gas_tolerance_wei: int = Field(default=10**16, ge=0)
    max_addresses: int = Field(default=5000, ge=1)
    # A drift must still be there this much later to be reported (transfers in flight).
    confirm_after_s: float = Field(default=20.0, ge=0)


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
def checkout() -> CheckoutSettings:
    return CheckoutSettings()


@lru_cache(maxsize=1)
def scanner() -> ScannerSettings:
    return ScannerSettings()


@lru_cache(maxsize=1)
def payouts() -> PayoutSettings:
    return PayoutSettings()


@lru_cache(maxsize=1)
def kyc() -> KycSettings:
    return KycSettings()


@lru_cache(maxsize=1)
def screening() -> ScreeningSettings:
    return ScreeningSettings()


@lru_cache(maxsize=1)
def outbound() -> OutboundSettings:
    return OutboundSettings()


@lru_cache(maxsize=1)
def sweeps() -> SweepSettings:
    return SweepSettings()


@lru_cache(maxsize=1)
def planner() -> PlannerSettings:
    return PlannerSettings()


@lru_cache(maxsize=1)
def reconciler() -> ReconcilerSettings:
    return ReconcilerSettings()


class ExportSettings(BaseSettings):
    """CSV exports and statements (``BSCPAY_EXPORT_*``, docs/reports.md)."""

    model_config = SettingsConfigDict(env_prefix="BSCPAY_EXPORT_", extra="ignore", defer_build=True)

    # An export with at most this many rows and bytes is answered inline (text/csv);
    # a larger one is uploaded to the exports bucket and answered with a pre-signed URL.
    inline_rows: int = Field(default=1000, ge=0)
    inline_bytes: int = Field(default=1_000_000, ge=0, le=5_000_000)
    # An export stops with 422 past this many rows: ask for a shorter period.
    max_rows: int = Field(default=1_000_000, ge=1)
    # How long a pre-signed download URL works (the bucket deletes objects after a day).
    url_ttl_s: int = Field(default=900, ge=60, le=86_400)
    # Writing an export stops with 422 after this long (the API functions time out at
    # 15 s: a clear error instead of a gateway timeout).
    max_seconds: float = Field(default=10.0, gt=0, le=900)
    # A statement (JSON) lists at most this many ledger entries: 422 beyond it.
    statement_max_entries: int = Field(default=5000, ge=1)
    # Unix seconds from which every ledger posting also writes its merchant's daily
    # net_* report counters (when the release adding them was deployed; 1577836800 on a
    # deployment that had them from the start). 0: inferred from the counters (the day
    # after the first day that has any). Statements read entries before it, counters
    # after it (shared/reports/counting.py).
    counters_since: int = Field(default=0, ge=0)


@lru_cache(maxsize=1)
def exports() -> ExportSettings:
    return ExportSettings()


class PricingSettings(BaseSettings):
    """Fiat-priced payments (``BSCPAY_PRICE_*``, issue 14, docs/adr/0027): Chainlink
    feeds on the chain, checked for age and against a second, independent HTTP source."""

    model_config = SettingsConfigDict(env_prefix="BSCPAY_PRICE_", extra="ignore", defer_build=True)

    # Feed addresses per pair, all quoted in USD: '{"EUR/USD": "0x…", "USDT/USD": "0x…"}'.
    # The fiat currencies a payment may be priced in are USD and every "<X>/USD" here
    # whose X is not a token symbol. Empty: fiat pricing is off (400 on `price`).
    feeds: str = "{}"
    # A feed whose latest round is older than this is stale (Chainlink's fiat and
    # stablecoin feeds on BSC have a 24 h heartbeat; a 25 h default leaves one hour).
    max_age_s: int = Field(default=90_000, ge=60)
    # The second source: GET returns {"rates": {"EUR/USD": "1.0801", ...}} (docs/pricing.md).
    rates_url: str = ""
    rates_timeout_s: float = Field(default=2.0, gt=0, le=10)
    # The feed and the second source may differ by at most this much.
    max_deviation_bps: int = Field(default=100, ge=1, le=2_000)
    # After this many failures in a row the second source is not asked for
    # `rates_breaker_reset_s` seconds (quotes answer 503 meanwhile).
    rates_breaker_fail_max: int = Field(default=3, ge=1)
    rates_breaker_reset_s: float = Field(default=30.0, gt=0)

    @field_validator("feeds")
    @classmethod
    def _feeds_shape(cls, value: str) -> str:
        feeds = json.loads(value or "{}")
        if not isinstance(feeds, dict):
            raise ValueError("BSCPAY_PRICE_FEEDS must be a JSON object of pair -> address")
        for pair, address in feeds.items():
            if not (isinstance(pair, str) and pair.endswith("/USD") and len(pair) >= 5):
                raise ValueError(f"BSCPAY_PRICE_FEEDS: {pair!r} is not an <X>/USD pair")
            if not (isinstance(address, str) and address.startswith("0x") and len(address) == 42):
                raise ValueError(f"BSCPAY_PRICE_FEEDS: {pair} needs a 0x-prefixed address")
            int(address, 16)
        return value

    def feed_map(self) -> dict[str, str]:
        return dict(json.loads(self.feeds or "{}"))


@lru_cache(maxsize=1)
def pricing() -> PricingSettings:
    return PricingSettings()


def reset() -> None:
    """Forget cached settings (tests and the local stack change the environment)."""
    for fn in (
        pricing,
        aws,
        chain,
        api,
        checkout,
        scanner,
        payouts,
        kyc,
        screening,
        outbound,
        sweeps,
        planner,
        reconciler,
    ):
        fn.cache_clear()
    exports.cache_clear()
