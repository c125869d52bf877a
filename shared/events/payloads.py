"""What an event carries in ``data``: ``{"object": <the object as the API shows it>}``.

Every payment event is built here, so a webhook body, the stored event and
``GET /v1/payments/{id}`` show the same object. The other kinds have one builder each
in the room that owns them: payouts and refunds ``shared/disbursements/service._event``
(their object needs the ledger, a room above this one), the settlement address change
``shared/disbursements/profiles``, test pings ``shared/webhooks/endpoints.send_test``.
"""

from __future__ import annotations

from typing import Any

from shared import config
from shared.models.domain import Payment, Transfer
from shared.models.objects import PaymentOut, TransactionOut


def payment_object(payment: Payment) -> dict[str, Any]:
    """The payment exactly as the merchant API shows it (amounts as decimal strings)."""
    return PaymentOut.of(payment, config.chain().token_decimals).to_json()


def transfer_object(transfer: Transfer) -> dict[str, Any]:
    """One transfer as the payment object lists it (``transactions[]``)."""
    return TransactionOut.of(transfer, config.chain().token_decimals).model_dump(by_alias=True)


def payment_data(payment: Payment) -> dict[str, Any]:
    """A payment event's ``data``."""
    return {"object": payment_object(payment)}
