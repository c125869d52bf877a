"""The expirer's job, every minute: settle open payments whose time is up, relay the
outbox, hand due deposits to settlement and run the payout schedules."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from shared import ids
from shared.dal import payments as payment_repo
from shared.disbursements import schedule
from shared.events import outbox
from shared.payments import service
from shared.settlement import planner

logger = Logger(child=True)


@dataclass
class ExpiryReport:
    examined: int = 0
    settled: int = 0
    relayed: int = 0
    sweep_enqueued: str | None = None
    payouts: list[str] = field(default_factory=list)
    cold_move: str | None = None
    requeued: int = 0


def run(now: int | None = None) -> ExpiryReport:
    now = ids.now() if now is None else now
    report = ExpiryReport()
    for payment in payment_repo.open_payments_due(now):
        report.examined += 1
        before = payment.status
        after = service.expire_if_due(payment.payment_id, now)
        if after != before:
            report.settled += 1
            logger.info(
                "payment settled at expiry",
                extra={"payment_id": payment.payment_id, "status": str(after)},
            )
    report.relayed = outbox.relay(now)
    # Housekeeping on the same minute schedule: hand due deposits to settlement.
    report.sweep_enqueued = planner.enqueue_due()
    # ... and payouts on their schedules, the hot wallet's cap, lost queue messages.
    money = schedule.run(now)
    report.payouts, report.cold_move, report.requeued = (
        money.payouts,
        money.cold_move,
        money.requeued,
    )
    return report
