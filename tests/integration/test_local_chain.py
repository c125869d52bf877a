"""The local chain `make run` and the integration tests stand on: anvil + BEP20 USDT.

One anvil for the module, mining a block every 0.45 s like BSC (and like `make run`).
The reorg test pauses that miner to make its depth exact, so it runs last.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound

from shared.chain.artifacts import load_artifact
from shared.local import chain
from shared.local.chain import Anvil, AnvilError, LocalChain

TRANSFER_TOPIC = HexBytes(Web3.keccak(text="Transfer(address,address,uint256)"))
USDT = 10**18


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    # A free port, so the suite can run next to a `make run` holding 8545.
    with Anvil.start(port=0, block_time=chain.BSC_BLOCK_TIME_S) as node:
        yield node


@pytest.fixture(scope="module")
def local(anvil: Anvil) -> LocalChain:
    return chain.bootstrap_local_chain(anvil.rpc_url)


def _address_topic(address: str) -> HexBytes:
    return HexBytes(bytes(12) + bytes.fromhex(address[2:]))


def _token_transfers(receipt: Any, token: str) -> list[Any]:
    return [
        log
        for log in receipt["logs"]
        if Web3.to_checksum_address(log["address"]) == token and log["topics"][0] == TRANSFER_TOPIC
    ]


def test_committed_artifacts_match_contract_sources() -> None:
    # Given the committed artifacts, When compared with contracts/*.sol,
    # Then none is stale (recompile with `node contracts/compile.mjs`).
    for name in ("TetherToken", "PaymentRouter"):
        artifact = load_artifact(name)
        source = chain.REPO_ROOT / artifact["source"]["path"]
        assert hashlib.sha256(source.read_bytes()).hexdigest() == artifact["source"]["sha256"]
        assert artifact["compiler"]["evmVersion"] == "cancun"
        assert len(artifact["deployedBytecode"]) > 2


def test_start_refuses_a_port_that_is_taken(anvil: Anvil) -> None:
    with pytest.raises(AnvilError, match="already in use"):
        Anvil.start(port=anvil.port)


def test_token_looks_like_bsc_usdt(anvil: Anvil, local: LocalChain) -> None:
    token = chain.token_contract(anvil.rpc_url, local.token_address)

    assert token.functions.decimals().call() == 18
    assert token.functions.name().call() == "Tether USD"
    assert token.functions.symbol().call() == "USDT"
    assert token.functions.getOwner().call() == local.deployer_address
    assert local.chain_id == 31337 == Web3(Web3.HTTPProvider(anvil.rpc_url)).eth.chain_id


def test_bootstrap_gives_customer_a_million_usdt_and_gas(anvil: Anvil, local: LocalChain) -> None:
    w3 = chain.web3_for(anvil.rpc_url)

    assert chain.token_balance(anvil.rpc_url, local.token_address, local.customer_address) == (
        1_000_000 * USDT
    )
    assert w3.eth.get_balance(Web3.to_checksum_address(local.customer_address)) >= 10 * 10**18
    assert Account.from_key(local.customer_private_key).address == local.customer_address


def test_only_the_owner_can_mint(anvil: Anvil, local: LocalChain) -> None:
    with pytest.raises(ContractLogicError, match="caller is not the owner"):
        chain.mint(
            anvil.rpc_url,
            local.token_address,
            local.customer_private_key,
            local.customer_address,
            USDT,
        )


def test_transfer_emits_a_transfer_log_with_indexed_from_and_to(
    anvil: Anvil, local: LocalChain
) -> None:
    # Given a fresh deposit address
    deposit = Account.create().address
    amount = 12 * USDT + 5 * 10**17  # 12.5 USDT

    # When the customer pays it
    tx_hash = chain.transfer(
        anvil.rpc_url, local.token_address, local.customer_private_key, deposit, amount
    )

    # Then the token emitted exactly one Transfer(customer -> deposit, amount)
    receipt = chain.web3_for(anvil.rpc_url).eth.get_transaction_receipt(tx_hash)
    [log] = _token_transfers(receipt, local.token_address)
    assert log["topics"] == [
        TRANSFER_TOPIC,
        _address_topic(local.customer_address),
        _address_topic(deposit),
    ]
    assert int.from_bytes(log["data"], "big") == amount
    assert chain.token_balance(anvil.rpc_url, local.token_address, deposit) == amount


def test_payment_routed_through_a_contract_emits_token_transfer_to_recipient(
    anvil: Anvil, local: LocalChain
) -> None:
    # Given the router is deployed and a fresh deposit address
    deposit = Account.create().address
    amount = 3 * USDT

    # When the customer pays through the router (tx sent to the router, not the token)
    tx_hash = chain.pay_via_router(
        anvil.rpc_url,
        local.router_address,
        local.token_address,
        local.customer_private_key,
        deposit,
        amount,
    )

    # Then the token's own logs carry customer -> router -> deposit
    w3 = chain.web3_for(anvil.rpc_url)
    assert w3.eth.get_transaction(tx_hash)["to"] == local.router_address
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    transfers = _token_transfers(receipt, local.token_address)
    assert [log["topics"][1:] for log in transfers] == [
        [_address_topic(local.customer_address), _address_topic(local.router_address)],
        [_address_topic(local.router_address), _address_topic(deposit)],
    ]
    assert int.from_bytes(transfers[1]["data"], "big") == amount
    # and the router's own (non-token) log is in the same receipt
    assert any(
        Web3.to_checksum_address(x["address"]) == local.router_address for x in receipt["logs"]
    )
    assert chain.token_balance(anvil.rpc_url, local.token_address, deposit) == amount


def test_finalized_tag_trails_the_head_by_a_few_blocks_at_450ms(anvil: Anvil) -> None:
    # Given anvil mining every 0.45 s with --slots-in-an-epoch 1
    w3 = chain.web3_for(anvil.rpc_url)
    first_finalized: int | None = None
    finalized = 0

    # When sampling `finalized` (resolved to a number) until it has advanced twice
    # (about 1 s on an idle machine; generous deadline for a busy one)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        first_finalized is None or finalized < first_finalized + 2
    ):
        head_before = w3.eth.block_number
        finalized = w3.eth.get_block("finalized")["number"]
        head_after = w3.eth.block_number

        # Then it is never ahead of the head, and lags it by about two blocks
        assert finalized <= head_after
        assert head_before - finalized <= 3
        first_finalized = finalized if first_finalized is None else first_finalized
        time.sleep(0.15)

    # and it advances as blocks are mined
    assert first_finalized is not None
    assert finalized >= first_finalized + 2


def test_depth_two_reorg_removes_a_transaction_and_its_funds(
    anvil: Anvil, local: LocalChain
) -> None:
    url = anvil.rpc_url
    w3 = chain.web3_for(url)
    deposit = Account.create().address
    # Pause the 0.45 s miner and automine instead, so the tx sits exactly 2 deep.
    # (evm_setIntervalMining takes whole seconds: the 0.45 s miner cannot be restored,
    # hence this test runs last and leaves 1 s blocks behind.)
    chain.rpc_call(url, "evm_setIntervalMining", 0)
    chain.rpc_call(url, "evm_setAutomine", True)
    try:
        # Given a payment mined in block N, with one block on top
        tx_hash = chain.transfer(
            url, local.token_address, local.customer_private_key, deposit, 7 * USDT
        )
        mined_in = w3.eth.get_transaction_receipt(tx_hash)["blockHash"]
        chain.mine(url, 1)
        head = w3.eth.block_number

        # When the last two blocks are replaced
        chain.reorg(url, 2)

        # Then the payment has no receipt, its block is gone and the funds never arrived
        with pytest.raises(TransactionNotFound):
            w3.eth.get_transaction_receipt(tx_hash)
        assert w3.eth.block_number == head
        assert w3.eth.get_block(head - 1)["hash"] != mined_in
        assert chain.token_balance(url, local.token_address, deposit) == 0
    finally:
        chain.rpc_call(url, "evm_setIntervalMining", 1)
