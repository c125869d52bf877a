"""Deposit addresses: which payment an address belongs to, and what each one owes to
the next sweep."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, UpdateError

from shared.dal import models as m
from shared.dal._base import bind, is_condition_failure


def payment_for_address(address: str) -> tuple[str, str] | None:
    """(payment_id, merchant_id) for a deposit address, if it is ours."""
    bind()
    try:
        item = m.AddressModel.get(address.lower())
    except DoesNotExist:
        return None
    return item.payment_id, item.merchant_id


def payments_for_addresses(addresses: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Batch lookup (100 keys per BatchGetItem) of which addresses are ours."""
    bind()
    keys = list({a.lower() for a in addresses})
    found: dict[str, tuple[str, str]] = {}
    for item in m.AddressModel.batch_get(keys):
        found[item.address] = (item.payment_id, item.merchant_id)
    return found


@dataclass(frozen=True)
class DueDeposit:
    address: str
    derivation_index: int
    amount: int  # final units credited since the last sweep


def due_key(address: str, currency: str) -> str:
    """The item that counts ``currency`` due at ``address``: the address's own item for
    USDT, ``"<address>#<SYMBOL>"`` for another token (issue 14 §3). An address may hold
    several tokens at once (USDT sent to a USDC payment); each is swept on its own."""
    address = address.lower()
    return address if currency == "USDT" else f"{address}#{currency}"


def due_value(currency: str) -> str:
    """The sparse index's partition of ``currency``'s due deposits."""
    return "due" if currency == "USDT" else f"due#{currency}"


def due_deposits(limit: int, min_amount: int = 1, currency: str = "USDT") -> list[DueDeposit]:
    """Up to ``limit`` addresses owing at least ``min_amount`` of ``currency`` to the next
    sweep, largest first. The index is sorted by the amount due, so the query never
    reads the dust below ``min_amount`` (anyone can send it to any of our public
    addresses): it stays recorded, and becomes due once more funds at that address add
    up to the minimum."""
    bind()
    query = m.AddressModel.by_sweep_due.query(
        due_value(currency),
        range_key_condition=m.AddressModel.sweep_amount >= min_amount,
        scan_index_forward=False,
        limit=limit,
    )
    return [
        DueDeposit(i.address.split("#")[0], int(i.derivation_index), int(i.sweep_amount))
        for i in query
    ]


def sweep_recorded(address: str, amount: int, sweep_id: str, currency: str = "USDT") -> None:
    """``amount`` of ``currency`` left the address in sweep ``sweep_id`` (counted once per
    sweep); it is no longer due once nothing is left."""
    bind()
    item = m.AddressModel(due_key(address, currency))
    try:
        item.update(
            actions=[
                m.AddressModel.sweep_amount.add(-amount),
                m.AddressModel.swept_by.add({sweep_id}),
            ],
            condition=~m.AddressModel.swept_by.contains(sweep_id),
        )
    except UpdateError as exc:
        if not is_condition_failure(exc):
            raise  # otherwise this sweep was recorded already (a redelivery)
    try:
        item.update(
            actions=[m.AddressModel.sweep_due.remove()],
            condition=m.AddressModel.sweep_amount <= 0,
        )
    except UpdateError as exc:
        if not is_condition_failure(exc):
            raise  # otherwise more final funds arrived meanwhile: stays due
