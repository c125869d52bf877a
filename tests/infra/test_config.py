"""Deployment settings: committed stages in cdk.json over network defaults, -c over both,
clear failures (issue 16)."""

from __future__ import annotations

import json

import pytest

from infra.cdk.config import ConfigError, from_context
from tests.infra.conftest import cdk_context


def test_a_mainnet_stage_takes_network_defaults_and_its_own_settings() -> None:
    config = from_context(cdk_context(bundle=None))
    assert (config.stage, config.network, config.chain_id) == ("ci", "bsc-mainnet", 56)
    assert config.token_address == "0x55d398326f99059fF775485246999027B3197955"
    assert config.token_decimals == 18
    assert config.rpc_urls_secret == "bscpay/rpc-urls"
    assert config.bundle is True  # deploy-safe default: assets are built
    # the secret's name, never the URLs, goes to the functions (issue 16)
    assert config.chain_env()["BSCPAY_RPC_URLS_SECRET"] == "bscpay/rpc-urls"
    assert "BSCPAY_RPC_URLS" not in config.chain_env()


def test_the_stage_is_required_and_must_exist() -> None:
    for stage in (None, "", "staging"):
        with pytest.raises(ConfigError, match="-c stage=NAME"):
            from_context(cdk_context(stage=stage))


def test_a_stage_cannot_be_switched_to_another_network_by_a_flag() -> None:
    with pytest.raises(ConfigError, match="would switch it"):
        from_context(cdk_context(network="bsc-testnet"))
    # repeating the stage's own network is fine
    assert from_context(cdk_context(network="bsc-mainnet")).chain_id == 56


@pytest.mark.parametrize("missing", ["cold_address", "payout_approval_threshold"])
def test_a_mainnet_stage_without_its_money_settings_fails_the_synth(missing: str) -> None:
    stage = {**cdk_context()["stages"]["ci"], missing: ""}
    with pytest.raises(ConfigError, match=f"must set {missing}"):
        from_context(cdk_context(stages={"ci": stage}))


def test_the_committed_stages_are_valid_or_name_what_is_missing() -> None:
    # test (testnet) synthesizes as committed; prod waits for the operator's cold address
    test = from_context(cdk_context(stage="test"))
    assert (test.network, test.chain_id, test.prefix) == ("bsc-testnet", 97, "bscpay-test")
    assert test.settlement_env()["BSCPAY_PAYOUT_APPROVAL_THRESHOLD"] == "100"
    with pytest.raises(ConfigError, match="must set cold_address"):
        from_context(cdk_context(stage="prod"))


def test_rpc_urls_are_refused_as_a_deploy_setting() -> None:
    with pytest.raises(ConfigError, match="Secrets Manager"):
        from_context(cdk_context(rpc_urls="https://bsc.example/?key=secret"))
    with pytest.raises(ConfigError, match="rpc_urls_secret"):
        from_context(cdk_context(rpc_urls_secret="has spaces"))


def test_a_testnet_stage_without_a_token_address_fails_with_the_setting_to_add() -> None:
    stage = {**cdk_context()["stages"]["test"], "token_address": ""}
    with pytest.raises(ConfigError, match="-c token_address=0x"):
        from_context(cdk_context(stages={"test": stage}, stage="test"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"network": "bsc-devnet"}, "would switch"),
        ({"token_address": "0x1234"}, "20-byte"),
        ({"prefix": "Bad_Prefix"}, "prefix"),
        ({"token_decimals": "eighteen"}, "integer"),
        ({"cold_address": "0xnothex"}, "cold_address"),
        ({"hot_wallet_cap": "-5"}, "hot_wallet_cap"),
        ({"payout_approval_threshold": "1e6"}, "payout_approval_threshold"),
    ],
)
def test_malformed_settings_are_refused_before_anything_is_built(
    override: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        from_context(cdk_context(**override))


def test_money_settings_reach_the_functions_environment() -> None:
    cold = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"
    config = from_context(cdk_context(cold_address=cold, hot_wallet_cap="2500"))
    env = config.settlement_env()
    assert env == {
        "BSCPAY_PAYOUT_COLD_ADDRESS": cold,  # -c wins over the stage for one run
        "BSCPAY_PAYOUT_HOT_WALLET_CAP": "2500",
        "BSCPAY_PAYOUT_APPROVAL_THRESHOLD": "1000",  # from the stage
        "BSCPAY_PAYOUT_COLD_APPROVAL_THRESHOLD": "50000",
    }


def test_fiat_pricing_needs_the_network_feeds_and_a_second_source() -> None:
    # The mainnet network carries Chainlink's BSC feeds; without a second source the
    # functions get none of it (fiat pricing answers 400, the synth says so).
    off = from_context(cdk_context())
    assert dict(off.price_feeds)["EUR/USD"] == "0x0bf79F617988C472DcA68ff41eFe1338955b9A80"
    assert not off.fiat_pricing
    assert "BSCPAY_PRICE_FEEDS" not in off.chain_env()

    on = from_context(cdk_context(price_rates_url="https://rates.example/v1/usd"))
    env = on.chain_env()
    assert env["BSCPAY_PRICE_RATES_URL"] == "https://rates.example/v1/usd"
    assert '"USDT/USD": "0xB97Ad0E74fa7d920791E90258A6E2085088b4320"' in env["BSCPAY_PRICE_FEEDS"]

    with pytest.raises(ConfigError, match="https://"):
        from_context(cdk_context(price_rates_url="http://rates.example"))


def test_mainnet_accepts_usdc_and_fdusd_beside_usdt() -> None:
    env = from_context(cdk_context()).chain_env()
    assert json.loads(env["BSCPAY_TOKENS"]) == {
        "FDUSD": {"address": "0xc5f0f7b66764F6ec8C8Dff7BA683102295E16409", "decimals": 18},
        "USDC": {"address": "0x8AC76a51cc950d9822D68b83fE1Ad97B32Cd580d", "decimals": 18},
    }
    with pytest.raises(ConfigError, match="symbols are"):
        from_context(cdk_context(tokens={"DAI": "0x" + "1" * 40}))


def test_the_scanner_memory_is_a_stage_setting_within_lambdas_range() -> None:
    # issue 16 §3: sized per stage by bench/scanner_sizing.py; other functions keep theirs
    config = from_context(cdk_context(scanner_memory_mb="512"))
    assert config.memory_mb("chain_scanner", 1024) == 512
    assert config.memory_mb("merchant_api", 1024) == 1024
    assert from_context(cdk_context()).memory_mb("chain_scanner", 1024) == 1024  # unset
    for bad in ("64", "20000", "lots"):
        with pytest.raises(ConfigError, match="scanner_memory_mb"):
            from_context(cdk_context(scanner_memory_mb=bad))
