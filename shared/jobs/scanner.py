"""The chain scanner: follows the chain block by block, records USDT transfers to
our deposit addresses, finalizes them and advances payments.

One invocation loops until shortly before its deadline. A lease on the cursor in
DynamoDB makes sure two invocations never scan at once; the cursor only moves over
ranges whose logs were fully answered. Recent block hashes are kept with the cursor:
when the block under the cursor is no longer canonical, the cursor rewinds to the
fork point and the range is scanned again (recording is idempotent).

Finality: a transfer counts once its block is at or below the node's ``finalized``
block (resolved to a number) and its receipt still shows the same log. A transfer
whose log vanished is reversed; one whose transaction moved to another block is
counted from the block it is in now.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from shared import config, ids
from shared.chain.heads import HeadWatcher
from shared.chain.logs import TRANSFER_TOPIC, TransferLog, decode, match_transfers
from shared.chain.rpc import JsonRpc, RpcError
from shared.chain.rpc import endpoints as rpc_endpoints
from shared.dal import addresses as address_repo
from shared.dal import system as system_repo
from shared.dal import transfers as transfer_repo
from shared.errors import ChainMismatch, ConcurrentUpdate
from shared.events import outbox
from shared.models.domain import Transfer, TransferStatus
from shared.payments import customers, service

logger = Logger(child=True)
metrics = Metrics(namespace="bscpay")

CURSOR = "scanner_cursor"
# The recent block hashes live in an item of their own, written every few steps and at
# the end of each invocation, not with every cursor move (issue 16 §3: the cursor item
# stays one write unit). Hashes lost in a crash only cost the next invocation its fork
# check of those blocks; finality still re-reads every transfer's receipt.
HASHES = "scanner_hashes"
HASH_SAVE_STEPS = 20
HASH_WINDOW = 128  # recent block hashes kept for fork detection


@dataclass
class ScanReport:
    blocks_scanned: int = 0
    transfers_recorded: int = 0
    transfers_finalized: int = 0
    rewinds: int = 0
    cursor: int | None = None
    head: int | None = None
    lease_held_elsewhere: bool = False
    iterations: int = 0
    rescans: int = 0
    errors: list[str] = field(default_factory=list)


_Item = TypeVar("_Item")
_Done = TypeVar("_Done")


class _OutOfTime(Exception):
    """The deadline came in the middle of a range: the cursor stays where it was and the
    next invocation reads the range again (recording is idempotent)."""


_pools: dict[int, ThreadPoolExecutor] = {}
_warmed: set[str] = set()  # work run once by one thread: its DynamoDB clients exist
# Tokens that answered their configured decimals() and symbol() in this container: every
# invocation (each minute) need not ask again (6 calls with three tokens).
_verified_tokens: set[tuple[int, str, str, int]] = set()
_pools_lock = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """The container's worker threads, kept from step to step and invocation to
    invocation: each thread's botocore state is built once, not once per step."""
    with _pools_lock:
        if workers not in _pools:
            _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="scanner")
        return _pools[workers]


def _settle(transfer: Transfer, canonical: bool) -> None:
    if customers.is_customer(transfer.payment_id):
        customers.finalize(transfer, canonical)
    else:
        service.finalize_transfer(transfer, canonical)


class Scanner:
    def __init__(self, rpc: JsonRpc | None = None) -> None:
        self.settings = config.scanner()
        self.chain = config.chain()
        self.rpc = rpc or JsonRpc(rpc_endpoints())
        self.token = self.chain.token_address.lower()
        # Every accepted token, lower-case address -> symbol (issue 14 §3): one
        # eth_getLogs asks for all of them.
        self.tokens = {t.address.lower(): t.symbol for t in self.chain.token_list().values()}
        self.token_addresses = sorted(self.tokens)
        self.owner = f"scanner-{uuid.uuid4().hex[:12]}"
        self._hashes: dict[int, str] = {}
        self._checked = False  # tokens answered decimals() and symbol() as configured
        self._unsaved_steps = 0
        self._legacy_hashes = False  # hashes found on the cursor item (an older release)
        # When `finalized` last advanced (wall clock): kept with the cursor, so a stall
        # is measured across invocations, not from each invocation's start.
        self._last_finalized = -1
        self._finalized_moved_at = time.time()
        # When the current step must stop between transfers (time.monotonic()).
        self._step_deadline = float("inf")
        # The current step's transfers already recorded, read once (transfer id: status).
        self._recorded: dict[str, TransferStatus] = {}

    def check_chain(self) -> None:
        """Refuse to run against the wrong chain or tokens (DESIGN §4): each configured
        token must answer its configured decimals() and its symbol()."""
        chain_id = self.rpc.chain_id()
        if chain_id != self.chain.chain_id:
            raise ChainMismatch(f"node chain id {chain_id} != configured {self.chain.chain_id}")
        if self._checked:
            return
        for token in self.chain.token_list().values():
            key = (chain_id, token.symbol, token.address.lower(), token.decimals)
            if key in _verified_tokens:
                continue  # answered already in this container: a contract's code is fixed
            decimals = self.rpc.erc20_decimals(token.address)
            if decimals != token.decimals:
                raise ChainMismatch(
                    f"{token.symbol} at {token.address}: decimals {decimals} != configured "
                    f"{token.decimals}"
                )
            symbol = self.rpc.erc20_symbol(token.address)
            if symbol != token.symbol:
                raise ChainMismatch(
                    f"the token configured as {token.symbol} at {token.address} calls itself "
                    f"{symbol!r}"
                )
            _verified_tokens.add(key)
        self._checked = True

    def run(self, remaining_ms: Callable[[], int]) -> ScanReport:
        report = ScanReport()
        self.check_chain()
        try:
            cursor = system_repo.acquire_lease(
                CURSOR, self.owner, time.time(), self.settings.lease_s
            )
        except ConcurrentUpdate:
            report.lease_held_elsewhere = True
            logger.info("another scanner holds the lease; exiting")
            return report
        self._load_hashes()
        if cursor is None:
            cursor = self._start_block()
        heads = HeadWatcher(self.chain.ws_url, self.settings.poll_interval_s).start()
        try:
            while (left_s := remaining_ms() / 1000) > self.settings.safety_margin_s:
                # Half the loop's margin: a step may start late and still end in time.
                self._step_deadline = time.monotonic() + left_s - self.settings.safety_margin_s / 2
                report.iterations += 1
                try:
                    cursor, progressed = self._step(cursor, report)
                except _OutOfTime:
                    logger.info("deadline mid-range; the next invocation goes on from here")
                    break
                except RpcError as exc:
                    # Nothing was skipped (the cursor only moves over answered ranges):
                    # try again on the next block rather than ending the invocation.
                    logger.warning("step failed; retrying", extra={"error": str(exc)})
                    report.errors.append(str(exc)[:200])
                    progressed = False
                report.cursor = cursor
                if not progressed:
                    heads.wait()
        finally:
            heads.stop()
            if self._unsaved_steps:
                # A lease that moved on: the next holder keeps its own hashes.
                with contextlib.suppress(ConcurrentUpdate):
                    self._save_hashes()
            system_repo.release_lease(CURSOR, self.owner)
        return report

    # -- one iteration --------------------------------------------------------------

    def _step(self, cursor: int, report: ScanReport) -> tuple[int, bool]:
        head = self.rpc.block_number()
        report.head = head
        metrics.add_metric("ScannerLagBlocks", MetricUnit.Count, max(head - cursor, 0))
        if head < cursor:
            # This node has not reached what was already scanned (another endpoint
            # answered then): it can tell nothing about those blocks. Wait for it.
            logger.warning("node behind the cursor", extra={"head": head, "cursor": cursor})
            return cursor, False
        cursor = self._check_fork(cursor, report)
        progressed = False
        if cursor < head:
            to_block = min(head, cursor + self.settings.max_blocks_per_query)
            logs, to_hash = self.rpc.verified_logs(
                self._log_address(), TRANSFER_TOPIC, cursor + 1, to_block
            )
            report.transfers_recorded += self._record(logs)
            self._remember(to_block, to_hash)
            system_repo.advance_cursor(
                CURSOR,
                self.owner,
                to_block,
                time.time(),
                self.settings.lease_s,
                finalized=self._last_finalized,
            )
            self._unsaved_steps += 1
            if self._unsaved_steps >= HASH_SAVE_STEPS or self._legacy_hashes:
                self._save_hashes()
            report.blocks_scanned += to_block - cursor
            if head - to_block > self.settings.max_blocks_per_query:
                logger.info(
                    "catching up",
                    extra={"cursor": to_block, "head": head, "behind": head - to_block},
                )
            cursor = to_block
            progressed = True
        else:
            self._run_rescans(cursor, report)
        report.transfers_finalized += self._finalize(head)
        if report.iterations % 20 == 1:
            outbox.relay()
        return cursor, progressed

    def _log_address(self) -> str | list[str]:
        """One address when only USDT is accepted (as every provider takes), else all."""
        return self.token if len(self.token_addresses) == 1 else self.token_addresses

    def _record(self, raw_logs: list[dict[str, object]]) -> int:
        transfers = match_transfers(raw_logs, set(self.tokens))
        if not transfers:
            return 0
        owners = address_repo.payments_for_addresses(t.to_address for t in transfers)
        now = ids.now()
        by_payment: dict[str, list[tuple[TransferLog, Transfer]]] = {}
        for log in transfers:
            owner = owners.get(log.to_address)
            if owner is not None:
                payment_id, merchant_id = owner
                transfer = self._transfer(log, payment_id, merchant_id, now)
                by_payment.setdefault(payment_id, []).append((log, transfer))
        # Which of the step's transfers are recorded already: one batched read, not a
        # read per transfer (issue 16 §2). Customers' deposits check their own.
        self._recorded = transfer_repo.statuses(
            t.transfer_id
            for items in by_payment.values()
            for _, t in items
            if not customers.is_customer(t.payment_id)
        )
        recorded = self._each_payment(by_payment, self._record_in_order)
        for log in recorded:
            metrics.add_metric("TransfersMatched", MetricUnit.Count, 1)
            if log.block_timestamp is not None:
                # From the block's timestamp to the transfer being recorded.
                metrics.add_metric(
                    "DetectionLatencySeconds",
                    MetricUnit.Seconds,
                    max(time.time() - log.block_timestamp, 0),
                )
        return len(recorded)

    def _record_in_order(self, items: list[tuple[TransferLog, Transfer]]) -> list[TransferLog]:
        """One payment's (or customer's) new transfers, in chain order."""
        recorded = []
        for log, transfer in items:
            self._check_time()
            # A customer's permanent address (issue 14 §2) or a payment's.
            if (
                customers.record(transfer)
                if customers.is_customer(transfer.payment_id)
                else service.record_transfer(transfer, self._recorded)
            ):
                recorded.append(log)
                logger.info(
                    "transfer recorded",
                    extra={
                        "payment_id": transfer.payment_id,
                        "tx": log.tx_hash,
                        "block": log.block_number,
                    },
                )
        return recorded

    def _each_payment(
        self, groups: dict[str, list[_Item]], work: Callable[[list[_Item]], list[_Done]]
    ) -> list[_Done]:
        """``work`` over each payment's items; payments side by side (issue 16 §2: the
        scanner's DynamoDB round trips no longer add up transfer by transfer). Items of
        one payment go to one worker, in order, so a payment's state changes in chain
        order; what payments share (ledger accounts, report counters, audit chains) is
        written with ADD or retried on a transaction conflict. Every worker finishes
        before the first error, if any, is raised."""
        if len(groups) <= 1 or self.settings.workers == 1:
            return [done for items in groups.values() for done in work(items)]
        results: list[_Done] = []
        pending = list(groups.values())
        name = getattr(work, "__name__", repr(work))
        if name not in _warmed:
            # pynamodb makes a table's botocore client on first use, one per thread that
            # gets there at once (measured: +400 MB and twice the CPU per transfer with
            # eight racing threads): the first payment's work makes them, alone.
            results.extend(work(pending.pop(0)))
            _warmed.add(name)
        pool = _pool(self.settings.workers)
        # Each worker runs in a copy of this context: the acting system actor.
        futures = [pool.submit(contextvars.copy_context().run, work, items) for items in pending]
        error: BaseException | None = None
        for future in futures:
            try:
                results.extend(future.result())
            except BaseException as exc:
                error = error or exc
        if error is not None:
            raise error
        return results

    def _check_time(self) -> None:
        if time.monotonic() > self._step_deadline:
            raise _OutOfTime

    def _transfer(self, log: TransferLog, payment_id: str, merchant_id: str, now: int) -> Transfer:
        return Transfer(
            transfer_id=transfer_repo.transfer_id(self.chain.chain_id, log.tx_hash, log.log_index),
            chain_id=self.chain.chain_id,
            tx_hash=log.tx_hash,
            log_index=log.log_index,
            block_number=log.block_number,
            block_hash=log.block_hash,
            from_address=log.from_address,
            to_address=log.to_address,
            amount=log.value,
            payment_id=payment_id,
            merchant_id=merchant_id,
            seen_at=now,
            currency=self.tokens[log.token],
        )

    def finalized_block(self, head: int) -> int:
        """The node's `finalized` block as a number; depth-based if it is absent or stalled."""
        block = self.rpc.block("finalized")
        fallback = max(head - self.chain.finality_fallback_depth, 0)
        if block is None or block.get("number") is None:
            return fallback
        number = int(str(block["number"]), 16)
        now = time.time()
        if number != self._last_finalized:
            self._last_finalized, self._finalized_moved_at = number, now
        stalled = now - self._finalized_moved_at > self.chain.finality_stall_s
        metrics.add_metric("FinalityStalled", MetricUnit.Count, 1 if stalled else 0)
        if stalled and fallback > number:
            logger.warning(
                "finality stalled; using depth fallback",
                extra={"finalized": number, "fallback": fallback},
            )
            return fallback
        return number

    def _finalize(self, head: int) -> int:
        finalized = self.finalized_block(head)
        done = 0
        # Risk tiers: large transfers wait for extra depth beyond finality.
        due = [
            t
            for t in transfer_repo.unfinal_transfers(up_to_block=finalized)
            if t.block_number <= finalized - self.chain.extra_depth_for(t.amount)
        ]
        receipts = self._receipts({t.tx_hash for t in due})
        # The chain is asked here, in order; the DynamoDB work then runs per payment.
        by_payment: dict[str, list[tuple[Transfer, bool]]] = {}
        for transfer in due:
            canonical = self._still_on_chain(transfer, finalized, receipts)
            if canonical is None:
                continue  # moved to a block that is not final yet
            by_payment.setdefault(transfer.payment_id, []).append((transfer, canonical))
        try:
            settled = self._each_payment(by_payment, self._settle_in_order)
        except _OutOfTime:
            return done  # the rest stay unfinal: the next step or invocation settles them
        for transfer in settled:
            metrics.add_metric(
                "FinalizationLatencySeconds",
                MetricUnit.Seconds,
                max(ids.now() - transfer.seen_at, 0),
            )
            done += 1
        return done

    def _settle_in_order(self, items: list[tuple[Transfer, bool]]) -> list[Transfer]:
        settled = []
        for transfer, canonical in items:
            self._check_time()
            _settle(transfer, canonical)
            settled.append(transfer)
        return settled

    def _receipts(self, tx_hashes: set[str]) -> dict[str, dict[str, Any] | None]:
        """Every receipt at once, 100 per JSON-RPC batch (issue 16 §2: finality work
        grows with transfers per block, not round trips). Empty when the batch fails:
        each transfer then asks for its own, as before."""
        if len(tx_hashes) < 2:
            return {}
        ordered = sorted(tx_hashes)
        try:
            answers = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in ordered])
        except RpcError as exc:
            logger.warning("batched receipts failed; one by one", extra={"error": str(exc)})
            return {}
        return {
            h: a if isinstance(a, dict) else None for h, a in zip(ordered, answers, strict=True)
        }

    def _still_on_chain(
        self,
        transfer: Transfer,
        finalized: int,
        receipts: dict[str, dict[str, Any] | None] | None = None,
    ) -> bool | None:
        if receipts is not None and transfer.tx_hash in receipts:
            receipt = receipts[transfer.tx_hash]
        else:
            receipt = self.rpc.receipt(transfer.tx_hash)
        if receipt is None:
            return None if self._block_still_there(transfer) else False
        if int(receipt.get("status", "0x0"), 16) != 1:
            return False
        if int(receipt["blockNumber"], 16) > finalized:
            return None
        for raw in receipt.get("logs", []):
            log = decode(raw)
            if (
                log is not None
                and self.tokens.get(log.token) == transfer.currency
                and log.log_index == transfer.log_index
                and log.to_address == transfer.to_address
                and log.value == transfer.amount
            ):
                return True
        return False

    def _run_rescans(self, cursor: int, report: ScanReport) -> None:
        """Admin-requested rescans while caught up, one chunk per step so a long range
        never starves following the head; progress is saved after every chunk.
        Recording is idempotent, so a rescan only adds what was missed. Blocks above
        the cursor are left to the normal scan; the cursor itself never moves here."""
        queued = system_repo.pending_rescans()
        if not queued:
            return
        entry = queued[0]
        start, end = int(entry["from"]), min(int(entry["to"]), cursor)
        if start <= end:
            chunk_end = min(start + self.settings.max_blocks_per_query - 1, end)
            logs, _ = self.rpc.verified_logs(self._log_address(), TRANSFER_TOPIC, start, chunk_end)
            report.transfers_recorded += self._record(logs)
            if chunk_end < end:
                system_repo.advance_rescan(entry, chunk_end + 1)
                return
        system_repo.drop_rescan(entry)
        report.rescans += 1
        logger.info("rescan done", extra={"from": entry["from"], "to": entry["to"]})

    # -- fork detection ---------------------------------------------------------------

    def _check_fork(self, cursor: int, report: ScanReport) -> int:
        known = self._hashes.get(cursor)
        if known is None:
            return cursor
        current = self._block_hash(cursor)
        if current == known:
            return cursor
        # Rewind to the newest remembered block whose hash the node still agrees with.
        fork = max(cursor - HASH_WINDOW, 0)
        for number in sorted(self._hashes, reverse=True):
            if number > cursor:
                continue
            if self._block_hash(number) == self._hashes[number]:
                fork = number
                break
            del self._hashes[number]
        report.rewinds += 1
        logger.warning("reorg detected; rewinding", extra={"from": cursor, "to": fork})
        system_repo.advance_cursor(CURSOR, self.owner, fork, time.time(), self.settings.lease_s)
        self._unsaved_steps += 1  # the pruned hashes are saved with the next save
        self._reverse_orphans(fork)
        return fork

    def _reverse_orphans(self, fork: int) -> None:
        """Transfers seen above the fork whose transaction left the chain are reversed
        now (payment.reversed), not only once their block number turns final. One that
        was re-included stays pending and is judged again at finality."""
        for transfer in transfer_repo.unfinal_transfers():
            if transfer.block_number <= fork:
                continue
            receipt = self.rpc.receipt(transfer.tx_hash)
            if receipt is None:
                gone = not self._block_still_there(transfer)
            else:
                gone = int(receipt.get("status", "0x0"), 16) != 1
            if gone:
                _settle(transfer, canonical=False)
                logger.warning(
                    "transfer reversed by reorg",
                    extra={"payment_id": transfer.payment_id, "tx": transfer.tx_hash},
                )

    def _block_still_there(self, transfer: Transfer) -> bool:
        """Whether the node still has the transfer's block, or nothing at that height.
        A missing receipt alone proves nothing (a node that has not indexed or has
        pruned the transaction answers null too); another block at its height does."""
        block = self.rpc.block(transfer.block_number)
        return block is None or str(block.get("hash", "")).lower() == transfer.block_hash

    def _block_hash(self, number: int) -> str:
        block = self.rpc.block(number)
        if block is None:
            raise RuntimeError(f"node has no block {number} yet")
        return str(block["hash"]).lower()

    def _remember(self, number: int, block_hash: str) -> None:
        self._hashes[number] = block_hash
        for old in sorted(self._hashes)[:-HASH_WINDOW]:
            del self._hashes[old]

    def _load_hashes(self) -> None:
        # An older release kept them on the cursor item: the next save moves them to
        # their own item and shrinks the cursor back to one write unit.
        cursor = system_repo.get_system(CURSOR)
        self._legacy_hashes = bool(cursor is not None and cursor.data_json)
        item = system_repo.get_system(HASHES)
        if item is None or not item.data_json:
            item = cursor
        if item is None or not item.data_json:
            return
        data = json.loads(item.data_json)
        if "hashes" not in data:  # the first format held only the hashes
            data = {"hashes": data}
        self._hashes = {int(k): v for k, v in data["hashes"].items()}
        if data.get("finalized"):
            self._last_finalized, self._finalized_moved_at = data["finalized"]

    def _save_hashes(self) -> None:
        data = {
            "hashes": self._hashes,
            "finalized": [self._last_finalized, self._finalized_moved_at],
        }
        system_repo.save_beside_lease(
            CURSOR, self.owner, HASHES, json.dumps(data), drop_legacy=self._legacy_hashes
        )
        self._legacy_hashes = False
        self._unsaved_steps = 0

    def _start_block(self) -> int:
        configured = self.settings.start_block
        return configured if configured is not None else max(self.rpc.block_number() - 1, 0)
