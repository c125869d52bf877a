"""A payout's or refund's destination is part of its ledger reservation (issue 11):
recorded lower-case, part of the posting's fingerprint (a replay to another address is
a conflict), stored and read back by the DynamoDB mapping unchanged."""

from __future__ import annotations

import pytest

from shared.dal import ledger_repo
from shared.ledger import InMemoryLedgerRepository, Ledger
from shared.models.ledger import InvalidPosting, JournalConflict, Kind

UNIT = 10**18
PAYER = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
OTHER = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"


@pytest.fixture
def book() -> Ledger:
    ledger = Ledger(InMemoryLedgerRepository(), clock=lambda: 1_700_000_000_000)
    ledger.credit_payment("mer_a", 100 * UNIT, "tr_1")
    return ledger


def test_the_reservation_records_its_destination_lower_case(book: Ledger) -> None:
    journal = book.payout("mer_a", 10 * UNIT, 0, UNIT, "po_1", destination=PAYER)
    assert journal.payout is not None and journal.payout.destination == PAYER.lower()
    stored = book.journal("po_1")
    assert stored is not None and stored.payout is not None
    assert stored.payout.destination == PAYER.lower()


def test_the_same_reservation_to_another_address_is_a_conflict(book: Ledger) -> None:
    book.payout("mer_a", 10 * UNIT, 0, UNIT, "po_1", destination=PAYER)
    assert book.payout("mer_a", 10 * UNIT, 0, UNIT, "po_1", destination=PAYER.lower()).replayed
    with pytest.raises(JournalConflict):
        book.payout("mer_a", 10 * UNIT, 0, UNIT, "po_1", destination=OTHER)


def test_a_reservation_without_destination_keeps_its_former_fingerprint(book: Ledger) -> None:
    without = book.reservation_posting("mer_a", 10 * UNIT, 0, UNIT, "po_2")
    with_it = book.reservation_posting("mer_a", 10 * UNIT, 0, UNIT, "po_2", destination=PAYER)
    assert without.payout is not None and without.payout.destination is None
    assert without.fingerprint != with_it.fingerprint


@pytest.mark.parametrize("bad", ["0x1234", "not an address", "0x" + "g" * 40, ""])
def test_a_malformed_destination_is_refused(book: Ledger, bad: str) -> None:
    with pytest.raises(InvalidPosting):
        book.reservation_posting("mer_a", 10 * UNIT, 0, UNIT, "po_3", destination=bad)


@pytest.mark.parametrize("destination", [PAYER, None])
def test_the_dynamodb_mapping_keeps_the_destination(book: Ledger, destination: str | None) -> None:
    posting = book.reservation_posting(
        "mer_a", 10 * UNIT, 0, UNIT, "re_1", Kind.REFUND, destination=destination
    )
    raw = ledger_repo._payout_json(posting.payout)
    assert raw is not None
    item = ledger_repo.lm.LedgerJournalModel(
        "re_1",
        kind=posting.kind.value,
        created_ms=posting.created_ms,
        fingerprint=posting.fingerprint,
        legs_json="[]",
        payout_json=raw,
    )
    assert ledger_repo._journal(item).payout == posting.payout
