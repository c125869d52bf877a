"""Sweeping deposit addresses into the hot wallet on a real chain (anvil, automine).

Both strategies run real transactions: the naive "top up BNB, then transfer" path and
the EIP-7702 batched path through our Sweeper. Balances are always read back from the
chain. One anvil for the module; every test takes fresh deposit addresses.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractCustomError

from shared.chain.artifacts import load_artifact
from shared.custody import hd
from shared.custody.signer import LocalKeySigner, keys_from_mnemonic
from shared.local import chain
from shared.local.chain import Anvil, LocalChain
from shared.settlement.sweeps import (
    DELEGATION_PREFIX,
    GWEI,
    GasPolicy,
    GasPriceBelowBaseFee,
    RefusedDeposit,
    SweepError,
    Sweeps,
    deploy_sweeper,
)

USDT = 10**18
WIDE = GasPolicy(floor_wei=0, ceiling_wei=100 * GWEI)
DEPOSITS = 64


@dataclass
class Env:
    anvil: Anvil
    local: LocalChain
    w3: Web3
    mnemonic: str
    hot: LocalKeySigner
    deposits: list[LocalKeySigner]
    sweeper: str
    _next: Iterator[int] = field(default_factory=count)

    def fresh(self, n: int, amounts: list[int] | None = None) -> list[LocalKeySigner]:
        """``n`` unused deposit addresses, each paid USDT by the customer."""
        picked = [self.deposits[next(self._next)] for _ in range(n)]
        for deposit, amount in zip(picked, amounts or [12 * USDT + 345] * n, strict=True):
            if amount:
                self.pay(deposit.address, amount)
        return picked

    def pay(self, address: str, amount: int) -> None:
        chain.transfer(
            self.local.rpc_url,
            self.local.token_address,
            self.local.customer_private_key,
            address,
            amount,
        )

    def usdt(self, address: str) -> int:
        return chain.token_balance(self.local.rpc_url, self.local.token_address, address)

    def bnb(self, address: str) -> int:
        return int(self.w3.eth.get_balance(Web3.to_checksum_address(address)))

    def sweeps(self, gas: GasPolicy = WIDE, **kwargs: object) -> Sweeps:
        return Sweeps(
            self.w3,
            token=self.local.token_address,
            hot_wallet=self.hot,
            gas=gas,
            sweeper=self.sweeper,
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with Anvil.start(port=0, block_time=None) as node:
        local = chain.bootstrap_local_chain(node.rpc_url)
        w3 = chain.web3_for(node.rpc_url)
        mnemonic = hd.new_mnemonic()
        keys = keys_from_mnemonic(mnemonic, range(DEPOSITS))
        # The hot wallet pays gas (BNB) and already holds some USDT, as in production.
        chain.rpc_call(node.rpc_url, "anvil_setBalance", keys.hot_wallet.address, hex(10**21))
        chain.transfer(
            node.rpc_url,
            local.token_address,
            local.customer_private_key,
            keys.hot_wallet.address,
            USDT,
        )
        sweeper = deploy_sweeper(w3, keys.hot_wallet, keys.hot_wallet.address, WIDE)
        yield Env(
            node,
            local,
            w3,
            mnemonic,
            keys.hot_wallet,
            [keys.deposits[i] for i in range(DEPOSITS)],
            sweeper,
        )


def _send_raw(env: Env, key: str, tx: dict[str, object]) -> int:
    """Sign with ``key``, send, return the receipt status (no estimate: reverts get mined)."""
    account = Account.from_key(key)
    tx = {
        "chainId": env.local.chain_id,
        "nonce": env.w3.eth.get_transaction_count(account.address),
        "maxFeePerGas": 100 * GWEI,
        "maxPriorityFeePerGas": GWEI,
        "value": 0,
        **tx,
    }
    tx_hash = env.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    return int(env.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)["status"])


# --- keys ---------------------------------------------------------------------------------


def test_deposit_keys_match_the_addresses_the_api_derives_from_the_xpub(env: Env) -> None:
    # Given the deployment mnemonic and the xpub the API derives deposit addresses from
    xpub = hd.account_xpub(env.mnemonic)
    # Then the settlement keys sign for exactly those addresses
    for index in (0, 1, DEPOSITS - 1):
        assert env.deposits[index].address == hd.deposit_address(xpub, index)
    # And the hot wallet sits on its own branch, out of the xpub's reach
    assert env.hot.address not in {hd.deposit_address(xpub, i) for i in range(DEPOSITS)}


def test_a_signer_never_shows_or_serialises_its_key(env: Env) -> None:
    signer = keys_from_mnemonic(env.mnemonic, [3]).deposits[3]
    key_hex = _key_of(signer).hex()
    assert key_hex not in repr(signer) and key_hex not in str(signer)
    assert signer.address in repr(signer)
    assert key_hex not in repr(keys_from_mnemonic(env.mnemonic, [3]))
    with pytest.raises(TypeError):
        pickle.dumps(signer)
    with pytest.raises(ValueError, match="chain id 0"):
        signer.sign_authorization(chain_id=0, address=env.sweeper, nonce=0)


def _key_of(signer: LocalKeySigner) -> bytes:
    # Test-only peek, to prove the key is absent from repr.
    return bytes(signer._account.key)


def test_committed_sweeper_artifact_matches_its_source() -> None:
    artifact = load_artifact("Sweeper")
    source = chain.REPO_ROOT / artifact["source"]["path"]
    assert hashlib.sha256(source.read_bytes()).hexdigest() == artifact["source"]["sha256"]
    assert artifact["compiler"]["evmVersion"] == "cancun"


# --- naive --------------------------------------------------------------------------------


def test_naive_sweep_moves_every_token_unit_with_exactly_the_gas_bnb_it_needs(env: Env) -> None:
    # Given three paid deposits and one that received nothing
    amounts = [5 * USDT + 1, 7 * USDT, 1]
    deposits = env.fresh(3, amounts) + env.fresh(1, [0])
    hot_before = env.usdt(env.hot.address)

    # When the hot wallet sweeps them the naive way
    result = env.sweeps().naive(deposits)

    # Then every token unit is in the hot wallet and the deposits hold none
    assert env.usdt(env.hot.address) - hot_before == sum(amounts)
    assert all(env.usdt(d.address) == 0 for d in deposits)
    assert {(s.address, s.amount) for s in result.swept} == {
        (d.address, a) for d, a in zip(deposits, amounts, strict=False)
    }
    assert result.empty == (deposits[3].address,)
    # And each deposit got exactly gas limit x price for its transfer, no more
    assert len(result.tx_hashes) == 6  # 3 top-ups + 3 transfers
    topped_up = 0
    for swept in result.swept:
        tx = env.w3.eth.get_transaction(swept.tx_hash)
        assert tx["from"] == swept.address
        topped_up += tx["gas"] * result.gas_price_wei
    assert result.bnb_sent_to_deposits_wei == topped_up
    assert result.gas_used == sum(
        env.w3.eth.get_transaction_receipt(h)["gasUsed"] for h in result.tx_hashes
    )


# --- batched (EIP-7702) -------------------------------------------------------------------


def test_batched_sweep_moves_everything_in_one_transaction_without_sending_bnb(env: Env) -> None:
    # Given five paid deposits that were never delegated
    amounts = [USDT * (i + 1) + i for i in range(5)]
    deposits = env.fresh(5, amounts)
    hot_before = env.usdt(env.hot.address)

    # When the hot wallet sweeps them in a batch
    recorded: list[str] = []
    result = env.sweeps(on_broadcast=lambda h, raw: recorded.append(h)).batched(deposits)

    # Then one transaction from the hot wallet to the Sweeper moved every unit
    assert len(result.tx_hashes) == 1 and list(result.tx_hashes) == recorded
    tx = env.w3.eth.get_transaction(result.tx_hashes[0])
    assert (tx["from"], tx["to"], tx["value"], tx["type"]) == (env.hot.address, env.sweeper, 0, 4)
    assert len(tx["authorizationList"]) == 5 and result.authorizations == 5
    assert env.usdt(env.hot.address) - hot_before == sum(amounts) == result.amount
    assert all(env.usdt(d.address) == 0 for d in deposits)
    # And no deposit ever received BNB; each now delegates to our Sweeper
    assert result.bnb_sent_to_deposits_wei == 0
    for deposit in deposits:
        assert env.bnb(deposit.address) == 0
        code = bytes(env.w3.eth.get_code(deposit.address))
        assert code == DELEGATION_PREFIX + bytes.fromhex(env.sweeper[2:])


def test_later_batched_sweeps_need_no_authorization_and_no_deposit_key(env: Env) -> None:
    # Given deposits delegated by an earlier sweep, paid again afterwards
    deposits = env.fresh(3)
    env.sweeps().batched(deposits)
    for deposit in deposits:
        env.pay(deposit.address, 2 * USDT)
    hot_before = env.usdt(env.hot.address)

    # When the hot wallet sweeps them knowing only their addresses
    result = env.sweeps().batched([d.address for d in deposits])

    # Then a plain (type-2) transaction swept them all
    assert result.authorizations == 0
    assert env.w3.eth.get_transaction(result.tx_hashes[0])["type"] == 2
    assert env.usdt(env.hot.address) - hot_before == 6 * USDT
    assert all(env.usdt(d.address) == 0 for d in deposits)


def test_an_undelegated_address_without_its_key_is_skipped_not_alerted(env: Env) -> None:
    (deposit,) = env.fresh(1)
    alerts: list[RefusedDeposit] = []
    result = env.sweeps(on_refused=alerts.append).batched([deposit.address])
    assert [r.reason for r in result.refused] == ["no_key_for_authorization"]
    assert alerts == [] and result.tx_hashes == ()
    assert env.usdt(deposit.address) == 12 * USDT + 345


def test_deposit_delegated_to_a_foreign_contract_is_refused_untouched_and_alerted(
    env: Env,
) -> None:
    # Given a deposit whose key delegated it to someone else's contract
    foreign, ours = env.fresh(2)
    auth = foreign.sign_authorization(
        chain_id=env.local.chain_id, address=env.local.router_address, nonce=0
    )
    status = _send_raw(
        env,
        env.local.customer_private_key,
        {"to": env.local.customer_address, "gas": 100_000, "authorizationList": [auth]},
    )
    assert status == 1
    foreign_code = bytes(env.w3.eth.get_code(foreign.address))
    assert foreign_code == DELEGATION_PREFIX + bytes.fromhex(env.local.router_address[2:])
    alerts: list[RefusedDeposit] = []
    sweeps = env.sweeps(on_refused=alerts.append)

    # When both strategies are asked to sweep it (next to a healthy deposit)
    batched = sweeps.batched([foreign, ours])
    naive = sweeps.naive([foreign])

    # Then it is refused each time, with the foreign delegate named, and an alert raised
    for result in (batched, naive):
        assert [(r.address, r.reason, r.delegate) for r in result.refused] == [
            (foreign.address, "foreign_delegation", env.local.router_address)
        ]
        assert result.refused[0].alert
    assert [a.address for a in alerts] == [foreign.address, foreign.address]
    # And it is untouched: same balance, same code, no BNB; the healthy one was swept
    assert env.usdt(foreign.address) == 12 * USDT + 345
    assert bytes(env.w3.eth.get_code(foreign.address)) == foreign_code
    assert env.bnb(foreign.address) == 0
    assert [s.address for s in batched.swept] == [ours.address]
    assert naive.tx_hashes == ()


def test_only_the_hot_wallet_can_make_a_delegated_deposit_move_funds(env: Env) -> None:
    # Given a deposit delegated to our Sweeper and holding USDT
    (deposit,) = env.fresh(1)
    env.sweeps().batched([deposit])
    env.pay(deposit.address, 9 * USDT)
    attacker = env.local.customer_private_key
    sweeper_abi = load_artifact("Sweeper")["abi"]
    as_deposit = env.w3.eth.contract(address=deposit.address, abi=sweeper_abi)
    our_sweeper = env.w3.eth.contract(
        address=Web3.to_checksum_address(env.sweeper), abi=sweeper_abi
    )
    token = env.local.token_address

    # When someone else calls the deposit directly, our Sweeper's batch entry, or a
    # Sweeper instance of their own (same code, the attacker as its operator)
    attacker_signer = LocalKeySigner(attacker)
    rogue = deploy_sweeper(env.w3, attacker_signer, attacker_signer.address, WIDE)
    rogue_sweeper = env.w3.eth.contract(address=rogue, abi=sweeper_abi)
    attempts = [
        {"to": deposit.address, "data": as_deposit.encode_abi("sweep", args=[token])},
        {
            "to": our_sweeper.address,
            "data": our_sweeper.encode_abi("sweepMany", args=[token, [deposit.address]]),
        },
        {
            "to": rogue,
            "data": rogue_sweeper.encode_abi("sweepMany", args=[token, [deposit.address]]),
        },
        {"to": deposit.address, "data": as_deposit.encode_abi("sweepMany", args=[token, []])},
        {
            "to": deposit.address,
            "data": as_deposit.encode_abi("sweepAmount", args=[token, 9 * USDT]),
        },
        {
            "to": our_sweeper.address,
            "data": our_sweeper.encode_abi(
                "sweepManyExact", args=[token, [9 * USDT << 160 | int(deposit.address, 16)]]
            ),
        },
        {
            "to": rogue,
            "data": rogue_sweeper.encode_abi(
                "sweepManyExact", args=[token, [9 * USDT << 160 | int(deposit.address, 16)]]
            ),
        },
    ]
    statuses = [_send_raw(env, attacker, {"gas": 200_000, **tx}) for tx in attempts]

    # Then every attempt reverts and the deposit keeps its funds
    assert statuses == [0] * len(attempts)
    assert env.usdt(deposit.address) == 9 * USDT
    # And the hot wallet still can
    result = env.sweeps().batched([deposit.address])
    assert result.amount == 9 * USDT and env.usdt(deposit.address) == 0


def test_steady_state_sweeps_send_the_amounts_read_with_an_access_list(env: Env) -> None:
    # Given deposits delegated by an earlier sweep and paid again
    deposits = env.fresh(3)
    env.sweeps().batched(deposits)
    amounts = [2 * USDT + 1, 3 * USDT + 2, 4 * USDT + 3]
    for deposit, amount in zip(deposits, amounts, strict=True):
        env.pay(deposit.address, amount)

    # When they are swept again
    result = env.sweeps().batched([d.address for d in deposits])

    # Then the transaction carried each amount (sweepManyExact, no balanceOf per deposit)
    # and an access list naming the deposits and the token's balance slots
    tx = env.w3.eth.get_transaction(result.tx_hashes[0])
    selector = Web3.keccak(text="sweepManyExact(address,uint256[])")[:4]
    assert bytes(tx["input"])[:4] == selector
    listed = {e["address"].lower(): e["storageKeys"] for e in tx["accessList"]}
    assert {d.address.lower() for d in deposits} <= set(listed)
    assert len(listed.get(env.local.token_address.lower(), [])) >= len(deposits)
    assert sorted(s.amount for s in result.swept) == amounts
    assert all(env.usdt(d.address) == 0 for d in deposits)


def test_an_exact_sweep_moves_no_more_than_asked_and_never_more_than_held(env: Env) -> None:
    # Given two delegated deposits holding 5 USDT each
    first, second = env.fresh(2)
    env.sweeps().batched([first, second])
    env.pay(first.address, 5 * USDT)
    env.pay(second.address, 5 * USDT)
    sweeper = env.w3.eth.contract(
        address=Web3.to_checksum_address(env.sweeper), abi=load_artifact("Sweeper")["abi"]
    )
    token = env.local.token_address
    hot_key = _key_of(env.hot).hex()

    def exact(*entries: tuple[str, int]) -> int:
        packed = [amount << 160 | int(address, 16) for address, amount in entries]
        call = sweeper.encode_abi("sweepManyExact", args=[token, packed])
        return _send_raw(env, hot_key, {"to": env.sweeper, "data": call, "gas": 300_000})

    # When the hot wallet asks for more than one of them holds, the batch reverts whole
    assert exact((first.address, 2 * USDT), (second.address, 5 * USDT + 1)) == 0
    assert (env.usdt(first.address), env.usdt(second.address)) == (5 * USDT, 5 * USDT)
    # And asking less leaves the rest where it is (a deposit that arrived after the read)
    assert exact((first.address, 2 * USDT), (second.address, 5 * USDT)) == 1
    assert (env.usdt(first.address), env.usdt(second.address)) == (3 * USDT, 0)


def test_a_batch_with_an_undelegated_deposit_reverts_whole(env: Env) -> None:
    # Given one delegated and one never-delegated deposit, both paid
    delegated, undelegated = env.fresh(2)
    env.sweeps().batched([delegated])
    env.pay(delegated.address, 3 * USDT)
    sweeper = env.w3.eth.contract(
        address=Web3.to_checksum_address(env.sweeper), abi=load_artifact("Sweeper")["abi"]
    )
    token = env.local.token_address
    # When the hot wallet itself calls sweepMany with both (no authorization attached)
    call = sweeper.encode_abi("sweepMany", args=[token, [delegated.address, undelegated.address]])
    status = _send_raw(
        env, _key_of(env.hot).hex(), {"to": env.sweeper, "data": call, "gas": 300_000}
    )
    # Then nothing moves: an EOA without our code cannot be swept silently as "0"
    assert status == 0
    not_delegated = Web3.keccak(text="NotDelegated(address)")[:4].hex()
    with pytest.raises(ContractCustomError) as raised:
        env.w3.eth.call({"from": env.hot.address, "to": sweeper.address, "data": call})
    assert raised.value.data == "0x" + not_delegated + "00" * 12 + undelegated.address[2:].lower()
    assert env.usdt(delegated.address) == 3 * USDT
    assert env.usdt(undelegated.address) == 12 * USDT + 345


def test_a_failing_broadcast_record_stops_the_sweep(env: Env) -> None:
    (deposit,) = env.fresh(1)

    def refuse(tx_hash: str, raw: bytes) -> None:
        raise RuntimeError("state table unavailable")

    with pytest.raises(RuntimeError, match="state table"):
        env.sweeps(on_broadcast=refuse).batched([deposit])
    assert env.usdt(deposit.address) == 12 * USDT + 345
    assert bytes(env.w3.eth.get_code(deposit.address)) == b""


def test_a_sweeper_that_does_not_pay_the_hot_wallet_is_rejected_at_start(env: Env) -> None:
    other = LocalKeySigner(env.local.customer_private_key)
    elsewhere = deploy_sweeper(env.w3, other, other.address, WIDE)
    with pytest.raises(SweepError, match="not to the hot wallet"):
        Sweeps(
            env.w3, token=env.local.token_address, hot_wallet=env.hot, gas=WIDE, sweeper=elsewhere
        )
    with pytest.raises(SweepError, match="not a Sweeper"):
        Sweeps(
            env.w3,
            token=env.local.token_address,
            hot_wallet=env.hot,
            gas=WIDE,
            sweeper=env.local.router_address,
        )


# --- gas price ------------------------------------------------------------------------------


def test_gas_price_floor_is_paid_when_the_node_asks_less(env: Env) -> None:
    node_price = int(env.w3.eth.gas_price)
    floor = node_price * 2
    sweeps = env.sweeps(GasPolicy(floor_wei=floor, ceiling_wei=floor * 10))
    results = [sweeps.naive(env.fresh(1)), sweeps.batched(env.fresh(2))]
    for result in results:
        assert result.gas_price_wei == floor
        for tx_hash in result.tx_hashes:
            assert env.w3.eth.get_transaction_receipt(tx_hash)["effectiveGasPrice"] == floor


def test_gas_price_ceiling_caps_what_a_sweep_pays(env: Env) -> None:
    for strategy, n in (("naive", 1), ("batched", 2)):
        deposits = env.fresh(n)
        # A ceiling under what the node asks right now, still above the base fee
        node_price = int(env.w3.eth.gas_price)
        base_fee = int(env.w3.eth.get_block("latest")["baseFeePerGas"])
        ceiling = (node_price + base_fee) // 2
        assert base_fee < ceiling < node_price
        sweeps = env.sweeps(GasPolicy(floor_wei=0, ceiling_wei=ceiling))
        result = sweeps.naive(deposits) if strategy == "naive" else sweeps.batched(deposits)
        assert result.gas_price_wei == ceiling and len(result.swept) == n
        for tx_hash in result.tx_hashes:
            assert env.w3.eth.get_transaction_receipt(tx_hash)["effectiveGasPrice"] == ceiling


def test_a_ceiling_under_the_base_fee_postpones_the_sweep(env: Env) -> None:
    (deposit,) = env.fresh(1)
    sweeps = env.sweeps(GasPolicy(floor_wei=0, ceiling_wei=1))
    with pytest.raises(GasPriceBelowBaseFee):
        sweeps.batched([deposit])
    with pytest.raises(GasPriceBelowBaseFee):
        sweeps.naive([deposit])
    assert env.usdt(deposit.address) == 12 * USDT + 345
    assert env.bnb(deposit.address) == 0


def test_gas_policy_clamps_to_its_bounds() -> None:
    policy = GasPolicy(floor_wei=GWEI, ceiling_wei=3 * GWEI)
    assert [policy.clamp(p) for p in (0, 2 * GWEI, 10 * GWEI)] == [GWEI, 2 * GWEI, 3 * GWEI]
    with pytest.raises(ValueError):
        GasPolicy(floor_wei=2, ceiling_wei=1)
