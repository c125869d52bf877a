"""Deployment settings from CDK context (``-c key=value`` over cdk.json defaults).

-c network=bsc-mainnet|bsc-testnet   picks chain id, token and RPC defaults (cdk.json)
-c prefix=bscpay                      physical-name prefix of every resource
-c rpc_urls=https://a,https://b       JSON-RPC endpoints, tried in order
-c token_address=0x...                required on testnet (no canonical USDT there)
-c token_decimals=18  -c finality_fallback_depth=15
-c alarm_email=ops@example.com        optional e-mail subscription to the alerts topic
-c bundle=false                       read-only synth: skip building assets (ADR 0002)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from infra.cdk.constants import ADDRESS_RE, PREFIX_RE


class ConfigError(ValueError):
    """A deployment setting is missing or malformed; the message says which and how."""


_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class DeploymentConfig:
    prefix: str
    network: str
    chain_id: int
    rpc_urls: tuple[str, ...]
    token_address: str
    token_decimals: int
    finality_fallback_depth: int
    alarm_email: str | None = None
    bundle: bool = True

    def chain_env(self) -> dict[str, str]:
        """The chain half of every function's environment (read by shared.config)."""
        return {
            "BSCPAY_CHAIN_ID": str(self.chain_id),
            "BSCPAY_RPC_URLS": ",".join(self.rpc_urls),
            "BSCPAY_TOKEN_ADDRESS": self.token_address,
            "BSCPAY_TOKEN_DECIMALS": str(self.token_decimals),
            "BSCPAY_FINALITY_FALLBACK_DEPTH": str(self.finality_fallback_depth),
        }


def _int(name: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ConfigError(f"-c {name}={value!r} is not an integer") from None
    if not low <= number <= high:
        raise ConfigError(f"-c {name}={number} is outside [{low}, {high}]")
    return number


def from_context(get: Mapping[str, Any] | Any) -> DeploymentConfig:
    """Build the settings from a context getter (``node.try_get_context``) or a dict."""
    lookup = get.get if isinstance(get, Mapping) else get

    network = str(lookup("network") or "")
    networks: dict[str, dict[str, Any]] = lookup("networks") or {}
    if network not in networks:
        raise ConfigError(
            f"-c network={network!r} is unknown; choose one of {sorted(networks)} "
            "(defaults per network live in cdk.json)"
        )
    defaults = networks[network]

    def setting(name: str) -> Any:
        value = lookup(name)
        return defaults.get(name) if value in (None, "") else value

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

    raw_urls = setting("rpc_urls") or ""
    if isinstance(raw_urls, list | tuple):
        raw_urls = ",".join(str(u) for u in raw_urls)
    urls = tuple(u.strip() for u in str(raw_urls).split(",") if u.strip())
    if not urls:
        raise ConfigError(f"pass -c rpc_urls=https://... (comma-separated) for {network}")
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in ("https", "wss") or not parsed.hostname:
            raise ConfigError(f"RPC URL {url!r} must be https:// or wss:// with a host")

    alarm_email = setting("alarm_email")
    if alarm_email and "@" not in str(alarm_email):
        raise ConfigError(f"-c alarm_email={alarm_email!r} is not an e-mail address")

    return DeploymentConfig(
        prefix=prefix,
        network=network,
        chain_id=_int("chain_id", setting("chain_id"), 1, 2**53),
        rpc_urls=urls,
        token_address=token,
        token_decimals=_int("token_decimals", setting("token_decimals") or 18, 0, 36),
        finality_fallback_depth=_int(
            "finality_fallback_depth", setting("finality_fallback_depth") or 15, 1, 10_000
        ),
        alarm_email=str(alarm_email) if alarm_email else None,
        bundle=str(lookup("bundle") if lookup("bundle") is not None else "true").lower()
        not in _FALSE,
    )
