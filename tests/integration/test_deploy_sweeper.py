"""The operator's Sweeper deploy command (issue 16 §1) against the local chain and the
local stack's custody record."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3 import Web3

from shared.chain.artifacts import load_artifact
from shared.custody import setup
from shared.local import chain
from shared.local.stack import LocalStack
from tools import deploy_sweeper


def test_the_command_deploys_a_sweeper_operated_by_the_hot_wallet(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deployer = Account.create()  # a fresh operator account, funded for gas
    chain.rpc_call(stack.info["rpc_url"], "anvil_setBalance", deployer.address, hex(10**18))
    monkeypatch.setenv("SWEEPER_DEPLOYER_KEY", deployer.key.to_0x_hex())

    assert deploy_sweeper.main([]) == 0

    out = capsys.readouterr().out
    address = out.split("Sweeper deployed at ")[1].split()[0]
    assert deployer.key.to_0x_hex()[2:] not in out  # the key is never printed
    w3 = chain.web3_for(stack.info["rpc_url"])
    contract = w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_artifact("Sweeper")["abi"]
    )
    assert contract.functions.OPERATOR().call() == setup.hot_wallet_address()
    assert f'"sweeper_address": "{address}"' in out


def test_the_command_refuses_without_a_key_or_gas(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SWEEPER_DEPLOYER_KEY", raising=False)
    assert deploy_sweeper.main([]) == 2
    monkeypatch.setenv("SWEEPER_DEPLOYER_KEY", Account.create().key.to_0x_hex())  # no BNB
    assert deploy_sweeper.main([]) == 1
    assert "holds no BNB" in capsys.readouterr().err
