"""Event types: what the outbox writes and merchants subscribe to (DESIGN §3, docs/adr/0013).

Logic (``shared.payments``, ``shared.events``) and the API models both read them from here,
so the services never import ``shared.models.api``."""

from __future__ import annotations

from typing import Literal, get_args

PaymentEventType = Literal[
    "payment.confirming",
    "payment.paid",
    "payment.overpaid",
    "payment.underpaid",
    "payment.expired",
    "payment.canceled",
    "payment.late_funds",
    "payment.reversed",
    # AML screening (docs/adr/0020): funds from a flagged sender held, then released
    # to the merchant or returned to the sender.
    "payment.held",
    "payment.released",
    "payment.returned",
    # Another accepted token than the payment's arrived at its address (issue 14 §3):
    # credited in its own currency, never counted toward the payment.
    "payment.other_currency_received",
]
# Money leaving the merchant's balance (docs/adr/0013).
DisbursementEventType = Literal[
    "payout.created",
    "payout.paid",
    "payout.failed",
    "payout.rejected",
    "refund.created",
    "refund.paid",
    "refund.failed",
    "refund.rejected",
]
# The merchant's account: keys minted and approved, suspension (docs/adr/0019).
AccountEventType = Literal[
    "api_key.created",
    "api_key.approved",
    "merchant.suspended",
    "merchant.resumed",
    "merchant.kyc_updated",
]
# Customer deposit addresses (issue 14 §2): a final deposit credited, a seen one
# removed by a reorg before it was final, a held one (flagged sender) released.
DepositEventType = Literal["deposit.received", "deposit.reversed", "deposit.released"]
# One flat Literal, not a union of three: a wrong name is then one error that lists
# every accepted type, about the entry itself (param "events.0"), not one error per
# union member ("events.0.literal[...]").
SubscribableEventType = Literal[
    PaymentEventType,
    DisbursementEventType,
    AccountEventType,
    DepositEventType,
    "settlement.address_changed",
]
# What the event log can be filtered by: every event type and test pings.
EventType = Literal[SubscribableEventType, "ping"]
EVENT_TYPES: tuple[str, ...] = get_args(PaymentEventType)
SUBSCRIBABLE_EVENT_TYPES: tuple[str, ...] = (
    *EVENT_TYPES,
    *get_args(DisbursementEventType),
    *get_args(AccountEventType),
    *get_args(DepositEventType),
    "settlement.address_changed",
)
