"""The settlement worker: one queue message = one sweep of a set of deposit addresses.

Broadcast safety (STYLE "SQS workers", docs/adr/0011 and 0012): the sweep's record moves
PENDING → SIGNED → BROADCAST → CONFIRMED | FAILED with conditional updates, and every
signed transaction is recorded *before* it is sent:

- each hot-wallet transaction (a ``sweepMany``, a gas top-up) takes its nonce from
  DynamoDB in the write that creates its own one-nonce record (kind ``sweep_tx``) and
  appends it to the sweep; from there :meth:`shared.settlement.outbound.Outbound.drive`
  carries it, as it does payouts: re-sent as the same bytes after a crash, replaced with
  more gas when stuck (same nonce, same call, same EIP-7702 authorizations), cancelled
  by a 0-value self-transfer when the node refuses it;
- a deposit's own transaction (naive path) is appended to the sweep; it needs no nonce
  allocator (one per deposit key, sent only by this message group) and is never signed
  twice: a resumed sweep first settles what it recorded, then signs only for deposits
  that still hold tokens.

Broadcast but not mined within the invocation: ``TransferStillPending`` (the message is
redelivered and the next call resumes). A sweep whose transaction reverted (or was
cancelled) and that moved nothing ends FAILED with the gas it burnt booked; its
deposits stay due, and the next message for the same sweep id starts a new round
(``{sweep_id}~{n}``) instead of finding the FAILED record.

Booking: one journal per mined transaction of the sweep (``sweep/{tx hash}``: the
units its receipt's Transfer logs moved from the deposits to the hot wallet, and its
gas), and each address lowered once per transaction. A crash between booking and the
final state replays the very same postings, and a resumed sweep that signed more
transactions books only those.

Size: one sweep run (``_SweepRun``) from plan to booked journal; the booking, gas and
closing steps replay after a crash only as a whole, so they stay together.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from eth_typing import HexStr
from hexbytes import HexBytes

from shared import config, ids, ledger
from shared.alerts import raise_alert
from shared.chain import evm
from shared.chain.evm import (
    Nonce,
    TransactionNotFound,
    TxParams,
    TxReceipt,
    Web3,
    Web3RPCError,
    Wei,
)
from shared.custody.signer import CustodyKeys
from shared.dal import addresses as address_repo
from shared.dal import outgoing
from shared.dal.outgoing import Attempt, NonceClaim, TransferRecord
from shared.errors import ConcurrentUpdate
from shared.models.ledger import Asset, Posting
from shared.settlement import custody
from shared.settlement.outbound import (
    NonceCall,
    Outbound,
    OutboundHooks,
    OutboundSettings,
    TransferStillPending,
)
from shared.settlement.sweeps import RefusedDeposit, Sweeps, SweepTransactionFailed

logger = Logger(child=True)
metrics = Metrics(namespace="bscpay")

# A sweep id whose rounds all FAILED is given up (alert); the planner's next hour is a
# new sweep id. Bounds the gas a deterministic revert can burn.
MAX_ROUNDS = 3
_RACES = 5  # a duplicate writer moved a record: re-read and go on, at most this often


@dataclass
class Outcome:
    sweep_id: str
    state: str
    amount: int = 0
    fee_wei: int = 0
    resumed: bool = False
    record_id: str = ""  # the round's record: the sweep id, or ``{sweep_id}~{n}``


def handle(
    message: dict[str, Any],
    *,
    settings: OutboundSettings | None = None,
    hooks: OutboundHooks | None = None,
) -> Outcome:
    """Sweep ``message["deposits"]`` once. ``settings``/``hooks``: waiting, replacement
    and test seams of the hot-wallet transactions (default: ``BSCPAY_OUTBOUND_*``)."""
    sweep_id = str(message["sweep_id"])
    deposits: list[dict[str, Any]] = list(message["deposits"])
    symbol = str(message.get("token") or "USDT")
    token = config.chain().token(symbol)
    if token is None:
        # A token no longer accepted: its deposits stay due, an operator must look.
        raise_alert("sweep_token_unknown", "sweep of a token not configured", token=symbol)
        return Outcome(sweep_id, "FAILED", 0, 0)
    payload: dict[str, Any] = {"deposits": deposits}
    if symbol != "USDT":
        payload["token"] = symbol
    record: outgoing.Outgoing | None = None
    for n in range(MAX_ROUNDS):
        record_id = round_id(sweep_id, n)
        outgoing.create_sweep(record_id, payload, ids.now())
        record = outgoing.get_outgoing(record_id)
        assert record is not None
        if record.state != "FAILED":
            break
    assert record is not None
    if record.state in outgoing.TERMINAL:
        if record.state == "FAILED":
            raise_alert(
                "sweep_failed_repeatedly",
                "sweep failed in every round; its deposits wait for the next plan",
                sweep_id=sweep_id,
                rounds=MAX_ROUNDS,
            )
        return Outcome(
            sweep_id, record.state, record.amount or 0, record.fee_wei or 0, record_id=record_id
        )
    w3 = evm.client()  # every BSCPAY_RPC_URLS endpoint, with failover (docs/adr/0014)
    keys = custody.load_keys(int(d["index"]) for d in deposits)
    run = _SweepRun(w3, keys, record, settings or config.outbound(), hooks, token)
    try:
        return run.go(sweep_id, deposits)
    except TransferStillPending as exc:
        raise TransferStillPending(record_id, exc.tx_hash, exc.nonce) from exc


def round_id(sweep_id: str, n: int) -> str:
    return sweep_id if n == 0 else f"{sweep_id}~{n}"


@dataclass(frozen=True)
class _Mined:
    """One mined transaction of the sweep: what its receipt moved from each deposit to
    the hot wallet, and the gas it paid."""

    tx_hash: str
    swept: dict[str, int]
    fee_wei: int

    @property
    def amount(self) -> int:
        return sum(self.swept.values())

    @property
    def journal_id(self) -> str:
        return f"sweep/{self.tx_hash}"


@dataclass
class _Tally:
    """What the sweep's recorded transactions did on chain (all of them mined)."""

    mined: list[_Mined] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def swept(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for tx in self.mined:
            for address, amount in tx.swept.items():
                total[address] = total.get(address, 0) + amount
        return total

    @property
    def amount(self) -> int:
        return sum(tx.amount for tx in self.mined)

    @property
    def fee_wei(self) -> int:
        return sum(tx.fee_wei for tx in self.mined)


class _SweepRun:
    """One invocation's work on one sweep record (one round)."""

    def __init__(
        self,
        w3: Web3,
        keys: CustodyKeys,
        record: outgoing.Outgoing,
        settings: OutboundSettings,
        hooks: OutboundHooks | None,
        token: config.Token | None = None,
    ) -> None:
        self.w3 = w3
        self.keys = keys
        self.record_id = record.tx_id
        self.seen = record.state  # the sweep record's state as this writer last left it
        # The highest block of a receipt this run has seen: balances are read there, not
        # at "latest" (after a failover the node answering may be behind it).
        self.receipt_block: int | None = None
        self.balance_block: int | None = None  # where the balances were read
        self.settings = settings
        self.sweep_settings = config.sweeps()
        token = token or config.chain().token("USDT")
        assert token is not None
        self.symbol = token.symbol  # what this sweep moves (issue 14 §3)
        self.token = token.address
        self.outbound = Outbound(
            w3,
            keys.hot_wallet,
            token=self.token,
            gas=evm.gas_policy(self.sweep_settings),
            settings=settings,
            hooks=hooks,
        )

    def go(self, sweep_id: str, deposits: list[dict[str, Any]]) -> Outcome:
        record = self._reload()
        resumed = bool(record.tx_hashes)
        # A crash, redelivery or "not mined yet" after signing: settle what was recorded
        # first (same bytes re-sent, stuck ones replaced, refused ones cancelled).
        tally = self._settle_recorded(record)
        if not tally.errors:
            # Whatever still holds tokens was not swept yet (e.g. the crash came between
            # a gas top-up and the token transfer): everything recorded is mined now, so
            # signing the rest cannot send anything twice.
            remaining = [d for d in deposits if self._balance(str(d["address"])) > 0]
            if remaining:
                try:
                    self._sweep(remaining)
                except SweepTransactionFailed as exc:
                    logger.warning("sweep transaction failed", extra={"error": str(exc)})
                tally = self._settle_recorded(self._reload())
        return self._finish(sweep_id, tally, resumed)

    def _balance(self, address: str) -> int:
        """The deposit's token balance at the head, but never below the highest receipt
        block seen (``latest`` when none was). A node that does not know that block
        cannot tell whether a recorded transaction swept it: still pending (retried),
        nothing new is signed."""
        block: int | str = "latest"
        if self.receipt_block is not None:
            # Late funds count too: the head when this node is past the receipts.
            block = max(self.receipt_block, int(self.w3.eth.block_number))
            self.balance_block = block
        try:
            return evm.token_balance(self.w3, self.token, address, block)
        except Web3RPCError as exc:
            logger.warning(
                "no endpoint answers the balance at the receipts' block; still pending",
                extra={"sweep_id": self.record_id, "block": block, "error": str(exc)[:200]},
            )
            raise TransferStillPending(self.record_id, None, None) from exc

    # -- sending -------------------------------------------------------------------------

    def _sweep(self, deposits: list[dict[str, Any]]) -> None:
        settings = self.sweep_settings
        sweeps = Sweeps(
            self.w3,
            token=self.token,
            hot_wallet=self.keys.hot_wallet,
            gas=evm.gas_policy(settings),
            sweeper=settings.sweeper_address or None,
            on_refused=_alert_refused,
            # deposits' own transactions (naive path): recorded before they are sent
            on_broadcast=self._record_deposit_tx,
            on_sent=lambda tx_hash: self._broadcast(),
            # the hot wallet's: nonce from DynamoDB, one-nonce state machine each
            hot_sender=_HotTxs(self),
            max_batch=settings.max_batch,
            receipt_timeout_s=self.settings.wait_s,
            poll_interval_s=self.settings.poll_interval_s,
            balance_block=self.balance_block,
        )
        signers = [self.keys.deposits[int(d["index"])] for d in deposits]
        if settings.sweeper_address and len(signers) > 1:
            sweeps.batched(signers)
        else:
            sweeps.naive(signers)
        # Gas money left on the hot wallet: alarmed in CDK before sweeps start failing.
        bnb = self.w3.eth.get_balance(self.keys.hot_wallet.address) / 10**18
        metrics.add_metric(name="HotWalletBnb", unit=MetricUnit.Count, value=bnb)
        # ... and the USDT it holds, for the operator's dashboard (issue 15)
        if self.symbol == "USDT":
            usdt = evm.token_balance(self.w3, self.token, self.keys.hot_wallet.address)
            metrics.add_metric(name="HotWalletUsdt", unit=MetricUnit.Count, value=usdt / 10**18)

    def _record_deposit_tx(self, tx_hash: HexStr, raw: bytes) -> None:
        seen = "BROADCAST" if self.seen == "BROADCAST" else "SIGNED"
        outgoing.record_sweep_tx(self.record_id, str(tx_hash), "0x" + raw.hex(), seen, ids.now())
        self.seen = seen

    def _broadcast(self) -> None:
        """The node accepted one of the sweep's transactions: SIGNED → BROADCAST."""
        if self.seen == "SIGNED":
            outgoing.sweep_broadcast(self.record_id, ids.now())
            self.seen = "BROADCAST"

    # -- settling ------------------------------------------------------------------------

    def _reload(self) -> outgoing.Outgoing:
        record = outgoing.get_outgoing(self.record_id)
        assert record is not None
        self.seen = record.state
        return record

    def _settle_recorded(self, record: outgoing.Outgoing) -> _Tally:
        """Carry every recorded transaction to a receipt and add up what they did;
        raises TransferStillPending while one is not mined."""
        tally = _Tally()
        for tx_hash, raw in zip(record.tx_hashes, record.raw_txs, strict=True):
            child = outgoing.get_transfer(outgoing.sweep_tx_id(self.record_id, tx_hash))
            if child is not None:
                child = self.drive(child.tx_id)
                fee = int(child.fee_wei or 0)
                if child.state != "CONFIRMED":
                    tally.errors.append(f"{child.tx_id}: {child.error}")
                    if fee and child.tx_hash is not None:  # reverted, or its cancellation
                        tally.mined.append(_Mined(child.tx_hash, {}, fee))
                    continue
                assert child.tx_hash is not None
                receipt = self._receipt(child.tx_hash)
                assert receipt is not None
                mined_hash = child.tx_hash
            else:
                receipt = self._deposit_receipt(tx_hash, raw)
                fee = int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
                mined_hash = tx_hash
                if receipt["status"] != 1:
                    tally.errors.append(f"{tx_hash}: the deposit's transfer reverted")
                    tally.mined.append(_Mined(mined_hash, {}, fee))
                    continue
            tally.mined.append(_Mined(mined_hash, self._swept_by(receipt), fee))
        return tally

    def drive(self, child_id: str) -> TransferRecord:
        """One hot-wallet transaction of the sweep, to CONFIRMED or FAILED."""
        for _ in range(_RACES):
            child = outgoing.get_transfer(child_id)
            assert child is not None
            try:
                done = self.outbound.drive(child, _same_call(child))
            except ConcurrentUpdate:
                logger.info("sweep transaction moved under us; re-reading", extra={"tx": child_id})
                continue
            if done.state == "FAILED":
                logger.warning(
                    "sweep transaction failed",
                    extra={"sweep_id": self.record_id, "tx": child_id, "error": done.error},
                )
            return done
        raise ConcurrentUpdate(child_id)

    def _deposit_receipt(self, tx_hash: str, raw: str) -> TxReceipt:
        """A deposit's own recorded transaction: re-send the same bytes (a no-op when the
        node has them) and wait for its receipt."""
        receipt = self._receipt(tx_hash)
        if receipt is not None:
            return receipt
        try:
            self.w3.eth.send_raw_transaction(HexBytes(raw))
        except Exception as exc:  # "already known", "nonce too low": what the node knows decides
            logger.info("resend skipped", extra={"tx": tx_hash, "reason": str(exc)[:120]})
        else:
            self._broadcast()
        deadline = time.monotonic() + self.settings.wait_s
        while (receipt := self._receipt(tx_hash)) is None:
            if time.monotonic() >= deadline:
                raise TransferStillPending(self.record_id, tx_hash, None)
            time.sleep(self.settings.poll_interval_s)
        return receipt

    def _receipt(self, tx_hash: str) -> TxReceipt | None:
        try:
            receipt = self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            return None
        block = int(receipt["blockNumber"])
        self.receipt_block = max(self.receipt_block or 0, block)
        return receipt

    def _swept_by(self, receipt: TxReceipt) -> dict[str, int]:
        """Token units the receipt moved from the sweep's deposits to the hot wallet."""
        deposits = [d.address for d in self.keys.deposits.values()]
        return evm.moved(receipt, self.token, deposits, self.keys.hot_wallet.address)

    # -- booking -------------------------------------------------------------------------

    def _finish(self, sweep_id: str, tally: _Tally, resumed: bool) -> Outcome:
        total, fee = tally.amount, tally.fee_wei
        error = "; ".join(tally.errors) or None
        if total > 0:
            state = "CONFIRMED"
            for mined in tally.mined:
                self._book(mined)
            self._close(state, total, fee, error, gas=None)
        else:
            # Nothing moved: a FAILED sweep (reverted, cancelled) or one that found no
            # tokens; its deposits stay due and any gas it burnt is booked with it.
            state = "FAILED" if tally.errors else "CONFIRMED"
            self._close(state, 0, fee, error, gas=fee or None)
            if state == "FAILED":
                raise_alert(
                    "sweep_failed",
                    "sweep failed; its deposits stay due",
                    sweep_id=self.record_id,
                    fee_wei=fee,
                    error=error,
                )
        logger.info(
            "sweep finished",
            extra={
                "sweep_id": self.record_id,
                "state": state,
                "amount": total,
                "fee_wei": fee,
                "resumed": resumed,
                "error": error,
            },
        )
        return Outcome(sweep_id, state, total, fee, resumed, self.record_id)

    def _book(self, mined: _Mined) -> None:
        """One mined transaction into the ledger (journal ``sweep/{tx hash}``) and its
        deposits' due amounts lowered, each once per transaction: replaying it (a crash
        before the sweep's final state) posts nothing new."""
        if mined.amount == 0:
            if mined.fee_wei:
                self._book_gas(mined)
            return
        book = ledger.default()
        asset = Asset(self.symbol)
        try:
            book.sweep(
                mined.amount, gas_bnb=mined.fee_wei, journal_id=mined.journal_id, asset=asset
            )
        except ledger.JournalConflict:
            # Booked before without its gas (the fallback below): the same booking.
            # Anything else still conflicts, and raises.
            book.sweep(mined.amount, gas_bnb=0, journal_id=mined.journal_id, asset=asset)
        except ledger.InsufficientFunds as exc:
            # Gas paid from BNB the ledger was not told about: record the token move
            # (it happened) and alert; the reconciler shows the BNB drift.
            self._alert_gas(mined, exc)
            book.sweep(mined.amount, gas_bnb=0, journal_id=mined.journal_id, asset=asset)
        for address, amount in mined.swept.items():
            address_repo.sweep_recorded(address, amount, mined.journal_id, self.symbol)

    def _book_gas(self, mined: _Mined) -> None:
        """The gas of a transaction that moved no tokens (a top-up, a reverted or
        cancelled transaction in a sweep that moved something else), once."""
        posting = ledger.default().gas_posting(mined.fee_wei, mined.journal_id)
        for _ in range(_RACES):
            try:
                outgoing.post_alone(posting)
                return
            except ConcurrentUpdate:
                try:
                    if ledger.default().explain_rejection(posting) is not None:
                        return  # booked already (a replay)
                except ledger.InsufficientFunds as exc:
                    self._alert_gas(mined, exc)
                    return
        raise ConcurrentUpdate(posting.journal_id)

    def _alert_gas(self, mined: _Mined, exc: Exception) -> None:
        raise_alert(
            "sweep_gas_not_in_ledger",
            "sweep gas not in the ledger",
            sweep_id=self.record_id,
            tx=mined.tx_hash,
            error=str(exc),
        )

    def _close(self, state: str, amount: int, fee: int, error: str | None, gas: int | None) -> None:
        """The sweep's final state, with the gas posting of a sweep that moved nothing
        in the same transaction."""
        postings: tuple[Posting, ...] = (
            (ledger.default().gas_posting(gas, self.record_id),) if gas else ()
        )
        for _ in range(_RACES):
            try:
                outgoing.finish_sweep(
                    self.record_id,
                    state,
                    ids.now(),
                    amount=amount,
                    fee_wei=fee,
                    error=error,
                    postings=postings,
                )
                return
            except ConcurrentUpdate:
                if self._reload().state in outgoing.TERMINAL:
                    return  # a duplicate writer finished it (with the same outcome)
                for posting in postings:
                    try:
                        ledger.default().explain_rejection(posting)
                    except ledger.InsufficientFunds as exc:
                        raise_alert(
                            "sweep_gas_not_in_ledger",
                            "sweep gas not in the ledger",
                            sweep_id=self.record_id,
                            error=str(exc),
                        )
                        postings = ()
        raise ConcurrentUpdate(self.record_id)


class _HotTxs:
    """:class:`~shared.settlement.sweeps.HotWalletSender` of one sweep: each hot-wallet
    transaction gets its nonce from DynamoDB in the write that records it (its own
    one-nonce record + the sweep's list), is sent, and is driven by ``Outbound``."""

    def __init__(self, run: _SweepRun) -> None:
        self.run = run

    def submit(self, tx: TxParams) -> str:
        run = self.run
        price = int(tx["maxFeePerGas"])
        gas_limit = int(tx["gas"])

        def sign_and_record(claim: NonceClaim) -> TransferRecord:
            attempt = run.outbound.sign_attempt({**tx, "nonce": Nonce(claim.nonce)}, price)
            child = TransferRecord(
                tx_id=outgoing.sweep_tx_id(run.record_id, attempt.tx_hash),
                kind=outgoing.SWEEP_TX_KIND,
                state="PENDING",
                payload={"sweep_id": run.record_id},
                version=0,
                attempts=(attempt,),
            )
            seen = "BROADCAST" if run.seen == "BROADCAST" else "SIGNED"
            signed = outgoing.sign_sweep_tx(run.record_id, child, claim, gas_limit, seen, ids.now())
            run.seen = seen
            return signed

        child = run.outbound.nonces.allocate(sign_and_record)
        logger.info(
            "sweep transaction signed",
            extra={"sweep_id": run.record_id, "nonce": child.nonce, "tx": child.tx_hash},
        )
        child = run.outbound.push(child)
        if child.state == "BROADCAST":
            run._broadcast()
        return child.tx_id

    def receipt(self, submitted: str) -> TxReceipt:
        child = self.run.drive(submitted)
        if child.state != "CONFIRMED" or child.tx_hash is None:
            raise SweepTransactionFailed(f"{submitted}: {child.error}")
        receipt = self.run._receipt(child.tx_hash)
        assert receipt is not None
        return receipt


def _same_call(record: TransferRecord) -> NonceCall:
    """Every attempt of a sweep's transaction sends what its first attempt recorded:
    same recipient, value, calldata, gas limit and EIP-7702 authorizations (valid while
    the deposits' nonces are unchanged); only the nonce is fixed and the price moves."""
    first: Attempt = record.attempts[0]
    fields = evm.signed_fields(first.raw_tx)
    base = {k: v for k, v in fields.items() if k not in ("v", "r", "s", "yParity", "type")}

    def tx(nonce: int, gas_limit: int, price: int) -> TxParams:
        fresh: dict[str, Any] = {
            **base,
            "nonce": Nonce(nonce),
            "gas": gas_limit,
            "maxFeePerGas": Wei(price),
            "maxPriorityFeePerGas": Wei(price),
        }
        return fresh  # type: ignore[return-value]

    # What a mined sweep moved is read from its logs by the worker, per deposit.
    return NonceCall(tx=tx, verify=lambda record, attempt, receipt: 0)


def _alert_refused(refused: RefusedDeposit) -> None:
    raise_alert(
        "deposit_refused",
        "deposit delegated elsewhere",
        address=refused.address,
        reason=refused.reason,
        delegate=refused.delegate,
    )
