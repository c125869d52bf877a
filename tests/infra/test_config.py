"""Deployment settings from CDK context: network defaults from cdk.json, clear failures."""

from __future__ import annotations

import pytest

from infra.cdk.config import ConfigError, from_context
from tests.infra.conftest import cdk_context


def test_mainnet_defaults_come_from_cdk_json() -> None:
    config = from_context(cdk_context(bundle=None))
    assert config.network == "bsc-mainnet"
    assert config.chain_id == 56
    assert config.token_address == "0x55d398326f99059fF775485246999027B3197955"
    assert config.token_decimals == 18
    assert config.rpc_urls and all(u.startswith("https://") for u in config.rpc_urls)
    assert config.bundle is True  # deploy-safe default: assets are built


def test_testnet_without_a_token_address_fails_with_the_flag_to_pass() -> None:
    with pytest.raises(ConfigError, match="-c token_address=0x"):
        from_context(cdk_context(network="bsc-testnet"))


def test_testnet_with_a_token_address_uses_chain_97() -> None:
    token = "0x337610d27c682E347C9cD60BD4b3b107C9d34dDd"
    config = from_context(
        cdk_context(
            network="bsc-testnet",
            token_address=token,
            rpc_urls="https://a.example, https://b.example",
        )
    )
    assert config.chain_id == 97
    assert config.chain_env()["BSCPAY_RPC_URLS"] == "https://a.example,https://b.example"
    assert config.chain_env()["BSCPAY_TOKEN_ADDRESS"] == token


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"network": "bsc-devnet"}, "unknown"),
        ({"rpc_urls": "http://plain.example"}, "https://"),
        ({"rpc_urls": " , "}, "rpc_urls"),
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
        "BSCPAY_PAYOUT_COLD_ADDRESS": cold,
        "BSCPAY_PAYOUT_HOT_WALLET_CAP": "2500",
    }
    # unset: the defaults in shared.config apply
    assert from_context(cdk_context()).settlement_env() == {}
