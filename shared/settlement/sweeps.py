"""Sweeping deposit addresses into the hot wallet, two ways (docs/adr/0009).

- :meth:`Sweeps.naive`: per deposit, the hot wallet sends exactly the BNB the deposit's
  token transfer needs (gas estimate x gas price), then the deposit transfers its whole
  token balance to the hot wallet. Two transactions per deposit.
- :meth:`Sweeps.batched`: deposits delegate their code to the project's ``Sweeper``
  contract (EIP-7702, a type-4 authorization signed by each deposit key, included in the
  sweep transaction itself); the hot wallet then sends ONE transaction,
  ``Sweeper.sweepMany(token, deposits)``, per batch. Deposits never receive BNB, and a
  deposit delegated once needs no new authorization (nor its key) for later sweeps.

Both strategies refuse deposits whose code is an EIP-7702 delegation to anything other
than our Sweeper (``0xef0100 || other``): they are skipped, returned as refused, logged
as an alert and passed to the ``on_refused`` hook (wire it to SNS). Both price gas from
the node, clamped to a floor and a ceiling (:class:`GasPolicy`).

This module is the chain adapter of settlement: it receives a ``Web3`` client and
:class:`~shared.custody.signer.Signer`s and never sees a private key. Broadcasting is
not idempotent: the caller (the settlement function) guards each sweep with its own
state machine (STYLE.md, "SQS workers"), and hands in a :class:`HotWalletSender` that
carries each hot-wallet transaction (a ``sweepMany``, a gas top-up) through the same
one-nonce state machine as payouts (docs/adr/0012: recorded before it is sent, replaced
when stuck, cancelled when refused).

Size: the two sweep strategies (naive, EIP-7702 batched), the delegation checks they
both need and the Sweeper deployment share one ``Sweeps`` object; split, each half
would import the other's privates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol, cast

from aws_lambda_powertools import Logger
from eth_typing import ChecksumAddress, HexStr
from hexbytes import HexBytes

from shared.chain.artifacts import load_artifact
from shared.chain.evm import (
    ERC20_ABI,
    GAS_HEADROOM_DEN,
    GAS_HEADROOM_NUM,
    AccessList,
    Contract,
    GasPolicy,
    Nonce,
    TxParams,
    TxReceipt,
    Web3,
    Wei,
    clamped_gas_price,
    moved,
    token_balance,
)
from shared.chain.evm import GasPriceBelowBaseFee as GasPriceBelowBaseFee  # re-exported
from shared.chain.rpc import RpcError
from shared.config import GWEI as GWEI  # re-exported
from shared.config import SweepSettings as SweepSettings  # re-exported
from shared.custody.signer import Signer

logger = Logger(child=True)

DELEGATION_PREFIX = bytes.fromhex("ef0100")  # EIP-7702 delegation designator
# sweepManyExact packs an amount into the 96 bits above an address
EXACT_AMOUNT_LIMIT = 1 << 96
_DESIGNATOR_LENGTH = len(DELEGATION_PREFIX) + 20


class SweepError(RuntimeError):
    """A sweep could not be carried out (configuration, pricing or a failed transaction)."""


class SweepTransactionFailed(SweepError):
    """A sweep transaction reverted or was not mined in time."""


# --- delegation -------------------------------------------------------------------------


class CodeKind(StrEnum):
    NONE = "none"  # a plain EOA
    OURS = "ours"  # delegated to our Sweeper
    FOREIGN = "foreign"  # delegated to some other code: refused, alert
    CONTRACT = "contract"  # real contract code where a deposit EOA should be: refused, alert


def delegation_target(code: bytes) -> ChecksumAddress | None:
    """The delegate of an EIP-7702 designator (``0xef0100 || address``), else None."""
    if len(code) == _DESIGNATOR_LENGTH and code.startswith(DELEGATION_PREFIX):
        return Web3.to_checksum_address(code[len(DELEGATION_PREFIX) :])
    return None


def classify_code(code: bytes, sweeper: str | None) -> tuple[CodeKind, ChecksumAddress | None]:
    if not code:
        return CodeKind.NONE, None
    target = delegation_target(code)
    if target is None:
        return CodeKind.CONTRACT, None
    if sweeper is not None and target == Web3.to_checksum_address(sweeper):
        return CodeKind.OURS, target
    return CodeKind.FOREIGN, target


# --- results ------------------------------------------------------------------------------

RefusalReason = Literal["foreign_delegation", "contract_code", "no_key_for_authorization"]
# Refusals that mean someone else controls (or tampered with) a deposit: alert a human.
ALERT_REASONS: frozenset[str] = frozenset({"foreign_delegation", "contract_code"})


@dataclass(frozen=True)
class RefusedDeposit:
    address: ChecksumAddress
    reason: RefusalReason
    delegate: ChecksumAddress | None = None  # the foreign delegate, when there is one

    @property
    def alert(self) -> bool:
        return self.reason in ALERT_REASONS


@dataclass(frozen=True)
class SweptDeposit:
    address: ChecksumAddress
    amount: int  # token base units moved to the hot wallet (from the Transfer log)
    tx_hash: HexStr  # the transaction that moved it


@dataclass(frozen=True)
class SweepResult:
    strategy: Literal["naive", "batched"]
    token: ChecksumAddress
    hot_wallet: ChecksumAddress
    gas_price_wei: int
    tx_hashes: tuple[HexStr, ...] = ()
    gas_used: int = 0  # every transaction of this sweep, top-ups included
    fee_wei: int = 0  # BNB spent on gas (sum of gasUsed x effectiveGasPrice)
    swept: tuple[SweptDeposit, ...] = ()
    refused: tuple[RefusedDeposit, ...] = ()
    empty: tuple[ChecksumAddress, ...] = ()  # nothing to sweep (zero token balance)
    authorizations: int = 0  # new EIP-7702 delegations included (batched only)
    bnb_sent_to_deposits_wei: int = 0

    @property
    def amount(self) -> int:
        return sum(s.amount for s in self.swept)

    @property
    def gas_per_swept_deposit(self) -> float | None:
        return self.gas_used / len(self.swept) if self.swept else None


AlertHook = Callable[[RefusedDeposit], None]
# Called with (tx hash, signed raw tx) right BEFORE each broadcast: record it (e.g. a
# DynamoDB PENDING -> SIGNED(tx_hash) transition); raising stops the broadcast.
BroadcastHook = Callable[[HexStr, bytes], None]
# Called with the tx hash once the node accepted it (e.g. SIGNED -> BROADCAST).
SentHook = Callable[[HexStr], None]


class HotWalletSender(Protocol):
    """Sends the hot wallet's transactions of a sweep (``shared.settlement.worker``: a
    nonce from DynamoDB taken in the write that records the signed transaction, then
    the one-nonce state machine of ``shared.settlement.outbound``, shared with payouts).
    Without one, :class:`Sweeps` uses the node's ``pending`` count and ``on_broadcast``.
    """

    def submit(self, tx: TxParams) -> str:
        """Sign ``tx`` (complete but for its nonce) with a fresh nonce, record it, send
        it; return what :meth:`receipt` takes."""
        ...

    def receipt(self, submitted: str) -> TxReceipt:
        """The receipt of the mined attempt, status 1 (it may be a gas-bumped
        replacement). Raises :class:`SweepTransactionFailed` when it reverted or was
        cancelled; may raise "not mined yet" (the caller retries later)."""
        ...


@dataclass
class _Batch:
    """What the sweep transactions add up to, while they are being sent."""

    tx_hashes: list[HexStr] = field(default_factory=list)
    gas_used: int = 0
    fee_wei: int = 0
    bnb_sent: int = 0
    swept: list[SweptDeposit] = field(default_factory=list)

    def add(self, receipt: TxReceipt) -> None:
        self.tx_hashes.append(HexStr(receipt["transactionHash"].to_0x_hex()))
        self.gas_used += int(receipt["gasUsed"])
        self.fee_wei += int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


# --- the sweeps -------------------------------------------------------------------------------


class Sweeps:
    """Sweeps ``token`` from deposit addresses into ``hot_wallet``'s address.

    ``sweeper`` is our Sweeper instance (needed by :meth:`batched`; checked at start to
    name ``hot_wallet`` as its operator). ``on_refused`` is called once per refused
    deposit that needs a human (foreign delegation, contract code), after the alert log.
    ``on_broadcast`` sees every signed transaction before it is sent and ``on_sent``
    after the node accepted it, except the hot wallet's when ``hot_sender`` sends them;
    without ``hot_sender`` the hot wallet's nonce comes from the node's ``pending`` count.
    ``balance_block``: read deposit token balances at this block, not at the latest (the
    highest receipt block a resumed sweep has seen: a node behind it must not show
    tokens that were swept already; one that does not know it raises).
    """

    def __init__(
        self,
        w3: Web3,
        *,
        token: str,
        hot_wallet: Signer,
        gas: GasPolicy,
        sweeper: str | None = None,
        on_refused: AlertHook | None = None,
        on_broadcast: BroadcastHook | None = None,
        on_sent: SentHook | None = None,
        hot_sender: HotWalletSender | None = None,
        max_batch: int = 200,
        receipt_timeout_s: float = 60.0,
        poll_interval_s: float = 0.1,
        balance_block: int | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.w3 = w3
        self.token = Web3.to_checksum_address(token)
        self.hot_wallet = hot_wallet
        self.gas = gas
        self.on_refused = on_refused
        self.on_broadcast = on_broadcast
        self.on_sent = on_sent
        self.hot_sender = hot_sender
        self.max_batch = max_batch
        self.receipt_timeout_s = receipt_timeout_s
        self.poll_interval_s = poll_interval_s
        self.balance_block = balance_block
        self.chain_id = w3.eth.chain_id
        self._erc20: Contract = w3.eth.contract(address=self.token, abi=ERC20_ABI)
        self.sweeper: ChecksumAddress | None = None
        self._sweeper_contract: Contract | None = None
        self._exact: bool | None = None
        if sweeper:
            self.sweeper = Web3.to_checksum_address(sweeper)
            self._sweeper_contract = w3.eth.contract(
                address=self.sweeper, abi=load_artifact("Sweeper")["abi"]
            )
            self._check_sweeper(self._sweeper_contract)

    def _check_sweeper(self, contract: Contract) -> None:
        try:
            operator = contract.functions.OPERATOR().call()
            self_address = contract.functions.SELF().call()
        except RpcError as exc:  # no endpoint answered: nothing is known about the contract
            raise RpcError(
                f"RPC unavailable: cannot check the Sweeper {self.sweeper}: {exc}"
            ) from exc
        except Exception as exc:  # no code, wrong ABI: the same answer for the operator
            raise SweepError(f"{self.sweeper} is not a Sweeper contract") from exc
        if Web3.to_checksum_address(self_address) != self.sweeper:
            raise SweepError(f"{self.sweeper} is not a Sweeper instance (SELF differs)")
        if Web3.to_checksum_address(operator) != self.hot_wallet.address:
            raise SweepError(
                f"Sweeper {self.sweeper} sweeps to {operator}, not to the hot wallet "
                f"{self.hot_wallet.address}"
            )

    # -- gas ---------------------------------------------------------------------------------

    def gas_price(self) -> int:
        """The node's gas price clamped to the policy; raises when it cannot be mined."""
        return clamped_gas_price(self.w3, self.gas)

    def _fees(self, price: int) -> TxParams:
        # maxFee == maxPriority: the effective price is exactly `price` (BSC's base fee is
        # 0; on anvil the base fee is burnt out of it).
        return {"maxFeePerGas": Wei(price), "maxPriorityFeePerGas": Wei(price)}

    # -- inspection -----------------------------------------------------------------------

    def code_kind(self, address: str) -> tuple[CodeKind, ChecksumAddress | None]:
        code = bytes(self.w3.eth.get_code(Web3.to_checksum_address(address)))
        return classify_code(code, self.sweeper)

    def token_balance(self, address: str) -> int:
        block = "latest" if self.balance_block is None else self.balance_block
        return token_balance(self.w3, self.token, address, block)

    def _refuse(
        self, address: ChecksumAddress, kind: CodeKind, delegate: str | None
    ) -> RefusedDeposit:
        reason: RefusalReason = (
            "foreign_delegation" if kind is CodeKind.FOREIGN else "contract_code"
        )
        refused = RefusedDeposit(
            address, reason, Web3.to_checksum_address(delegate) if delegate else None
        )
        # Public chain data only (addresses), never a key or a signature.
        logger.warning(
            "sweep refused a deposit address: its code is not ours",
            extra={
                "alert": "deposit_delegated_elsewhere",
                "deposit": address,
                "reason": reason,
                "delegate": refused.delegate,
                "token": self.token,
            },
        )
        if self.on_refused is not None:
            self.on_refused(refused)
        return refused

    # -- naive ------------------------------------------------------------------------------

    def naive(self, deposits: Sequence[Signer]) -> SweepResult:
        """Top up each deposit with exactly its transfer's gas, then transfer everything."""
        price = self.gas_price()
        hot = self.hot_wallet.address
        refused: list[RefusedDeposit] = []
        empty: list[ChecksumAddress] = []
        plans: list[tuple[Signer, int, int]] = []  # (deposit, amount, gas)
        for deposit in _unique(deposits):
            kind, delegate = self.code_kind(deposit.address)
            if kind in (CodeKind.FOREIGN, CodeKind.CONTRACT):
                refused.append(self._refuse(deposit.address, kind, delegate))
                continue
            amount = self.token_balance(deposit.address)
            if amount == 0:
                empty.append(deposit.address)
                continue
            call = self._transfer_call(deposit.address, amount)
            plans.append((deposit, amount, int(self.w3.eth.estimate_gas(call))))

        batch = _Batch()
        # 1) top-ups, all sent back to back from the hot wallet, then awaited.
        sender = self._hot_sender()
        pending: list[str] = []
        for deposit, _amount, gas in plans:
            need = gas * price - int(self.w3.eth.get_balance(deposit.address))
            if need <= 0:
                continue
            tx: TxParams = {
                "from": hot,
                "to": deposit.address,
                "value": Wei(need),
                "chainId": self.chain_id,
                **self._fees(price),
            }
            tx["gas"] = int(self.w3.eth.estimate_gas(tx))  # > 21000 if it has code
            pending.append(sender.submit(_without_from(tx)))
            batch.bnb_sent += need
        for submitted in pending:
            batch.add(sender.receipt(submitted))
        # 2) each deposit moves its whole balance with exactly the gas it was given.
        sent: list[tuple[Signer, HexBytes]] = []
        for deposit, amount, gas in plans:
            tx = self._transfer_call(deposit.address, amount)
            tx.update(
                {
                    "chainId": self.chain_id,
                    "nonce": self.w3.eth.get_transaction_count(deposit.address, "pending"),
                    "gas": gas,
                    **self._fees(price),
                }
            )
            sent.append((deposit, self._send(deposit, tx)))
        for deposit, tx_hash in sent:
            receipt = self._wait(tx_hash)
            batch.add(receipt)
            batch.swept.extend(self._swept_from_logs(receipt, [deposit.address]))
        return self._result("naive", price, batch, refused, empty, authorizations=0)

    def _transfer_call(self, deposit: ChecksumAddress, amount: int) -> TxParams:
        data = self._erc20.encode_abi("transfer", args=[self.hot_wallet.address, amount])
        return {"from": deposit, "to": self.token, "value": Wei(0), "data": HexStr(data)}

    # -- batched (EIP-7702) -----------------------------------------------------------------

    def batched(self, deposits: Sequence[Signer | str]) -> SweepResult:
        """One ``sweepMany`` transaction per ``max_batch`` deposits, paid by the hot wallet.

        A deposit given as a :class:`Signer` is delegated in the same transaction when it
        is not yet; one given as a bare address must already be delegated to our Sweeper
        (otherwise it is refused with ``no_key_for_authorization``, without an alert).
        """
        if self.sweeper is None or self._sweeper_contract is None:
            raise SweepError("batched sweeps need a Sweeper address (BSCPAY_SWEEP_SWEEPER_ADDRESS)")
        price = self.gas_price()
        refused: list[RefusedDeposit] = []
        empty: list[ChecksumAddress] = []
        # (address, balance, signer); a signer means the deposit needs an authorization
        todo: list[tuple[ChecksumAddress, int, Signer | None]] = []
        for deposit in _unique(deposits):
            address = (
                deposit.address
                if isinstance(deposit, Signer)
                else Web3.to_checksum_address(deposit)
            )
            kind, delegate = self.code_kind(address)
            if kind in (CodeKind.FOREIGN, CodeKind.CONTRACT):
                refused.append(self._refuse(address, kind, delegate))
                continue
            balance = self.token_balance(address)
            if balance == 0:
                empty.append(address)  # no authorization spent on an empty address
                continue
            if kind is CodeKind.OURS:
                todo.append((address, balance, None))
            elif isinstance(deposit, Signer):
                todo.append((address, balance, deposit))
            else:
                refused.append(RefusedDeposit(address, "no_key_for_authorization"))

        batch = _Batch()
        authorizations = 0
        sender = self._hot_sender()
        for start in range(0, len(todo), self.max_batch):
            chunk = todo[start : start + self.max_batch]
            addresses = [address for address, _, _ in chunk]
            auths = [
                signer.sign_authorization(
                    chain_id=self.chain_id,
                    address=self.sweeper,
                    # The deposit is not the sender, so its current nonce (not +1).
                    nonce=self.w3.eth.get_transaction_count(address, "pending"),
                )
                for address, _, signer in chunk
                if signer is not None
            ]
            data = self._sweep_call([(address, balance) for address, balance, _ in chunk])
            tx: TxParams = {
                "from": self.hot_wallet.address,
                "to": self.sweeper,
                "value": Wei(0),
                "data": HexStr(data),
                "chainId": self.chain_id,
                **self._fees(price),
            }
            if auths:
                # A replacement re-signs the same list: the authorizations stay valid
                # while the deposits' nonces do not move (deposits send nothing here).
                tx["authorizationList"] = auths
            access_list = self._access_list(tx, warm={a for a, _, signer in chunk if signer})
            if access_list:
                tx["accessList"] = cast(AccessList, access_list)
            estimate = int(self.w3.eth.estimate_gas(tx))
            tx["gas"] = estimate * GAS_HEADROOM_NUM // GAS_HEADROOM_DEN
            receipt = sender.receipt(sender.submit(_without_from(tx)))
            authorizations += len(auths)
            batch.add(receipt)
            batch.swept.extend(self._swept_from_logs(receipt, addresses))
        return self._result("batched", price, batch, refused, empty, authorizations)

    def _sweep_call(self, deposits: list[tuple[ChecksumAddress, int]]) -> str:
        """``sweepManyExact`` with the balances read above (no ``balanceOf`` per deposit,
        docs/adr/0030), or ``sweepMany`` on an older Sweeper instance without it."""
        assert self._sweeper_contract is not None
        if self._has_exact() and all(amount < EXACT_AMOUNT_LIMIT for _, amount in deposits):
            entries = [amount << 160 | int(address, 16) for address, amount in deposits]
            return str(
                self._sweeper_contract.encode_abi("sweepManyExact", args=[self.token, entries])
            )
        addresses = [address for address, _ in deposits]
        return str(self._sweeper_contract.encode_abi("sweepMany", args=[self.token, addresses]))

    def _has_exact(self) -> bool:
        """Whether our Sweeper instance has ``sweepManyExact`` (an empty call succeeds; an
        instance deployed before it reverts: it has no fallback)."""
        if self._exact is None:
            assert self._sweeper_contract is not None
            try:
                self._sweeper_contract.functions.sweepManyExact(self.token, []).call(
                    {"from": self.hot_wallet.address}
                )
                self._exact = True
            except RpcError:
                raise  # unknown: do not decide on a failing endpoint
            except Exception:
                self._exact = False
        return self._exact

    def _access_list(self, tx: TxParams, warm: set[ChecksumAddress]) -> list[dict[str, Any]]:
        """The EIP-2930 access list of a sweep: the deposits and the token's balance slots
        it touches, each 100 gas cheaper listed than touched cold (docs/adr/0030).
        Authorities of the transaction's EIP-7702 authorizations, its sender and its
        target are warm already (listing them would cost 2,400 for nothing). Empty when
        the node cannot build one (the sweep then simply costs a little more)."""
        query = {k: v for k, v in tx.items() if k != "gas"}
        try:
            answer = self.w3.eth.create_access_list(cast(TxParams, query), "latest")
        except RpcError:
            raise
        except Exception as exc:  # a node without eth_createAccessList, or a revert
            logger.info("no access list for the sweep", extra={"reason": str(exc)[:200]})
            return []
        skip = {a.lower() for a in (*warm, str(tx.get("from", "")), str(tx.get("to", "")))}
        listed: list[dict[str, Any]] = []
        for entry in answer["accessList"]:
            address = str(entry["address"])
            keys = [HexStr(HexBytes(k).to_0x_hex()) for k in entry["storageKeys"]]
            if address.lower() in skip and not keys:
                continue
            listed.append({"address": Web3.to_checksum_address(address), "storageKeys": keys})
        return listed

    # -- plumbing ---------------------------------------------------------------------------

    def _hot_sender(self) -> HotWalletSender:
        return self.hot_sender if self.hot_sender is not None else _NodeNonceSender(self)

    def _send(self, signer: Signer, tx: TxParams) -> HexBytes:
        raw = signer.sign_transaction(dict(_without_from(tx)))
        tx_hash = HexBytes(Web3.keccak(raw))
        if self.on_broadcast is not None:
            self.on_broadcast(HexStr(tx_hash.to_0x_hex()), raw)
        sent = HexBytes(self.w3.eth.send_raw_transaction(raw))
        if sent != tx_hash:  # the node hashed something else than what we recorded
            raise SweepError(f"node answered {sent.to_0x_hex()} for {tx_hash.to_0x_hex()}")
        if self.on_sent is not None:
            self.on_sent(HexStr(sent.to_0x_hex()))
        return sent

    def _wait(self, tx_hash: HexBytes) -> TxReceipt:
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self.receipt_timeout_s, poll_latency=self.poll_interval_s
            )
        except Exception as exc:  # web3's TimeExhausted and transport errors alike
            raise SweepTransactionFailed(
                f"sweep transaction {tx_hash.to_0x_hex()} was not mined: {exc}"
            ) from exc
        if receipt["status"] != 1:
            raise SweepTransactionFailed(f"sweep transaction {tx_hash.to_0x_hex()} reverted")
        return receipt

    def _swept_from_logs(
        self, receipt: TxReceipt, deposits: Iterable[ChecksumAddress]
    ) -> list[SweptDeposit]:
        """Amounts moved, read from the token's Transfer logs (deposit -> hot wallet)."""
        swept = moved(receipt, self.token, deposits, self.hot_wallet.address)
        tx_hash = HexStr(receipt["transactionHash"].to_0x_hex())
        return [
            SweptDeposit(Web3.to_checksum_address(address), amount, tx_hash)
            for address, amount in swept.items()
        ]

    def _result(
        self,
        strategy: Literal["naive", "batched"],
        price: int,
        batch: _Batch,
        refused: list[RefusedDeposit],
        empty: list[ChecksumAddress],
        authorizations: int,
    ) -> SweepResult:
        return SweepResult(
            strategy=strategy,
            token=self.token,
            hot_wallet=self.hot_wallet.address,
            gas_price_wei=price,
            tx_hashes=tuple(batch.tx_hashes),
            gas_used=batch.gas_used,
            fee_wei=batch.fee_wei,
            swept=tuple(batch.swept),
            refused=tuple(refused),
            empty=tuple(empty),
            authorizations=authorizations,
            bnb_sent_to_deposits_wei=batch.bnb_sent,
        )


class _NodeNonceSender:
    """Without a ``hot_sender`` (benchmarks, tests of the strategies): the node's
    ``pending`` count at the first transaction, counted up locally; no replacement."""

    def __init__(self, sweeps: Sweeps) -> None:
        self.sweeps = sweeps
        self.nonce: int | None = None

    def submit(self, tx: TxParams) -> str:
        hot = self.sweeps.hot_wallet
        if self.nonce is None:
            self.nonce = int(self.sweeps.w3.eth.get_transaction_count(hot.address, "pending"))
        sent = self.sweeps._send(hot, {**tx, "nonce": Nonce(self.nonce)})
        self.nonce += 1
        return sent.to_0x_hex()

    def receipt(self, submitted: str) -> TxReceipt:
        return self.sweeps._wait(HexBytes(submitted))


def _without_from(tx: TxParams) -> TxParams:
    return cast(TxParams, {k: v for k, v in tx.items() if k != "from"})


def deploy_sweeper(w3: Web3, deployer: Signer, operator: str, gas: GasPolicy) -> ChecksumAddress:
    """Deploy a Sweeper whose operator (sole caller and sole destination) is ``operator``."""
    artifact = load_artifact("Sweeper")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    price = gas.clamp(int(w3.eth.gas_price))
    tx = factory.constructor(Web3.to_checksum_address(operator)).build_transaction(
        {
            "from": deployer.address,
            "nonce": w3.eth.get_transaction_count(deployer.address, "pending"),
            "chainId": w3.eth.chain_id,
            "maxFeePerGas": Wei(price),
            "maxPriorityFeePerGas": Wei(price),
        }
    )
    raw = deployer.sign_transaction({k: v for k, v in tx.items() if k != "from"})
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw), timeout=60)
    if receipt["status"] != 1 or receipt["contractAddress"] is None:
        raise SweepError("deploying the Sweeper failed")
    return Web3.to_checksum_address(receipt["contractAddress"])


def _unique(deposits: Iterable[Any]) -> list[Any]:
    """Drop repeated addresses (a deposit swept twice in one batch would revert)."""
    seen: set[str] = set()
    out: list[Any] = []
    for deposit in deposits:
        address = cast(str, getattr(deposit, "address", deposit)).lower()
        if address not in seen:
            seen.add(address)
            out.append(deposit)
    return out
