"""Deployment settings: one committed block per stage in cdk.json ("stages"), picked with
``-c stage=NAME`` (required); a ``-c key=value`` overrides one setting for one run.

Order: -c value > the stage's block > the network's defaults (cdk.json "networks").
A stage fixes its network: ``-c network`` may only repeat it, so a later deploy can never
switch a stage to another chain, and on bsc-mainnet the cold address and the approval
thresholds are required, so they cannot be dropped by a forgotten flag.

-c stage=test|prod                    the stage block of cdk.json (README "Deploying to AWS")
-c network=bsc-mainnet|bsc-testnet   picks chain id and token defaults (cdk.json)
-c prefix=bscpay                      physical-name prefix of every resource
-c rpc_urls_secret=bscpay/rpc-urls    Secrets Manager secret holding the JSON-RPC URLs
                                      (comma-separated; they carry API keys, so never
                                      in the template or a function's environment)
-c token_address=0x...                required on testnet (no canonical USDT there)
-c token_decimals=18  -c finality_fallback_depth=15
-c alarm_email=ops@example.com,b@x.io  e-mail subscribers of the alerts topic (list or comma string)
-c alarm_sms=+14155550100,+4930123   SMS subscribers of the alerts topic (E.164 numbers)
-c payouts_require_kyc=true           payouts wait for a verified merchant (docs/adr/0021)
-c cold_address=0x...                 the only destination of hot-wallet excess (optional)
-c hot_wallet_cap=10000  -c payout_approval_threshold=1000  -c cold_approval_threshold=50000
                                      USDT amounts (docs/adr/0013); defaults in shared.config
-c sweeper_address=0x...              the deployed Sweeper (batched sweeps, ADR 0009)
-c scanner_memory_mb=512              the chain scanner's memory, so its CPU: size it for the
                                      stage's peak payment rate (README "Scanner size")
-c bundle=false                       read-only synth: skip building assets (ADR 0002)
-c web_domain=pay.example.com -c web_certificate_arn=arn:aws:acm:us-east-1:...
                                      the web faces' custom domain (docs/adr/0025); both or neither
-c web_acl_arn=arn:aws:wafv2:us-east-1:...:global/webacl/...
                                      a CLOUDFRONT WebACL (us-east-1) for the distribution
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.cdk.constants import ADDRESS_RE, PREFIX_RE


class ConfigError(ValueError):
    """A deployment setting is missing or malformed; the message says which and how."""


_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class DeploymentConfig:
    prefix: str
    network: str
    chain_id: int
    rpc_urls_secret: str  # the Secrets Manager secret's name (the URLs are its value)
    token_address: str
    token_decimals: int
    finality_fallback_depth: int
    alarm_emails: tuple[str, ...] = ()
    alarm_sms: tuple[str, ...] = ()
    bundle: bool = True
    # BSCPAY_* settings for money movements, validated (e.g. BSCPAY_PAYOUT_COLD_ADDRESS).
    settlement: tuple[tuple[str, str], ...] = ()
    # The CloudFront distribution's custom domain and its us-east-1 ACM certificate.
    web_domain: str | None = None
    web_certificate_arn: str | None = None
    web_acl_arn: str | None = None  # a CLOUDFRONT-scope WAFv2 WebACL (us-east-1)
    stage: str = ""
    # Fiat pricing (issue 14): Chainlink feeds per pair (network defaults in cdk.json)
    # and the second source; without a second source fiat pricing is off.
    price_feeds: tuple[tuple[str, str], ...] = ()
    price_rates_url: str = ""
    # The other stablecoins beside USDT (issue 14 §3): symbol -> address, 18 decimals as
    # USDT on BSC (network defaults in cdk.json; a stage may set its own "tokens").
    tokens: tuple[tuple[str, str], ...] = ()
    # The scanner's memory (Lambda's CPU share follows it): None keeps shared.resources'.
    scanner_memory_mb: int | None = None

    def memory_mb(self, function: str, default: int) -> int:
        if function == "chain_scanner" and self.scanner_memory_mb is not None:
            return self.scanner_memory_mb
        return default

    @property
    def fiat_pricing(self) -> bool:
        return bool(self.price_feeds and self.price_rates_url)

    def settlement_env(self) -> dict[str, str]:
        return dict(self.settlement)

    def chain_env(self) -> dict[str, str]:
        """The chain half of every function's environment (read by shared.config)."""
        return {
            "BSCPAY_CHAIN_ID": str(self.chain_id),
            # only the secret's name: the URLs are read at cold start (shared.chain.rpc)
            "BSCPAY_RPC_URLS_SECRET": self.rpc_urls_secret,
            "BSCPAY_TOKEN_ADDRESS": self.token_address,
            "BSCPAY_TOKEN_DECIMALS": str(self.token_decimals),
            "BSCPAY_FINALITY_FALLBACK_DEPTH": str(self.finality_fallback_depth),
            **(
                {
                    "BSCPAY_TOKENS": json.dumps(
                        {
                            s: {"address": a, "decimals": self.token_decimals}
                            for s, a in self.tokens
                        },
                        sort_keys=True,
                    )
                }
                if self.tokens
                else {}
            ),
            **(
                {
                    "BSCPAY_PRICE_FEEDS": json.dumps(dict(self.price_feeds), sort_keys=True),
                    "BSCPAY_PRICE_RATES_URL": self.price_rates_url,
                }
                if self.fiat_pricing
                else {}
            ),
        }


def _int(name: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ConfigError(f"-c {name}={value!r} is not an integer") from None
    if not low <= number <= high:
        raise ConfigError(f"-c {name}={number} is outside [{low}, {high}]")
    return number


# context key -> (environment variable, kind)
_SETTLEMENT_CONTEXT: dict[str, tuple[str, str]] = {
    "cold_address": ("BSCPAY_PAYOUT_COLD_ADDRESS", "address"),
    "sweeper_address": ("BSCPAY_SWEEP_SWEEPER_ADDRESS", "address"),
    "hot_wallet_cap": ("BSCPAY_PAYOUT_HOT_WALLET_CAP", "amount"),
    "payout_approval_threshold": ("BSCPAY_PAYOUT_APPROVAL_THRESHOLD", "amount"),
    "cold_approval_threshold": ("BSCPAY_PAYOUT_COLD_APPROVAL_THRESHOLD", "amount"),
    "payouts_require_kyc": ("BSCPAY_PAYOUTS_REQUIRE_KYC", "bool"),
    # AML screening (docs/adr/0020): the HTTP provider (its secret is created by the
    # stack when a URL is set), what happens when it cannot answer, what it holds.
    "screening_provider_url": ("BSCPAY_SCREENING_PROVIDER_URL", "https_url"),
    "screening_fail_mode": ("BSCPAY_SCREENING_FAIL_MODE", "fail_mode"),
    "screening_flag_levels": ("BSCPAY_SCREENING_FLAG_LEVELS", "levels"),
}
_RISK_LEVELS = {"none", "low", "medium", "high", "severe"}
_AMOUNT_RE = re.compile(r"(0|[1-9][0-9]{0,19})(\.[0-9]{1,18})?")
_EMAIL_RE = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")
_E164_RE = re.compile(r"\+[1-9][0-9]{6,14}")
_TRUE = {"true", "1", "yes", "on"}


def _list(name: str, value: Any) -> tuple[str, ...]:
    """A context value given as a JSON list (cdk.json) or a comma-separated string (-c)."""
    if value in (None, ""):
        return ()
    if isinstance(value, list | tuple):
        items = [str(v).strip() for v in value]
    elif isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    else:
        raise ConfigError(f"-c {name}={value!r} must be a list or a comma-separated string")
    found = tuple(dict.fromkeys(v for v in items if v))  # in order, without repeats
    if len(found) > 20:
        raise ConfigError(f"-c {name}: at most 20 subscribers")
    return found


def _settlement(lookup: Any) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for name, (env, kind) in _SETTLEMENT_CONTEXT.items():
        value = lookup(name)
        if value in (None, ""):
            continue
        text = str(value)
        if kind == "address" and not ADDRESS_RE.match(text):
            raise ConfigError(f"-c {name}={text!r} is not a 0x-prefixed 20-byte address")
        if kind == "amount" and not _AMOUNT_RE.fullmatch(text):
            raise ConfigError(f"-c {name}={text!r} is not a decimal USDT amount such as 1000")
        if kind == "https_url" and not re.fullmatch(r"https://[^\s/?#]+(/[^\s]*)?", text):
            raise ConfigError(f"-c {name}={text!r} must be an https:// URL")
        if kind == "fail_mode" and text not in ("open", "closed"):
            raise ConfigError(f"-c {name}={text!r} must be open or closed")
        if kind == "levels" and not {v.strip() for v in text.split(",")} <= _RISK_LEVELS:
            raise ConfigError(f"-c {name}={text!r} must list levels of {sorted(_RISK_LEVELS)}")
        if kind == "bool":
            if text.lower() not in _TRUE | _FALSE:
                raise ConfigError(f"-c {name}={text!r} must be true or false")
            text = "true" if text.lower() in _TRUE else "false"
        out.append((env, text))
    return tuple(out)


# What a bsc-mainnet stage must state itself (issue 16): money settings that must never
# fall back to code defaults because a flag was forgotten.
MAINNET_REQUIRED = (
    "cold_address",
    "hot_wallet_cap",
    "payout_approval_threshold",
    "cold_approval_threshold",
)
_SECRET_NAME_RE = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")


def from_context(get: Mapping[str, Any] | Any) -> DeploymentConfig:
    """Build the settings from a context getter (``node.try_get_context``) or a dict."""
    raw = get.get if isinstance(get, Mapping) else get

    stages: dict[str, dict[str, Any]] = raw("stages") or {}
    stage = str(raw("stage") or "")
    if stage not in stages:
        raise ConfigError(
            f"-c stage={stage!r}: pass -c stage=NAME, one of {sorted(stages)} (each stage's "
            "settings are committed in cdk.json under \"stages\"; README 'Deploying to AWS')"
        )
    block = stages[stage]

    def lookup(name: str) -> Any:
        value = raw(name)
        return block.get(name) if value in (None, "") else value

    network = str(block.get("network") or "")
    asked = raw("network")
    if asked not in (None, "", network):
        raise ConfigError(
            f"stage {stage!r} is on {network!r}; -c network={asked!r} would switch it "
            "(change the stage in cdk.json instead)"
        )
    networks: dict[str, dict[str, Any]] = raw("networks") or {}
    if network not in networks:
        raise ConfigError(
            f"stage {stage!r}: network={network!r} is unknown; choose one of "
            f"{sorted(networks)} (defaults per network live in cdk.json)"
        )
    defaults = networks[network]

    def setting(name: str) -> Any:
        value = lookup(name)
        return defaults.get(name) if value in (None, "") else value

    if network == "bsc-mainnet":
        missing = [name for name in MAINNET_REQUIRED if setting(name) in (None, "")]
        if missing:
            raise ConfigError(
                f"stage {stage!r} (bsc-mainnet) must set {', '.join(missing)} in cdk.json: "
                "money settings never fall back to defaults on mainnet"
            )

    prefix = str(setting("prefix") or "bscpay")
    if not PREFIX_RE.match(prefix):
        raise ConfigError(f"-c prefix={prefix!r} must match {PREFIX_RE.pattern}")

    token = setting("token_address")
    if not token:
        raise ConfigError(
            f"{network} has no default USDT contract: pass -c token_address=0x... "
            "(the BEP20 token this deployment accepts)"
        )
    token = str(token)
    if not ADDRESS_RE.match(token):
        raise ConfigError(f"-c token_address={token!r} is not a 0x-prefixed 20-byte address")

    if setting("rpc_urls") not in (None, ""):
        raise ConfigError(
            "rpc_urls is not a deploy setting: RPC URLs carry providers' API keys, so they "
            "live in a Secrets Manager secret named by rpc_urls_secret (README 'Deploying "
            "to AWS')"
        )
    rpc_urls_secret = str(setting("rpc_urls_secret") or "")
    if not _SECRET_NAME_RE.fullmatch(rpc_urls_secret):
        raise ConfigError(
            f"stage {stage!r}: rpc_urls_secret={rpc_urls_secret!r} must name the Secrets "
            "Manager secret holding the JSON-RPC URLs (e.g. bscpay/rpc-urls)"
        )

    alarm_emails = _list("alarm_email", setting("alarm_email"))
    for email in alarm_emails:
        if not _EMAIL_RE.fullmatch(email):
            raise ConfigError(f"-c alarm_email: {email!r} is not an e-mail address")
    alarm_sms = _list("alarm_sms", setting("alarm_sms"))
    for number in alarm_sms:
        if not _E164_RE.fullmatch(number):
            raise ConfigError(
                f"-c alarm_sms: {number!r} is not an E.164 phone number such as +14155550100"
            )

    web_domain, web_certificate_arn = _web_domain(lookup)
    price_feeds, price_rates_url = _pricing(setting)
    return DeploymentConfig(
        tokens=_tokens(setting("tokens")),
        price_feeds=price_feeds,
        price_rates_url=price_rates_url,
        stage=stage,
        prefix=prefix,
        network=network,
        chain_id=_int("chain_id", setting("chain_id"), 1, 2**53),
        rpc_urls_secret=rpc_urls_secret,
        token_address=token,
        token_decimals=_int("token_decimals", setting("token_decimals") or 18, 0, 36),
        finality_fallback_depth=_int(
            "finality_fallback_depth", setting("finality_fallback_depth") or 15, 1, 10_000
        ),
        alarm_emails=alarm_emails,
        alarm_sms=alarm_sms,
        bundle=str(lookup("bundle") if lookup("bundle") is not None else "true").lower()
        not in _FALSE,
        settlement=_settlement(setting),
        web_domain=web_domain,
        web_certificate_arn=web_certificate_arn,
        web_acl_arn=_web_acl(lookup),
        scanner_memory_mb=(
            None
            if setting("scanner_memory_mb") in (None, "")
            # Lambda's range; the bench's sizing (bench/scanner_sizing.py) picks the value
            else _int("scanner_memory_mb", setting("scanner_memory_mb"), 128, 10_240)
        ),
    )


_KNOWN_TOKENS = ("USDC", "FDUSD")  # beside USDT (shared.config.KNOWN_TOKENS)


def _tokens(value: Any) -> tuple[tuple[str, str], ...]:
    if not value:
        return ()
    if not isinstance(value, dict):
        raise ConfigError("tokens must be an object of symbol -> address in cdk.json")
    for symbol, address in value.items():
        if symbol not in _KNOWN_TOKENS or not ADDRESS_RE.match(str(address)):
            raise ConfigError(
                f"tokens: {symbol!r} -> {address!r}: symbols are {', '.join(_KNOWN_TOKENS)}, "
                "addresses 0x-prefixed (USDT is token_address)"
            )
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))


_PAIR_RE = re.compile(r"[A-Z0-9]{2,10}/USD")


def _pricing(setting: Any) -> tuple[tuple[tuple[str, str], ...], str]:
    """``price_feeds`` ({"EUR/USD": "0x…"}; the network's defaults in cdk.json) and
    ``price_rates_url`` (https; the second source, docs/pricing.md)."""
    feeds = setting("price_feeds") or {}
    if not isinstance(feeds, dict):
        raise ConfigError("price_feeds must be an object of pair -> feed address in cdk.json")
    for pair, address in feeds.items():
        if not _PAIR_RE.fullmatch(str(pair)) or not ADDRESS_RE.match(str(address)):
            raise ConfigError(f"price_feeds: {pair!r} -> {address!r} is not <X>/USD -> 0x address")
    url = str(setting("price_rates_url") or "")
    if url and not url.startswith("https://"):
        raise ConfigError(f"-c price_rates_url={url!r} must be an https:// URL")
    return tuple(sorted((str(k), str(v)) for k, v in feeds.items())), url


_DOMAIN_RE = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_CF_WEB_ACL_RE = re.compile(
    r"arn:aws[a-z-]*:wafv2:us-east-1:[0-9]{12}:global/webacl/[A-Za-z0-9_-]{1,128}/[0-9a-f-]{36}"
)
_CF_CERT_RE = re.compile(r"arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[0-9a-f-]{36}")


def _web_acl(lookup: Any) -> str | None:
    arn = str(lookup("web_acl_arn") or "").strip() or None
    if arn is not None and not _CF_WEB_ACL_RE.fullmatch(arn):
        raise ConfigError(
            f"-c web_acl_arn={arn!r} must be a CLOUDFRONT-scope WAFv2 WebACL ARN "
            "(arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>)"
        )
    return arn


def _web_domain(lookup: Any) -> tuple[str | None, str | None]:
    domain = str(lookup("web_domain") or "").strip().lower() or None
    cert = str(lookup("web_certificate_arn") or "").strip() or None
    if (domain is None) != (cert is None):
        raise ConfigError("pass both -c web_domain=... and -c web_certificate_arn=..., or neither")
    if domain is not None and not _DOMAIN_RE.fullmatch(domain):
        raise ConfigError(f"-c web_domain={domain!r} is not a host name such as pay.example.com")
    if cert is not None and not _CF_CERT_RE.fullmatch(cert):
        raise ConfigError(
            f"-c web_certificate_arn={cert!r} must be an ACM certificate in us-east-1 "
            "(CloudFront only uses certificates from there)"
        )
    return domain, cert
