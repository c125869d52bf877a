"""The settlement worker: one queue message = one sweep of a set of deposit addresses.

Broadcast safety (STYLE "SQS workers"): the sweep's record moves PENDING →
BROADCAST(tx hashes, signed raw txs) → CONFIRMED | FAILED with conditional updates,
and every signed transaction is recorded *before* it is sent (the hot wallet's together
with its nonce, taken from DynamoDB: shared.settlement.nonces). A redelivered message,
a duplicate trigger or a crash after broadcast finds the record and resumes from it
(re-sending the very same signed bytes at most, which the chain accepts once); it
never signs a new transaction for a sweep that already broadcast one. One writer per
wallet comes from the FIFO message group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from hexbytes import HexBytes
from web3 import Web3

from shared import config, ids, ledger
from shared.alerts import raise_alert
from shared.chain.logs import decode
from shared.dal import repo
from shared.settlement import custody
from shared.settlement.nonces import NonceAllocator, SweepNonces
from shared.settlement.sweeps import RefusedDeposit, SweepResult, Sweeps, SweepSettings

logger = Logger(child=True)
metrics = Metrics(namespace="bscpay")

RECEIPT_TIMEOUT_S = 60


@dataclass
class Outcome:
    sweep_id: str
    state: str
    amount: int = 0
    fee_wei: int = 0
    resumed: bool = False


def handle(message: dict[str, Any]) -> Outcome:
    sweep_id = str(message["sweep_id"])
    deposits: list[dict[str, Any]] = list(message["deposits"])
    repo.create_outgoing(sweep_id, "sweep", {"deposits": deposits}, ids.now())
    record = repo.get_outgoing(sweep_id)
    assert record is not None
    if record.state in ("CONFIRMED", "FAILED"):
        return Outcome(sweep_id, record.state, record.amount or 0, record.fee_wei or 0)
    w3 = Web3(Web3.HTTPProvider(config.chain().rpc_url_list()[0], request_kwargs={"timeout": 20}))
    swept: dict[str, int] = {}
    fee = 0
    resumed = record.state == "BROADCAST"
    if resumed:
        # A crash or redelivery after broadcast: settle what was already signed first.
        swept, fee = _resume(w3, record.raw_txs, record.tx_hashes, _addresses(deposits))
    # Whatever still holds tokens was not swept yet (e.g. the crash came between a gas
    # top-up and the token transfer): those recorded transactions are all mined now,
    # so signing the rest cannot send anything twice.
    remaining = [d for d in deposits if _token_balance(w3, str(d["address"])) > 0]
    if remaining:
        result = _sweep(w3, sweep_id, remaining)
        for s in result.swept:
            swept[s.address.lower()] = swept.get(s.address.lower(), 0) + s.amount
        fee += result.fee_wei
    return _finish(sweep_id, swept, fee, resumed=resumed)


def _addresses(deposits: list[dict[str, Any]]) -> set[str]:
    return {str(d["address"]).lower() for d in deposits}


def _token_balance(w3: Web3, address: str) -> int:
    data = "0x70a08231" + address.lower().removeprefix("0x").rjust(64, "0")  # balanceOf
    call = {"to": Web3.to_checksum_address(config.chain().token_address), "data": data}
    return int.from_bytes(w3.eth.call(call), "big")  # type: ignore[arg-type]


def _sweep(w3: Web3, sweep_id: str, deposits: list[dict[str, Any]]) -> SweepResult:
    keys = custody.load_keys(int(d["index"]) for d in deposits)
    settings = SweepSettings()
    sweeps = Sweeps(
        w3,
        token=config.chain().token_address,
        hot_wallet=keys.hot_wallet,
        gas=settings.gas_policy(),
        sweeper=settings.sweeper_address or None,
        on_refused=_alert_refused,
        # deposits' own transactions (naive path): recorded before they are sent
        on_broadcast=lambda tx_hash, raw: repo.outgoing_broadcast(
            sweep_id, str(tx_hash), HexBytes(raw).to_0x_hex(), ids.now()
        ),
        # the hot wallet's: nonce taken from DynamoDB in the same write (shared with
        # payouts, refunds and cold moves: shared.settlement.outbound)
        nonces=SweepNonces(NonceAllocator(w3, keys.hot_wallet.address), sweep_id),
    )
    signers = [keys.deposits[int(d["index"])] for d in deposits]
    if settings.sweeper_address and len(signers) > 1:
        result = sweeps.batched(signers)
    else:
        result = sweeps.naive(signers)
    # Gas money left on the hot wallet: alarmed in CDK before sweeps start failing.
    bnb = w3.eth.get_balance(keys.hot_wallet.address) / 10**18
    metrics.add_metric(name="HotWalletBnb", unit=MetricUnit.Count, value=bnb)
    return result


def _resume(
    w3: Web3, raw_txs: list[str], tx_hashes: list[str], deposits: set[str]
) -> tuple[dict[str, int], int]:
    """Finish a sweep whose transactions were signed (and maybe sent) before a crash."""
    token = config.chain().token_address.lower()
    swept: dict[str, int] = {}
    fee = 0
    for raw, tx_hash in zip(raw_txs, tx_hashes, strict=True):
        try:
            w3.eth.send_raw_transaction(HexBytes(raw))  # same bytes: a no-op if known
        except Exception as exc:  # "already known", "nonce too low": it was sent
            logger.info("resend skipped", extra={"tx": tx_hash, "reason": str(exc)[:120]})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)  # type: ignore[arg-type]
        fee += int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
        if receipt["status"] != 1:
            continue
        for raw_log in receipt["logs"]:
            log = decode(_as_json_log(raw_log))
            if log is not None and log.token == token and log.from_address in deposits:
                swept[log.from_address] = swept.get(log.from_address, 0) + log.value
    return swept, fee


def _as_json_log(log: Any) -> dict[str, Any]:
    return {
        "address": log["address"],
        "topics": [HexBytes(t).to_0x_hex() for t in log["topics"]],
        "data": HexBytes(log["data"]).to_0x_hex(),
        "transactionHash": HexBytes(log["transactionHash"]).to_0x_hex(),
        "logIndex": hex(log["logIndex"]),
        "blockNumber": hex(log["blockNumber"]),
        "blockHash": HexBytes(log["blockHash"]).to_0x_hex(),
    }


def _finish(sweep_id: str, swept: dict[str, int], fee_wei: int, resumed: bool = False) -> Outcome:
    total = sum(swept.values())
    if total > 0:
        try:
            ledger.default().sweep(total, gas_bnb=fee_wei, journal_id=sweep_id)
        except ledger.InsufficientFunds as exc:
            # Gas paid from BNB the ledger was not told about: record the USDT move
            # (it happened) and alert; the reconciler shows the BNB drift.
            raise_alert(
                "sweep_gas_not_in_ledger",
                "sweep gas not in the ledger",
                sweep_id=sweep_id,
                error=str(exc),
            )
            ledger.default().sweep(total, gas_bnb=0, journal_id=sweep_id)
        for address, amount in swept.items():
            repo.sweep_recorded(address, amount)
    repo.outgoing_finish(sweep_id, "CONFIRMED", ids.now(), amount=total, fee_wei=fee_wei)
    logger.info(
        "sweep confirmed",
        extra={"sweep_id": sweep_id, "amount": total, "fee_wei": fee_wei, "resumed": resumed},
    )
    return Outcome(sweep_id, "CONFIRMED", total, fee_wei, resumed)


def _alert_refused(refused: RefusedDeposit) -> None:
    raise_alert(
        "deposit_refused",
        "deposit delegated elsewhere",
        address=refused.address,
        reason=refused.reason,
        delegate=refused.delegate,
    )
