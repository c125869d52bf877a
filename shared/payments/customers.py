"""Customer deposit addresses, "static wallets" (issue 14 §2, docs/adr/0029).

A merchant names its customer by its own ``reference`` ("user-42"); the customer gets a
permanent HD-derived address, the same one every time the reference is asked for. Every
final transfer of an accepted token to it is a *deposit*: credited to the merchant in
its currency (held, from a flagged sender), announced as ``deposit.received``. A seen
deposit that a reorg removes before finality is ``deposit.reversed`` (nothing was
credited yet: credits happen only at finality). The address is swept like a payment's,
but keeps its EIP-7702 delegation, so every sweep after the first costs steady-state gas.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from shared import config, ids
from shared.custody import addresses
from shared.dal import customers as store
from shared.errors import (
    ConcurrentConflict,
    ConcurrentUpdate,
    Conflict,
    FourEyes,
    InvalidState,
    NotFound,
    ValidationFailed,
)
from shared.ledger.service import credit_held_posting, credit_payment_posting, release_posting
from shared.models.amounts import format_amount
from shared.models.domain import Customer, Event, Transfer, TransferStatus
from shared.models.ledger import Asset
from shared.screening import screen

PREFIX = "cus"
REFERENCE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def is_customer(owner_id: str) -> bool:
    """Whether an address owner id (the scanner's lookup) is a customer's."""
    return owner_id.startswith(PREFIX + "_")


def deposit_id(transfer_id: str) -> str:
    """A stable public id for the deposit of one transfer (chain, tx hash, log index)."""
    return "dep_" + hashlib.sha256(transfer_id.encode()).hexdigest()[:24]


# ---- the merchant API ---------------------------------------------------------------


def create(merchant_id: str, reference: str, currency: str) -> tuple[Customer, bool]:
    """``(customer, created)``: the merchant's customer for ``reference``, new or the one
    it already has (then ``created`` is False)."""
    if not REFERENCE.fullmatch(reference):
        raise ValidationFailed(
            "reference is 1-128 characters of letters, digits and . _ : @ / + = -", "reference"
        )
    token = config.chain().token(currency)
    if token is None:
        raise ValidationFailed(
            f"currency {currency!r} is not accepted; use one of "
            f"{', '.join(config.chain().token_list())}",
            "currency",
        )
    existing = store.by_reference(merchant_id, reference)
    if existing is None:
        index, address = addresses.allocate()
        customer = Customer(
            customer_id=ids.new_id(PREFIX),
            merchant_id=merchant_id,
            reference=reference,
            currency=token.symbol,
            address=address,
            derivation_index=index,
            created_at=ids.now(),
        )
        if store.insert_customer(customer):
            return customer, True
        # Another request created it first: that one is the customer.
        existing = store.by_reference(merchant_id, reference)
        if existing is None:
            raise ConcurrentUpdate(reference)
    if existing.currency != token.symbol:
        raise Conflict(
            f"customer {reference!r} exists with currency {existing.currency}", "currency"
        )
    return existing, False


def get(merchant_id: str, customer_id: str) -> Customer:
    customer = store.get_customer(customer_id) if ids.plausible(customer_id, PREFIX) else None
    if customer is None or customer.merchant_id != merchant_id:
        raise NotFound(f"no customer {customer_id!r}", "id")
    return customer


def list_for_merchant(
    merchant_id: str, limit: int, starting_after: str | None
) -> tuple[list[Customer], bool]:
    after = get(merchant_id, starting_after) if starting_after else None
    return store.list_customers(merchant_id, limit, after)


def deposits(merchant_id: str, customer_id: str) -> tuple[Customer, list[Transfer]]:
    customer = get(merchant_id, customer_id)
    return customer, store.deposits_of(customer_id)


def deposit_object(customer: Customer | None, t: Transfer) -> dict[str, Any]:
    decimals = config.chain().token_decimals
    return {
        "id": deposit_id(t.transfer_id),
        "object": "deposit",
        "customer": t.payment_id,
        "reference": customer.reference if customer else None,
        "amount": format_amount(t.amount, decimals),
        "currency": t.currency,
        "status": t.status.value,  # pending | final | reversed
        "sender": t.from_address,
        "address": t.to_address,
        "tx_hash": t.tx_hash,
        "log_index": t.log_index,
        "block_number": t.block_number,
        "seen_at": t.seen_at,
        "risk": {"level": t.risk_level, "source": t.risk_source or "none"}
        if t.risk_level
        else None,
        "held": t.hold == "held",
    }


def release_held(customer_id: str, deposit: str, actor_label: str) -> dict[str, Any]:
    """A finance user cleared a deposit from a flagged sender (docs/adr/0020): held ->
    available in its currency, ``deposit.released``. Whoever listed the sender may not
    release it (four eyes); a deposit not held answers 409."""
    customer = store.get_customer(customer_id) if ids.plausible(customer_id, PREFIX) else None
    if customer is None:
        raise NotFound(f"no customer {customer_id!r}", "customer_id")
    found = next(
        (t for t in store.deposits_of(customer_id) if deposit_id(t.transfer_id) == deposit),
        None,
    )
    if found is None:
        raise NotFound(f"no deposit {deposit!r} for customer {customer_id}", "deposit_id")
    if found.status is not TransferStatus.FINAL or found.hold != "held":
        raise InvalidState(f"deposit {deposit} is not held")
    if found.flagged_by and found.flagged_by == actor_label:
        raise FourEyes("held funds are released by someone other than who flagged the sender")
    released = found.model_copy(update={"hold": "released"})
    posting = release_posting(
        found.merchant_id,
        found.amount,
        f"{found.transfer_id}/release",
        int(time.time() * 1000),
        Asset(found.currency),
    )
    event = Event(
        event_id=ids.new_id("evt"),
        type="deposit.released",
        created=ids.now(),
        merchant_id=found.merchant_id,
        data={"object": deposit_object(customer, released)},
    )
    if not store.release_deposit(released, event, posting):
        raise ConcurrentConflict(f"deposit {deposit} changed while it was released; retry")
    return deposit_object(customer, released)


# ---- the scanner --------------------------------------------------------------------


def record(transfer: Transfer) -> bool:
    """A newly seen deposit (idempotent). A pending one seen in another block (a reorg
    re-included it) moves to that block; a reversed one the chain re-included is
    pending again, counted once."""
    if store.record_deposit(transfer):
        return True
    known = next(
        (
            t
            for t in store.deposits_of(transfer.payment_id)
            if t.transfer_id == transfer.transfer_id
        ),
        None,
    )
    if known is None or known.status is TransferStatus.FINAL:
        return False
    if known.status is TransferStatus.PENDING and known.block_hash == transfer.block_hash:
        return False
    return store.move_deposit(transfer, known.status)


def finalize(transfer: Transfer, canonical: bool) -> None:
    """Settle a pending deposit: final (credit, sweep due, ``deposit.received``) or
    reversed (``deposit.reversed``), once."""
    customer = store.get_customer(transfer.payment_id)
    current = transfer.model_copy()
    posting = None
    sweep = None
    if canonical:
        verdict = screen(transfer.from_address)
        current.status = TransferStatus.FINAL
        current.risk_level, current.risk_source = verdict.level, verdict.source
        credit = credit_held_posting if verdict.flagged else credit_payment_posting
        if verdict.flagged:
            current.hold, current.flagged_by = "held", verdict.flagged_by
        posting = credit(
            transfer.merchant_id,
            transfer.amount,
            transfer.transfer_id,
            int(time.time() * 1000),
            Asset(transfer.currency),
        )
        sweep = transfer.currency
    else:
        current.status = TransferStatus.REVERSED
    event = Event(
        event_id=ids.new_id("evt"),
        type="deposit.received" if canonical else "deposit.reversed",
        created=ids.now(),
        merchant_id=transfer.merchant_id,
        data={"object": deposit_object(customer, current)},
    )
    try:
        store.settle_deposit(current, event, posting, sweep)
    except ConcurrentUpdate:
        return  # another scanner pass settled it first
