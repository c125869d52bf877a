"""``GET /pay/{payment_id}/status``: what the hosted checkout page shows (issue 13).

Anyone holding the link may ask (payment ids are unguessable, shared/ids.py), so the
answer carries nothing merchant-private: no merchant id, order id, metadata, senders or
transaction hashes. Unknown and malformed ids are the same 404.
"""

from __future__ import annotations

import time

from shared import config, ids
from shared.checkout import ratelimit
from shared.dal import checkout as checkout_repo
from shared.dal import merchants as merchant_repo
from shared.dal import payments as payment_repo
from shared.errors import PaymentNotFound
from shared.models.amounts import format_amount
from shared.models.checkout import CheckoutOut, CheckoutPrice, Confirmations
from shared.models.domain import Payment, PaymentStatus, TransferStatus

_SETTLED = (PaymentStatus.PAID, PaymentStatus.OVERPAID)


def status(payment_id: str, client: str, now: float | None = None) -> CheckoutOut:
    """Count the request against the client's limit, then the payment's public status."""
    now = time.time() if now is None else now
    ratelimit.check(client, now)
    payment = payment_repo.get_payment(payment_id) if ids.plausible(payment_id, "pay") else None
    if payment is None:
        raise PaymentNotFound("no such payment", "payment_id")
    return view(payment, now)


def view(payment: Payment, now: float) -> CheckoutOut:
    decimals = config.chain().token_decimals
    merchant = merchant_repo.get_merchant(payment.merchant_id)
    seen = payment.amount_received + payment.amount_pending
    remaining = 0 if payment.status in _SETTLED else max(payment.amount - seen, 0)
    return CheckoutOut(
        id=payment.payment_id,
        merchant_name=merchant.name if merchant else "",
        status=payment.status.value,
        currency=payment.currency,
        amount=format_amount(payment.amount, decimals),
        amount_received=format_amount(seen, decimals),
        amount_remaining=format_amount(remaining, decimals),
        chain_id=payment.chain_id,
        token_address=payment.token_address,
        token_decimals=decimals,
        address=payment.address,
        amount_units=str(remaining),
        eip681=(
            f"ethereum:{payment.token_address}@{payment.chain_id}/transfer"
            f"?address={payment.address}&uint256={remaining}"
        ),
        confirmations=confirmations(payment),
        expires_at=payment.expires_at,
        created_at=payment.created_at,
        now=int(now),
        success_url=payment.success_url,
        cancel_url=payment.cancel_url,
        price=(
            CheckoutPrice(
                amount=payment.quote.price_amount,
                currency=payment.quote.price_currency,
                rate=payment.quote.rate,
            )
            if payment.quote
            else None
        ),
    )


def confirmations(payment: Payment) -> Confirmations | None:
    """Approximate progress of funds seen but not final: blocks the scanner has read on
    top of the newest such transfer, against what finality needs (the scanner's last
    gap between head and finalized block, else the fallback depth; plus any extra depth
    the risk tiers ask of this amount). None when nothing is waiting for finality."""
    pending = [t for t in payment.transactions if t.status == TransferStatus.PENDING]
    if not pending:
        return None
    chain = config.chain()
    progress = checkout_repo.scan_progress()
    newest = max(t.block_number for t in pending)
    if progress is not None and progress.finalized is not None:
        gap = max(progress.head - progress.finalized, 0)
    else:
        gap = chain.finality_fallback_depth
    required = gap + 1 + chain.extra_depth_for(sum(t.amount for t in pending))
    seen = max(progress.head - newest + 1, 0) if progress is not None else 0
    return Confirmations(seen=min(seen, required), required=required)
