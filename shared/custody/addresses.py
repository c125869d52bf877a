"""Deposit address allocation: an atomic counter, then xpub derivation."""

from __future__ import annotations

from functools import lru_cache

from shared.custody import hd
from shared.custody.setup import account_xpub_or_none
from shared.dal import system as system_repo

ADDRESS_COUNTER = "address_index"


@lru_cache(maxsize=1)
def _xpub() -> str:
    xpub = account_xpub_or_none()
    if xpub is None:
        raise RuntimeError("custody is not set up: run `python -m shared.custody.setup`")
    return xpub


def allocate() -> tuple[int, str]:
    """A fresh (index, address); concurrent callers never get the same index."""
    index = system_repo.next_counter(ADDRESS_COUNTER)
    return index, hd.deposit_address(_xpub(), index)
