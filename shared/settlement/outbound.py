"""One outgoing token transfer from the hot wallet, sent at most once (docs/adr/0012).

:func:`send_token` is idempotent by the caller's ``tx_id`` (``po_…``, ``rf_…``,
``cold_…``). Its ``outgoing`` record moves, with conditional updates only::

    PENDING → SIGNED(nonce, raw tx, hash) → BROADCAST(tx_hash) → CONFIRMED | FAILED

and keeps every attempt at its nonce (hash, raw tx, gas price, state): the first one, a
gas-bumped replacement of a stuck one, or a 0-value self-transfer that fills the nonce
of a transaction the node refused. Whichever attempt is mined wins; the other live
ones become REPLACED.

- The nonce is taken from DynamoDB (:mod:`shared.settlement.nonces`) in the same
  transaction that records SIGNED: a transfer that cannot be signed (the gas estimate
  reverts, e.g. the hot wallet lacks tokens) is FAILED without consuming a nonce.
- A signed transaction is recorded before it is sent; a crash after SIGNED or after
  BROADCAST resumes by re-sending the very same bytes (the node accepts them once).
  A new transaction for the nonce is only ever a replacement (same nonce, ≥ 12.5 %
  more gas price, up to the policy's ceiling) or a cancellation, so the nonce is used
  exactly once on chain and the transfer happens at most once.
- Broadcast but not mined within this invocation: :class:`TransferStillPending` (the
  SQS message is redelivered later and the next call resumes).
- CONFIRMED only when the receipt's Transfer log moved exactly ``amount`` to ``to``.
- The nonce used on chain but no receipt for any attempt (a node behind a load balancer
  that has not seen the block yet, a node without a transaction index): never FAILED on
  that alone. The record stays open (``TransferStillPending``), every call looks for
  the receipts again, and after ``BSCPAY_OUTBOUND_NONCE_LOST_AFTER_S`` an alert and a
  scan of finalized blocks for the hot wallet's transaction at that nonce: ours →
  settled from its block's receipt; someone else's → FAILED (docs/adr/0012), with
  several endpoints only once a second one confirms it (else open, alerted).

:meth:`Outbound.drive` is that loop for any one-nonce hot-wallet transaction given as a
:class:`NonceCall` (how to re-sign it, how to verify its receipt): a sweep's
``sweepMany`` and gas top-ups go through it too (``shared.settlement.worker``).

This module is settlement logic: it gets a ``Web3`` client (``shared.chain.evm.client``:
every RPC endpoint, with failover) and a
:class:`~shared.custody.signer.Signer` and never sees a key.

Size: one class, ``Outbound``, is the one-nonce state machine (PENDING → SIGNED →
BROADCAST → CONFIRMED | FAILED, replacement, cancellation); its transitions share
private helpers and are read together, so it stays one module (~700 lines).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from aws_lambda_powertools import Logger
from eth_typing import ChecksumAddress, HexStr
from hexbytes import HexBytes

from shared import config, ids
from shared.alerts import raise_alert
from shared.chain.evm import (
    ERC20_ABI,
    GAS_HEADROOM_DEN,
    GAS_HEADROOM_NUM,
    BlockNotFound,
    ContractLogicError,
    FailoverProvider,
    GasPolicy,
    Nonce,
    TransactionNotFound,
    TxParams,
    TxReceipt,
    Web3,
    Web3RPCError,
    Wei,
    clamped_gas_price,
    moved,
)
from shared.chain.rpc import Endpoint, JsonRpc, RpcError
from shared.config import MIN_BUMP_BPS as MIN_BUMP_BPS  # re-exported
from shared.config import OutboundSettings as OutboundSettings  # re-exported
from shared.custody.signer import Signer
from shared.dal import outgoing
from shared.dal.outgoing import Attempt, Change, NonceClaim, NonceUsedWatch, TransferRecord
from shared.errors import ConcurrentUpdate
from shared.settlement.nonces import NonceAllocator

logger = Logger(child=True)

CANCEL_GAS = 21_000
_RACES = 5  # a duplicate writer moved the record: re-read and go on, at most this often
# The scan for the transaction that used a record's nonce starts at the last block
# stamped this long before its first attempt was signed (node lag, clock skew) ...
NONCE_SCAN_SKEW_S = 300
# ... and gives up, inconclusive (a human was alerted), this many blocks past the head
# seen when the nonce was first found used (it was mined at or before that head).
NONCE_SCAN_BEYOND = 2_000


# --- results and errors -----------------------------------------------------------------


@dataclass(frozen=True)
class TransferOutcome:
    tx_id: str
    state: Literal["CONFIRMED", "FAILED"]
    tx_hash: str | None  # the mined transfer (None: nothing of it was mined)
    fee_wei: int  # BNB paid for gas (a reverted transfer or a cancellation pays too)
    error: str | None


class OutboundError(RuntimeError):
    """An outgoing transfer could not be carried through now."""


class TransferStillPending(OutboundError):
    """Broadcast, not mined within this invocation: retry later (the call resumes)."""

    def __init__(self, tx_id: str, tx_hash: str | None, nonce: int | None) -> None:
        super().__init__(f"{tx_id}: {tx_hash} (nonce {nonce}) is not mined yet")
        self.tx_id = tx_id
        self.tx_hash = tx_hash
        self.nonce = nonce


class TransferMismatch(OutboundError):
    """``tx_id`` already names a different transfer (recipient, amount, token, wallet)."""


class TransferUnverified(OutboundError):
    """Mined with status 1, but its Transfer log does not show ``amount`` going to ``to``.
    The record stays BROADCAST; a human must look (alerted)."""


class NonceNotFilled(OutboundError):
    """The node refused the transfer and its cancellation: the nonce is still open.
    Retry later (the record keeps the nonce; the next call tries again)."""


@dataclass(frozen=True)
class OutboundHooks:
    """Test seams: ``before_send(tx_hash)`` runs after an attempt is recorded, right
    before it is sent; ``after_send(tx_hash)`` after the node accepted it and BROADCAST
    was recorded. Raising from either simulates a crash at that point."""

    before_send: Callable[[str], None] | None = None
    after_send: Callable[[str], None] | None = None


@dataclass(frozen=True)
class NonceCall:
    """What every attempt at a record's nonce sends (a cancellation aside), so that any
    one-nonce hot-wallet transaction can be driven by :meth:`Outbound.drive` (a sweep's
    too). ``tx(nonce, gas_limit, gas_price)`` builds it; ``verify(record, attempt,
    receipt)`` checks a mined attempt with status 1 and returns the amount to record
    (raise :class:`TransferUnverified` when the receipt does not show what was meant)."""

    tx: Callable[[int, int, int], TxParams]
    verify: Callable[[TransferRecord, Attempt, TxReceipt], int]


# --- pure parts -------------------------------------------------------------------------


def bumped_gas_price(
    previous_wei: int, node_price_wei: int, policy: GasPolicy, bump_bps: int = MIN_BUMP_BPS
) -> int | None:
    """The gas price of a replacement: at least ``previous`` + ``bump_bps`` (rounded up),
    the node's clamped price if higher, never above the ceiling. None when the ceiling
    leaves no room for the minimum bump (the node would refuse the replacement)."""
    if bump_bps < MIN_BUMP_BPS:
        raise ValueError(f"a replacement needs at least {MIN_BUMP_BPS} bps more gas price")
    minimum = -(-previous_wei * (10_000 + bump_bps) // 10_000)
    price = min(max(minimum, policy.clamp(node_price_wei)), policy.ceiling_wei)
    return price if price >= minimum else None


def moved_to(receipt: TxReceipt, token: str, sender: str, to: str) -> int:
    """Token base units the receipt's Transfer logs moved from ``sender`` to ``to``."""
    return moved(receipt, token, [sender], to).get(sender.lower(), 0)


# --- the transfer -----------------------------------------------------------------------


def send_token(
    w3: Web3,
    hot_wallet: Signer,
    tx_id: str,
    to: str,
    amount: int,
    *,
    token: str,
    gas: GasPolicy,
    settings: OutboundSettings | None = None,
    kind: str = "transfer",
    hooks: OutboundHooks | None = None,
) -> TransferOutcome:
    """Send ``amount`` base units of ``token`` from the hot wallet to ``to``, once per
    ``tx_id``. Returns the final outcome; raises :class:`TransferStillPending` while
    the transaction is broadcast but not mined (call again later with the same
    arguments), :class:`TransferMismatch` when ``tx_id`` names another transfer,
    ``GasPriceBelowBaseFee`` (nothing signed) when the ceiling is under the base fee.
    ``kind`` labels the record (``payout``, ``refund``, ``cold``)."""
    outbound = Outbound(w3, hot_wallet, token=token, gas=gas, settings=settings, hooks=hooks)
    return outbound.send(tx_id, to, amount, kind=kind)


class Outbound:
    """Outgoing token transfers from one hot wallet (reusable within an invocation)."""

    def __init__(
        self,
        w3: Web3,
        hot_wallet: Signer,
        *,
        token: str,
        gas: GasPolicy,
        settings: OutboundSettings | None = None,
        hooks: OutboundHooks | None = None,
    ) -> None:
        self.w3 = w3
        self.signer = hot_wallet
        self.hot: ChecksumAddress = hot_wallet.address
        self.token = Web3.to_checksum_address(token)
        self.gas = gas
        self.settings = settings or config.outbound()
        self.hooks = hooks or OutboundHooks()
        self.chain_id = int(w3.eth.chain_id)
        self.nonces = NonceAllocator(w3, self.hot)
        self._erc20 = w3.eth.contract(address=self.token, abi=ERC20_ABI)
        self._ceiling_alerted: set[str] = set()

    # -- entry ---------------------------------------------------------------------------

    def send(self, tx_id: str, to: str, amount: int, *, kind: str = "transfer") -> TransferOutcome:
        if not tx_id:
            raise ValueError("tx_id is required")
        if amount <= 0:
            raise ValueError("amount must be positive")
        recipient = Web3.to_checksum_address(to)  # ValueError on a malformed address
        if int(recipient, 16) == 0:
            raise ValueError("refusing to send to the zero address")
        payload = {"to": recipient.lower(), "amount": str(amount), "token": self.token.lower()}
        outgoing.create_transfer(tx_id, kind, self.hot, payload, ids.now())
        for _ in range(_RACES):
            record = outgoing.get_transfer(tx_id)
            if record is None:
                raise OutboundError(f"{tx_id}: record vanished")
            if record.payload != payload or (record.wallet or "") != self.hot.lower():
                raise TransferMismatch(f"{tx_id} already names another transfer")
            try:
                return self._drive(record, recipient, amount)
            except ConcurrentUpdate:
                # A duplicate writer moved the record (it can only have recorded what
                # this one would): read it again and carry on from there.
                logger.info("outgoing record moved under us; re-reading", extra={"tx_id": tx_id})
        raise OutboundError(f"{tx_id}: lost {_RACES} races for the record")

    def _drive(self, record: TransferRecord, to: ChecksumAddress, amount: int) -> TransferOutcome:
        if record.state == "PENDING":
            record = self._sign_first(record, to, amount)
        return self._outcome(self.drive(record, self._call(to, amount)))

    def drive(self, record: TransferRecord, call: NonceCall) -> TransferRecord:
        """Carry a SIGNED or BROADCAST record (its nonce taken, its attempts recorded) to
        CONFIRMED or FAILED: (re-)send its live attempts, replace a stuck one, cancel a
        refused one. Returns the terminal record; raises :class:`TransferStillPending`
        when nothing is mined within ``wait_s``, :class:`NonceNotFilled`,
        :class:`TransferUnverified`, ``ConcurrentUpdate`` (re-read and call again)."""
        if record.state in outgoing.TERMINAL:
            return record
        record = self.push(record)
        deadline = time.monotonic() + self.settings.wait_s
        while True:
            used = self._nonce_used(record)  # read before the receipts: no window between
            done = self._settle(record, call)
            if done is not None:
                return done
            if used:
                # No receipt of ours, yet the nonce is used: never FAILED on that alone
                # (the transfer may be mined where this node cannot see it yet).
                # Nothing to replace or cancel either: the nonce is filled.
                record = self._note_nonce_used(record)
            elif not record.live:
                record = self._cancel(record)
                continue
            elif self._stuck(record):
                record = self._replace(record, call)
            if time.monotonic() >= deadline:
                if used:
                    done = self._nonce_used_for_long(record, call)
                    if done is not None:
                        return done
                raise TransferStillPending(record.tx_id, record.tx_hash, record.nonce)
            time.sleep(self.settings.poll_interval_s)

    def push(self, record: TransferRecord) -> TransferRecord:
        """(Re-)send every live attempt of ``record`` (the same recorded bytes)."""
        for attempt in record.live:
            record = self._push(record, attempt.tx_hash)
        return record

    def _call(self, to: ChecksumAddress, amount: int) -> NonceCall:
        def verify(record: TransferRecord, mined: Attempt, receipt: TxReceipt) -> int:
            moved = moved_to(receipt, self.token, self.hot, to)
            if moved != amount:
                raise_alert(
                    "outgoing_unverified",
                    "mined transfer moved an unexpected amount",
                    tx_id=record.tx_id,
                    tx=mined.tx_hash,
                    moved=moved,
                    amount=amount,
                )
                raise TransferUnverified(
                    f"{record.tx_id}: {mined.tx_hash} moved {moved}, not {amount}, to {to}"
                )
            return amount

        return NonceCall(
            tx=lambda nonce, gas_limit, price: self._transfer_tx(
                to, amount, nonce, gas_limit, price
            ),
            verify=verify,
        )

    # -- signing -------------------------------------------------------------------------

    def _price(self) -> int:
        return clamped_gas_price(self.w3, self.gas)

    def _transfer_tx(
        self, to: ChecksumAddress, amount: int, nonce: int, gas_limit: int, price: int
    ) -> TxParams:
        return {
            "to": self.token,
            "value": Wei(0),
            "data": HexStr(self._erc20.encode_abi("transfer", args=[to, amount])),
            "gas": gas_limit,
            "nonce": Nonce(nonce),
            "chainId": self.chain_id,
            "maxFeePerGas": Wei(price),
            "maxPriorityFeePerGas": Wei(price),
        }

    def _cancel_tx(self, nonce: int, price: int) -> TxParams:
        """A 0-value transfer to ourselves: fills ``nonce`` and moves nothing."""
        return {
            "to": self.hot,
            "value": Wei(0),
            "gas": CANCEL_GAS,
            "nonce": Nonce(nonce),
            "chainId": self.chain_id,
            "maxFeePerGas": Wei(price),
            "maxPriorityFeePerGas": Wei(price),
        }

    def sign_attempt(self, tx: TxParams, price: int, kind: str = "transfer") -> Attempt:
        """Sign ``tx`` with the hot wallet: a SIGNED attempt to record before sending."""
        raw = self.signer.sign_transaction(dict(tx))
        return Attempt(
            tx_hash=HexBytes(Web3.keccak(raw)).to_0x_hex(),
            raw_tx="0x" + raw.hex(),
            gas_price_wei=price,
            kind=kind,
            state="SIGNED",
            signed_at_ms=_now_ms(),
        )

    def _sign_first(
        self, record: TransferRecord, to: ChecksumAddress, amount: int
    ) -> TransferRecord:
        """PENDING → SIGNED with a fresh nonce, or → FAILED (no nonce) when the
        transfer would revert."""
        price = self._price()
        call: TxParams = {
            "from": self.hot,
            "to": self.token,
            "value": Wei(0),
            "data": HexStr(self._erc20.encode_abi("transfer", args=[to, amount])),
        }
        try:
            estimate = int(self.w3.eth.estimate_gas(call))
        except ContractLogicError as exc:
            error = f"cannot be signed: the transfer reverts ({exc})"[:300]
            logger.warning(
                "outgoing transfer failed before signing",
                extra={"tx_id": record.tx_id, "error": error},
            )
            failed = replace(record, state="FAILED")
            return outgoing.transition(
                record, failed, ids.now(), Change(error=error, fee_wei=0, amount=0)
            )
        gas_limit = estimate * GAS_HEADROOM_NUM // GAS_HEADROOM_DEN

        def sign_and_record(claim: NonceClaim) -> TransferRecord:
            tx = self._transfer_tx(to, amount, claim.nonce, gas_limit, price)
            signed = replace(record, attempts=(self.sign_attempt(tx, price, "transfer"),))
            return outgoing.sign(signed, claim, gas_limit, ids.now())

        signed = self.nonces.allocate(sign_and_record)
        logger.info(
            "outgoing transfer signed",
            extra={"tx_id": record.tx_id, "nonce": signed.nonce, "tx": signed.tx_hash},
        )
        return signed

    # -- sending -------------------------------------------------------------------------

    def _push(self, record: TransferRecord, tx_hash: str) -> TransferRecord:
        """(Re-)send one recorded attempt; BROADCAST once the node has it, REFUSED when
        the node turns it down (and its nonce is still open)."""
        attempt = _attempt_of(record, tx_hash)
        if self.hooks.before_send is not None:
            self.hooks.before_send(tx_hash)
        try:
            self.w3.eth.send_raw_transaction(HexBytes(attempt.raw_tx))
        except Web3RPCError as exc:
            # No message matching: what the node knows decides. Known (pending or
            # mined): sent. Nonce used: _settle finds out by what. Else: refused.
            if not self._known(tx_hash):
                if self._nonce_used(record):
                    return record
                error = f"refused by the node: {exc}"[:300]
                raise_alert(
                    "outgoing_refused",
                    "node refused an outgoing transaction",
                    tx_id=record.tx_id,
                    tx=tx_hash,
                    nonce=record.nonce,
                    error=error,
                )
                after = _with_attempt(record, tx_hash, state="REFUSED", error=error)
                return outgoing.transition(record, after, ids.now(), Change(error=error))
        if attempt.state == "SIGNED":
            after = replace(_with_attempt(record, tx_hash, state="BROADCAST"), state="BROADCAST")
            record = outgoing.transition(record, after, ids.now())
        if self.hooks.after_send is not None:
            self.hooks.after_send(tx_hash)
        return record

    def _known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(HexStr(tx_hash))
        except TransactionNotFound:
            return False
        return True

    def _nonce_used(self, record: TransferRecord) -> bool:
        assert record.nonce is not None
        return int(self.w3.eth.get_transaction_count(self.hot, "latest")) > record.nonce

    def _receipt(self, tx_hash: str) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            return None

    # -- waiting, replacing, cancelling -------------------------------------------------

    def _settle(self, record: TransferRecord, call: NonceCall) -> TransferRecord | None:
        """The terminal record once an attempt (any of them, also a replaced or refused
        one: another node may have taken it) has a receipt, else None."""
        for attempt in record.attempts:
            receipt = self._receipt(attempt.tx_hash)
            if receipt is not None:
                return self._finish(record, attempt, receipt, call)
        return None

    # -- the nonce is used, no receipt of ours (docs/adr/0012) ---------------------------

    def _note_nonce_used(self, record: TransferRecord) -> TransferRecord:
        """Record when the nonce was first seen used without a receipt of ours (the grace
        counts from there, across invocations)."""
        if record.nonce_used is not None:
            return record
        watch = NonceUsedWatch(seen_ms=_now_ms(), seen_block=int(self.w3.eth.block_number))
        logger.warning(
            "nonce used on chain but no receipt of ours yet; keeping the record open",
            extra={"tx_id": record.tx_id, "nonce": record.nonce, "block": watch.seen_block},
        )
        return outgoing.transition(record, record, ids.now(), Change(nonce_used=watch))

    def _nonce_used_for_long(
        self, record: TransferRecord, call: NonceCall
    ) -> TransferRecord | None:
        """After the grace: alert once, then look for the transaction that used the nonce
        in finalized blocks. The terminal record when found (ours: settled from its
        receipt; someone else's: FAILED), else None (still open)."""
        watch = record.nonce_used
        assert watch is not None and record.nonce is not None
        if _now_ms() - watch.seen_ms < self.settings.nonce_lost_after_s * 1000:
            return None
        if watch.alerted_ms is None:
            raise_alert(
                "nonce_used_elsewhere",
                "outgoing transfer's nonce is used but no receipt of ours is found",
                tx_id=record.tx_id,
                nonce=record.nonce,
                attempts=[a.tx_hash for a in record.attempts],
                seen_ms=watch.seen_ms,
            )
            watch = replace(watch, alerted_ms=_now_ms())
            record = outgoing.transition(record, record, ids.now(), Change(nonce_used=watch))
        return self._scan_for_nonce(record, call)

    def _scan_for_nonce(self, record: TransferRecord, call: NonceCall) -> TransferRecord | None:
        """Read finalized blocks (at most ``nonce_scan_blocks``, from where the last call
        stopped) for the hot wallet's transaction at the record's nonce. The chain has
        exactly one: when it is one of our attempts the transfer happened (its receipt
        is taken from the block if the node cannot find it by hash); when it is someone
        else's in a finalized block, no attempt of ours can ever be mined: FAILED."""
        watch = record.nonce_used
        assert watch is not None and record.nonce is not None
        finalized = int(self.w3.eth.get_block("finalized")["number"])
        start = watch.scan_next
        if start is None:
            first_signed_s = min(a.signed_at_ms for a in record.attempts) // 1000
            start = self._block_at(first_signed_s - NONCE_SCAN_SKEW_S, finalized)
        if start > watch.seen_block + NONCE_SCAN_BEYOND:
            logger.warning(
                "no transaction at the nonce found; a human decides",
                extra={"tx_id": record.tx_id, "nonce": record.nonce, "scanned_to": start},
            )
            return None
        block_number = start
        last = min(finalized, start + self.settings.nonce_scan_blocks - 1)
        while block_number <= last:
            try:
                block = self.w3.eth.get_block(block_number, full_transactions=True)
            except BlockNotFound:
                break  # this node is behind: go on from here next time
            for tx in block["transactions"]:
                assert not isinstance(tx, bytes)
                if tx["from"] == self.hot and int(tx["nonce"]) == record.nonce:
                    block_hash = HexBytes(block["hash"]).to_0x_hex()
                    found = HexBytes(tx["hash"]).to_0x_hex()
                    done = self._settle_found(record, call, block_number, block_hash, found)
                    if done is None and watch.scan_next != block_number:
                        # not settled yet: look at this very block again next time
                        after = replace(watch, scan_next=block_number)
                        outgoing.transition(record, record, ids.now(), Change(nonce_used=after))
                    return done
            block_number += 1
        if watch.scan_next != block_number:  # (also keeps the start found by timestamp)
            after = replace(watch, scan_next=block_number)
            outgoing.transition(record, record, ids.now(), Change(nonce_used=after))
        return None

    def _settle_found(
        self,
        record: TransferRecord,
        call: NonceCall,
        block_number: int,
        block_hash: str,
        tx_hash: str,
    ) -> TransferRecord | None:
        ours = next((a for a in record.attempts if a.tx_hash == tx_hash), None)
        if ours is not None:
            receipt = self._receipt(tx_hash) or next(
                (
                    r
                    for r in self.w3.eth.get_block_receipts(block_number)
                    if HexBytes(r["transactionHash"]).to_0x_hex() == tx_hash
                ),
                None,
            )
            return self._finish(record, ours, receipt, call) if receipt is not None else None
        if not self._foreign_confirmed(record, block_number, block_hash, tx_hash):
            return None
        error = (
            f"nonce {record.nonce} was used by {tx_hash} (finalized block {block_number}), "
            "a transaction outside bscpay: no attempt of this transfer can be mined"
        )
        raise_alert(
            "nonce_used_elsewhere",
            "outgoing transfer lost its nonce to a transaction outside bscpay",
            tx_id=record.tx_id,
            nonce=record.nonce,
            tx=tx_hash,
            block=block_number,
        )
        after = replace(
            record,
            state="FAILED",
            attempts=tuple(replace(a, state="REPLACED") if a.live else a for a in record.attempts),
        )
        return outgoing.transition(
            record, after, ids.now(), Change(error=error, fee_wei=0, amount=0)
        )

    def _foreign_confirmed(
        self, record: TransferRecord, block_number: int, block_hash: str, tx_hash: str
    ) -> bool:
        """Whether a second endpoint confirms the foreign transaction at the record's
        nonce before the transfer is FAILED on it (a lying or buggy node must not fail
        a payout that was mined: its reservation would be paid again). With one
        endpoint its finalized block is the evidence. With several, at least two must
        each show the block finalized, with the same hash, holding ``tx_hash`` at the
        nonce, and none may show anything else there; otherwise (they disagree, or no
        second one answers) the record stays open and the operator is alerted."""
        provider = self.w3.provider
        client = provider.rpc if isinstance(provider, FailoverProvider) else None
        if client is None or len(client.endpoints) < 2:
            return True
        confirmed: list[str] = []
        disagree: dict[str, str] = {}
        unanswered: dict[str, str] = {}
        for endpoint in client.endpoints:
            try:
                seen = self._nonce_tx_on(client, endpoint, record, block_number, block_hash)
            except RpcError as exc:
                unanswered[endpoint.label] = str(exc)
                continue
            if seen == tx_hash.lower():
                confirmed.append(endpoint.label)
            else:
                disagree[endpoint.label] = seen
        if len(confirmed) >= 2 and not disagree:
            return True
        raise_alert(
            "nonce_foreign_unconfirmed",
            "a foreign transaction at an outgoing transfer's nonce is not confirmed by a "
            "second RPC endpoint; the transfer stays open",
            tx_id=record.tx_id,
            nonce=record.nonce,
            tx=tx_hash,
            block=block_number,
            confirmed=confirmed,
            disagree=disagree,
            unanswered=unanswered,
        )
        return False

    def _nonce_tx_on(
        self,
        client: JsonRpc,
        endpoint: Endpoint,
        record: TransferRecord,
        block_number: int,
        block_hash: str,
    ) -> str:
        """The hash (lower case) of the hot wallet's transaction at the record's nonce in
        ``block_number`` as ``endpoint`` sees it (``""``: none there; a different block
        hash: ``"block <hash>"``). RpcError when it cannot tell: no answer, or the block
        is not finalized (or not known) there yet."""
        finalized = client.call_on(endpoint, "eth_getBlockByNumber", ["finalized", False])
        if not isinstance(finalized, dict) or int(str(finalized.get("number")), 16) < block_number:
            raise RpcError(f"{endpoint.label} has not finalized block {block_number}")
        block = client.call_on(endpoint, "eth_getBlockByNumber", [hex(block_number), True])
        if not isinstance(block, dict):
            raise RpcError(f"{endpoint.label} does not have block {block_number}")
        if str(block.get("hash", "")).lower() != block_hash.lower():
            return f"block {block.get('hash')}"
        hot = self.hot.lower()
        for tx in block.get("transactions") or []:
            if (
                isinstance(tx, dict)
                and str(tx.get("from", "")).lower() == hot
                and int(str(tx.get("nonce")), 16) == record.nonce
            ):
                return str(tx.get("hash", "")).lower()
        return ""

    def _block_at(self, timestamp: int, finalized: int) -> int:
        """The last block stamped at or before ``timestamp`` (0 when none is)."""
        low, high = 0, finalized
        while low < high:
            middle = (low + high + 1) // 2
            if int(self.w3.eth.get_block(middle)["timestamp"]) <= timestamp:
                low = middle
            else:
                high = middle - 1
        return low

    def _finish(
        self,
        record: TransferRecord,
        mined: Attempt,
        receipt: TxReceipt,
        call: NonceCall,
    ) -> TransferRecord:
        fee = int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
        error: str | None = None
        amount = 0
        if receipt["status"] != 1:
            state, mined_state, error = "FAILED", "FAILED", "the transfer reverted on chain"
        elif mined.kind == "cancel":
            state, mined_state = "FAILED", "CONFIRMED"
            error = record.error or "cancelled: its nonce was filled by a 0-value transaction"
        else:
            amount = call.verify(record, mined, receipt)
            state, mined_state = "CONFIRMED", "CONFIRMED"
        attempts = tuple(
            replace(a, state=mined_state)
            if a.tx_hash == mined.tx_hash
            else (replace(a, state="REPLACED") if a.live else a)
            for a in record.attempts
        )
        after = replace(record, state=state, attempts=attempts)
        change = Change(
            tx_hash=mined.tx_hash,
            fee_wei=fee,
            amount=amount,
            error=error,
        )
        done = outgoing.transition(record, after, ids.now(), change)
        logger.info(
            "outgoing transfer settled",
            extra={
                "tx_id": record.tx_id,
                "state": state,
                "tx": mined.tx_hash,
                "fee_wei": fee,
                "attempts": len(record.attempts),
            },
        )
        return done

    def _stuck(self, record: TransferRecord) -> bool:
        newest = max(a.signed_at_ms for a in record.live)
        return _now_ms() - newest >= self.settings.stuck_after_s * 1000

    def _replace(self, record: TransferRecord, call: NonceCall) -> TransferRecord:
        """Re-sign the newest live attempt with the same nonce and a higher gas price."""
        assert record.nonce is not None and record.gas_limit is not None
        live = record.live
        newest = max(live, key=lambda a: a.signed_at_ms)
        highest = max(a.gas_price_wei for a in live)
        price = bumped_gas_price(
            highest, int(self.w3.eth.gas_price), self.gas, self.settings.gas_bump_bps
        )
        if price is None:
            if newest.tx_hash not in self._ceiling_alerted:
                self._ceiling_alerted.add(newest.tx_hash)
                raise_alert(
                    "outgoing_stuck_at_ceiling",
                    "stuck outgoing transaction cannot be replaced: gas ceiling reached",
                    tx_id=record.tx_id,
                    tx=newest.tx_hash,
                    gas_price_wei=highest,
                    ceiling_wei=self.gas.ceiling_wei,
                )
            return record
        if newest.kind == "cancel":
            tx = self._cancel_tx(record.nonce, price)
        else:
            tx = call.tx(record.nonce, record.gas_limit, price)
        attempt = self.sign_attempt(tx, price, newest.kind)
        after = replace(record, attempts=(*record.attempts, attempt))
        record = outgoing.transition(record, after, ids.now(), Change(tx_hash=attempt.tx_hash))
        logger.warning(
            "replacing a stuck outgoing transaction",
            extra={
                "tx_id": record.tx_id,
                "nonce": record.nonce,
                "old": newest.tx_hash,
                "new": attempt.tx_hash,
                "gas_price_wei": price,
            },
        )
        return self._push(record, attempt.tx_hash)

    def _cancel(self, record: TransferRecord) -> TransferRecord:
        """Every attempt was refused and the nonce is still open: fill it with a 0-value
        self-transfer so later transactions are not stuck behind a gap."""
        assert record.nonce is not None
        price = self._price()
        attempt = self.sign_attempt(self._cancel_tx(record.nonce, price), price, "cancel")
        after = replace(record, attempts=(*record.attempts, attempt))
        record = outgoing.transition(record, after, ids.now(), Change(tx_hash=attempt.tx_hash))
        record = self._push(record, attempt.tx_hash)
        if not record.live and not self._nonce_used(record):
            raise NonceNotFilled(
                f"{record.tx_id}: nonce {record.nonce} is open; the transfer and its "
                "cancellation were refused (retry later)"
            )
        return record

    # -- results -------------------------------------------------------------------------

    def _outcome(self, record: TransferRecord) -> TransferOutcome:
        state: Literal["CONFIRMED", "FAILED"] = (
            "CONFIRMED" if record.state == "CONFIRMED" else "FAILED"
        )
        mined = next((a for a in record.attempts if a.tx_hash == record.tx_hash), None)
        tx_hash = (
            record.tx_hash
            if mined is not None and mined.kind == "transfer" and mined.state != "REPLACED"
            else None
        )
        return TransferOutcome(record.tx_id, state, tx_hash, int(record.fee_wei or 0), record.error)


def _attempt_of(record: TransferRecord, tx_hash: str) -> Attempt:
    return next(a for a in record.attempts if a.tx_hash == tx_hash)


def _with_attempt(record: TransferRecord, tx_hash: str, **changes: Any) -> TransferRecord:
    return replace(
        record,
        attempts=tuple(
            replace(a, **changes) if a.tx_hash == tx_hash else a for a in record.attempts
        ),
    )


def _now_ms() -> int:
    return int(time.time() * 1000)
