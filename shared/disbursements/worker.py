"""Settlement's side of a disbursement: one queue message = send one USDT transfer from
the hot wallet, then book it.

The chain part (nonce, signing, broadcast, stuck-transaction replacement) is
``shared.settlement.outbound``, idempotent by the disbursement id: a redelivered or
duplicated message resumes the same transfer and never sends a second one. This module
re-checks what only the settlement function's configuration may decide (a cold move
goes to the allowlisted cold address, nowhere else) and records the outcome with its
ledger posting and event (``service.mark_paid`` / ``mark_failed``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from shared import config, ids, ledger
from shared.alerts import raise_alert
from shared.chain import evm
from shared.dal import outgoing
from shared.disbursements import service
from shared.models.domain import Disbursement, DisbursementKind, DisbursementStatus
from shared.models.ledger import Asset
from shared.settlement import custody, outbound
from shared.settlement.worker import Outcome

logger = Logger(child=True)

# Deposits swept moments from now may be what a payout needs: wait this long for the
# hot wallet to hold enough before letting the transfer fail (and the balance return).
LIQUIDITY_WAIT_S = 1800


def handle(
    message: dict[str, Any],
    *,
    settings: outbound.OutboundSettings | None = None,
    hooks: outbound.OutboundHooks | None = None,
) -> Disbursement | None:
    """Raise ``outbound.TransferStillPending`` while the transaction is not mined: the
    message comes back later and the transfer resumes. ``settings``: waiting and
    replacement of the transfer (default ``BSCPAY_OUTBOUND_*``); ``hooks``: its test
    seams (``outbound.OutboundHooks``)."""
    disbursement_id = str(message["disbursement_id"])
    try:
        d = service.get(disbursement_id)
    except service.NotFound:
        logger.error(
            "settlement message for an unknown disbursement", extra={"id": disbursement_id}
        )
        return None
    if d.status not in (DisbursementStatus.QUEUED, DisbursementStatus.PROCESSING):
        return d  # done already, or waiting for approval: nothing to send
    signed = _may_be_signed(d)
    refusal = _refusal(d, signed)
    if refusal is not None:
        raise_alert("disbursement_refused", refusal, id=d.disbursement_id)
        if signed:
            # A transfer checked earlier may be on its way: failing the record now would
            # return a reservation that is leaving too. Nothing new is signed; an
            # operator looks at it (the alert above).
            logger.error("refused transfer left as it is", extra={"id": d.disbursement_id})
            return d
        return service.mark_failed(d, refusal)
    if d.status is DisbursementStatus.QUEUED and d.merchant_id and service.suspended(d.merchant_id):
        # A suspended merchant's money waits (docs/adr/0019): the record stays queued and
        # the scheduler hands it to the queue again until the merchant is resumed.
        logger.warning("merchant suspended: disbursement waits", extra={"id": d.disbursement_id})
        return d
    if (
        d.status is DisbursementStatus.QUEUED
        and d.kind is DisbursementKind.PAYOUT
        and d.merchant_id
        and service.kyc_waiting(d.merchant_id) is not None
    ):
        # Payouts wait for a verified merchant (BSCPAY_PAYOUTS_REQUIRE_KYC, ADR 0021):
        # queued, handed to the queue again by the scheduler until KYC is verified.
        logger.warning("merchant KYC not verified: payout waits", extra={"id": d.disbursement_id})
        return d
    w3 = evm.client()  # every BSCPAY_RPC_URLS endpoint, with failover (docs/adr/0014)
    hot_wallet = custody.load_keys([]).hot_wallet
    token = config.chain().token(d.currency)
    if token is None:
        raise_alert(
            "disbursement_refused", f"{d.currency} is not accepted any more", id=d.disbursement_id
        )
        return d  # left for an operator: its reservation stays
    if d.status is DisbursementStatus.QUEUED:
        # What the chain holds and what the ledger knows the hot wallet holds: sending
        # more than the ledger knows would leave a transfer it cannot book. Less what
        # the transfers still in flight take (they do not wait for each other).
        held = min(
            evm.token_balance(w3, token.address, hot_wallet.address),
            ledger.default().holdings()[ledger.holding_name(ledger.hot_of(Asset(d.currency)))],
        ) - service.in_flight(d.currency, d.disbursement_id)
        if held < d.amount:
            # Counted from when it became queued (approval can come much later).
            if ids.now() - d.updated_at < LIQUIDITY_WAIT_S:
                # Leave it queued and let this message go: retrying it here would block
                # the hot-wallet FIFO group, and with it the very sweeps it waits for.
                # The scheduler hands queued records to the queue again every few minutes.
                logger.info("waiting for sweeps", extra={"id": d.disbursement_id, "held": held})
                return d
            # Never send what the ledger cannot book: fail, and the reservation returns.
            return service.mark_failed(d, "the hot wallet held less than the transfer")
        d = service.mark_processing(d)
    outcome = outbound.send_token(
        w3,
        hot_wallet,
        d.disbursement_id,
        d.destination,
        d.amount,
        token=token.address,
        gas=evm.gas_policy(),
        kind=d.kind.value,
        settings=settings,
        hooks=hooks,
    )
    if outcome.state == "CONFIRMED":
        assert outcome.tx_hash is not None
        return service.mark_paid(d, outcome.tx_hash, outcome.fee_wei)
    return service.mark_failed(d, outcome.error or "the transfer failed", outcome.fee_wei)


def release_after_sweep(swept: Outcome) -> int:
    """A sweep booked USDT into the hot wallet: hand the queued disbursements to the
    queue again at once, oldest first, so one waiting for liquidity is sent now rather
    than on the scheduler's requeue minutes later. Any other queued one just gets a
    second message, which settlement handles as the redelivery it tolerates anyway."""
    if swept.state != "CONFIRMED" or swept.amount <= 0:
        return 0
    queued, _ = service.list_by_status(DisbursementStatus.QUEUED, 100, None)
    for d in reversed(queued):
        service.enqueue(d, salt=f"after-sweep:{swept.record_id}")
    if queued:
        logger.info("queued transfers released by a sweep", extra={"count": len(queued)})
    return len(queued)


def _may_be_signed(d: Disbursement) -> bool:
    """Whether a transaction for ``d`` may exist: its transfer record got past PENDING."""
    if d.status is not DisbursementStatus.PROCESSING:
        return False
    record = outgoing.get_transfer(d.disbursement_id)
    return record is not None and (record.state != "PENDING" or bool(record.attempts))


def _refusal(d: Disbursement, signed: bool = False) -> str | None:
    """Why settlement refuses to send this, from its own configuration. ``signed``: a
    transfer for it may exist already (see :func:`_may_be_signed`)."""
    if d.kind is DisbursementKind.COLD_MOVE:
        cold = config.payouts().cold_address
        if not cold or d.destination.lower() != cold.lower():
            return "a cold move may only go to the configured cold address"
    if d.amount <= 0 or d.amount != d.gross - d.fee - d.network_fee:
        return "amounts do not add up"
    if d.kind is not DisbursementKind.COLD_MOVE:
        # What is sent must be what the ledger reserved (and will book as sent).
        reserved = ledger.default().journal(d.disbursement_id)
        terms = reserved.payout if reserved else None
        if terms is None or terms.net != d.amount or terms.merchant_id != d.merchant_id:
            return "the record does not match its ledger reservation"
        if terms.destination is None and signed:
            # Reserved before destinations were, and signed then: outbound resumes only
            # the very transfer it recorded (any other address is a TransferMismatch).
            return None
        if terms.destination is None or terms.destination != d.destination.lower():
            # The record was changed after the funds were reserved (or predates
            # reserved destinations): never sign a transfer to an address nobody approved.
            return "the destination does not match the one reserved in the ledger"
    return None
