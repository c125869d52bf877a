"""Scheduled money movements, run every minute by the expirer: merchant payouts on
their schedules, the hot-wallet cap (excess to the cold address), and re-sending
queued disbursements whose queue message was lost."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aws_lambda_powertools import Logger

from shared import config, ids, ledger
from shared.dal import disbursements as store
from shared.disbursements import fees, service
from shared.errors import BscpayError
from shared.models.domain import (
    Disbursement,
    DisbursementKind,
    DisbursementStatus,
    PayoutSchedule,
)

logger = Logger(child=True)

# Statuses whose money is still in the hot wallet but promised to someone.
IN_FLIGHT = (
    DisbursementStatus.PENDING_APPROVAL,
    DisbursementStatus.QUEUED,
    DisbursementStatus.PROCESSING,
)
# A queued disbursement whose message should have been handled by now, and one still
# processing after its message ran out of receives (settlement resumes it).
REQUEUE_AFTER_S = 180
# After an admin rejects a threshold payout, the schedule waits this long before
# proposing the next one.
REJECTED_PAUSE_S = 86_400
RESUME_AFTER_S = 900
SCAN_LIMIT = 500


@dataclass
class ScheduleReport:
    payouts: list[str] = field(default_factory=list)
    cold_move: str | None = None
    requeued: int = 0


def run(now: int | None = None) -> ScheduleReport:
    now = ids.now() if now is None else now
    report = ScheduleReport()
    _scheduled_payouts(now, report)
    report.cold_move = _hot_wallet_cap(now)
    report.requeued = _requeue_stale(now)
    return report


def _id(prefix: str, *parts: object) -> str:
    """Deterministic: the same schedule slot twice is the same disbursement."""
    return f"{prefix}_{hashlib.sha256('|'.join(map(str, parts)).encode()).hexdigest()[:32]}"


def _scheduled_payouts(now: int, report: ScheduleReport) -> None:
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.strftime("%Y-%m-%d")
    for profile in store.scheduled_profiles(PayoutSchedule.DAILY):
        if moment.hour < config.payouts().daily_hour_utc:
            continue
        # One daily payout per merchant, day and token; later funds wait for tomorrow.
        for symbol in config.chain().token_list():
            slot = (day,) if symbol == "USDT" else (day, symbol)  # USDT keeps its old ids
            _try_payout(profile.merchant_id, _id("po", profile.merchant_id, *slot), report, symbol)
    for profile in store.scheduled_profiles(PayoutSchedule.THRESHOLD):
        if profile.address_confirmed_by is None:
            continue  # request_payout would refuse it too; not worth a balance read
        if service.kyc_waiting(profile.merchant_id) is not None:
            continue  # KYC not verified (ADR 0021): request_payout would refuse it too
        available = ledger.default().merchant_balance(profile.merchant_id).available
        if profile.threshold is None or available < profile.threshold:
            continue
        latest, _ = store.list_for_merchant(profile.merchant_id, DisbursementKind.PAYOUT, 1, None)
        if (
            latest
            and latest[0].status is DisbursementStatus.REJECTED
            and (now - latest[0].updated_at < REJECTED_PAUSE_S)
        ):
            continue  # an admin refused the last one: do not ask again every minute
        # A fresh id: the ledger reservation (a conditional balance update) stops a
        # concurrent run from paying the same balance twice.
        _try_payout(profile.merchant_id, ids.new_id("po"), report)


def _try_payout(
    merchant_id: str, disbursement_id: str, report: ScheduleReport, currency: str = "USDT"
) -> None:
    try:
        d = service.request_payout(
            merchant_id, "schedule", disbursement_id=disbursement_id, currency=currency
        )
    except (BscpayError, ledger.InsufficientFunds) as exc:
        # Nothing worth paying (balance under the minimum after fees) or no address.
        logger.debug("no scheduled payout", extra={"merchant_id": merchant_id, "why": str(exc)})
        return
    report.payouts.append(d.disbursement_id)


def in_flight() -> list[Disbursement]:
    found: list[Disbursement] = []
    for status in IN_FLIGHT:
        found.extend(store.list_by_status(status, SCAN_LIMIT, None)[0])
    return found


def _hot_wallet_cap(now: int) -> str | None:
    """Move what the hot wallet holds above its cap, less what it owes to queued
    payouts and refunds, to the cold address. One cold move at a time."""
    settings = config.payouts()
    if not settings.cold_address:
        return None
    pending = in_flight()
    if any(d.kind is DisbursementKind.COLD_MOVE for d in pending):
        return None
    owed = sum(d.amount for d in pending)
    hot = ledger.default().holdings()["holdings:hot"]
    excess = hot - fees.units(settings.hot_wallet_cap) - owed
    if excess < fees.units(settings.minimum):
        return None
    hour = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H")
    d = service.request_cold_move(excess, "hot_wallet_cap", _id("cm", hour, excess))
    logger.info(
        "hot wallet over its cap",
        extra={"id": d.disbursement_id, "excess": excess, "status": d.status.value},
    )
    return d.disbursement_id


def _requeue_stale(now: int) -> int:
    count = 0
    for status, after_s in (
        (DisbursementStatus.QUEUED, REQUEUE_AFTER_S),
        (DisbursementStatus.PROCESSING, RESUME_AFTER_S),
    ):
        for d in store.list_by_status(status, SCAN_LIMIT, None)[0]:
            if now - d.updated_at >= after_s:
                service.enqueue(d, salt=str(now // after_s))
                count += 1
    return count
