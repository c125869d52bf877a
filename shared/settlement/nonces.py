"""Hot-wallet nonces allocated in DynamoDB (docs/adr/0012).

The node's ``pending`` count cannot allocate nonces: two writers (a sweep and a payout,
or a redelivered message next to a slow one) read the same count and sign two different
transactions for one nonce, and a transaction that failed before being sent leaves the
count where a recorded one expects a gap. Here the next nonce lives in one item of the
``system`` table and is taken only in the DynamoDB transaction that records the signed
transaction using it (:mod:`shared.dal.outgoing`): the condition "the item still holds
N" makes the second writer lose, and nothing is taken for a transaction never signed.

When the chain's ``latest`` count is above the stored value (first use, or someone sent
from the wallet outside bscpay), allocation starts from the chain's value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from aws_lambda_powertools import Logger

from shared.chain.evm import Web3
from shared.dal import outgoing
from shared.dal.outgoing import NonceClaim, NonceTaken

logger = Logger(child=True)

T = TypeVar("T")

MAX_CLAIM_ATTEMPTS = 10

__all__ = ["NonceAllocator", "NonceClaim", "NonceStore", "NonceTaken"]


class NonceStore(Protocol):
    """Reads the stored next nonce (the write is part of each record's transaction)."""

    def stored_nonce(self, wallet: str) -> int | None: ...


class _DynamoNonces:
    def stored_nonce(self, wallet: str) -> int | None:
        return outgoing.stored_nonce(wallet)


class NonceAllocator:
    """Nonces for one wallet within one invocation (one writer at a time per wallet
    comes from the FIFO message group; the conditions make a second one harmless)."""

    def __init__(self, w3: Web3, wallet: str, store: NonceStore | None = None) -> None:
        self.w3 = w3
        self.wallet = Web3.to_checksum_address(wallet)
        self.store = store or _DynamoNonces()
        self._next: NonceClaim | None = None

    def claim(self) -> NonceClaim:
        """The nonce the next transaction should use (not taken until recorded)."""
        if self._next is None:
            stored = self.store.stored_nonce(self.wallet)
            chain = int(self.w3.eth.get_transaction_count(self.wallet, "latest"))
            if stored is not None and chain > stored:
                # Someone used the wallet outside bscpay: their nonces are gone for us.
                logger.warning(
                    "hot-wallet nonce moved outside bscpay",
                    extra={
                        "alert": "nonce_moved",
                        "wallet": self.wallet,
                        "stored": stored,
                        "chain": chain,
                    },
                )
            self._next = NonceClaim(self.wallet, max(stored or 0, chain), stored)
        return self._next

    def taken(self, claim: NonceClaim) -> None:
        """``claim`` was committed: the next one follows without reading again."""
        self._next = NonceClaim(claim.wallet, claim.nonce + 1, claim.nonce + 1, claim.name)

    def forget(self) -> None:
        self._next = None

    def allocate(self, sign_and_record: Callable[[NonceClaim], T]) -> T:
        """Call ``sign_and_record(claim)`` (sign with ``claim.nonce`` and commit the record
        together with the claim) until it commits; retried with a fresh claim when
        another writer took the nonce first (nothing was recorded or sent for the loser)."""
        for _ in range(MAX_CLAIM_ATTEMPTS):
            claim = self.claim()
            try:
                result = sign_and_record(claim)
            except NonceTaken:
                logger.info("nonce taken by another writer; retrying", extra={"nonce": claim.nonce})
                self.forget()
                continue
            self.taken(claim)
            return result
        raise NonceTaken(f"{self.wallet}: no nonce after {MAX_CLAIM_ATTEMPTS} attempts")
