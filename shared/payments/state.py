"""The payment state machine: pure functions, no I/O.

pending -> confirming -> paid | overpaid; expired/underpaid at expiry; canceled by
the merchant while nothing was received. Funds that arrive once a payment is
settled (paid, overpaid, underpaid, expired, canceled) never change its status;
they are recorded, counted and announced as ``payment.late_funds``.

A payment whose final funds came from a flagged sender is ``held`` (docs/adr/0020):
nothing changes that status until a finance user releases the funds (the status is
then computed from the one it had when they were held) or returns them.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.models.domain import PaymentStatus

SETTLED = frozenset(
    {
        PaymentStatus.PAID,
        PaymentStatus.OVERPAID,
        PaymentStatus.UNDERPAID,
        PaymentStatus.EXPIRED,
        PaymentStatus.CANCELED,
    }
)


@dataclass(frozen=True)
class Totals:
    received: int  # final funds
    pending: int  # seen, not yet final


def status_after_funds(
    current: PaymentStatus, amount: int, totals: Totals, tolerance: int = 0
) -> PaymentStatus:
    """The status once the totals changed (a transfer seen, finalized or reversed).

    ``tolerance`` (base units) is the merchant's accepted shortfall: final funds of at
    least ``amount - tolerance`` count as paid."""
    if current in SETTLED or current is PaymentStatus.HELD:
        return current
    if totals.received >= amount - tolerance:
        return PaymentStatus.OVERPAID if totals.received > amount else PaymentStatus.PAID
    if totals.received + totals.pending > 0:
        return PaymentStatus.CONFIRMING
    return PaymentStatus.PENDING


def status_at_expiry(
    current: PaymentStatus,
    amount: int,
    totals: Totals,
    now: int,
    expires_at: int,
    tolerance: int = 0,
) -> PaymentStatus:
    """What the expirer makes of an open payment. Funds still confirming keep it open."""
    if current not in (PaymentStatus.PENDING, PaymentStatus.CONFIRMING) or now < expires_at:
        return current
    if totals.pending > 0:
        return current  # wait: those funds were seen in time and may still finalize
    if totals.received == 0:
        return PaymentStatus.EXPIRED
    if totals.received < amount - tolerance:
        return PaymentStatus.UNDERPAID
    return status_after_funds(current, amount, totals, tolerance)


def event_type_for(status: PaymentStatus) -> str:
    return f"payment.{status.value}"


def can_cancel(current: PaymentStatus, totals: Totals) -> bool:
    return current == PaymentStatus.PENDING and totals.received == 0 and totals.pending == 0
