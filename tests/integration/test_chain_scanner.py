"""The chain scanner against a real local chain (anvil, automine): USDT transfers to
deposit addresses move payments pending -> confirming -> paid (DESIGN §3, §4)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from shared.chain.rpc import JsonRpc
from shared.dal import system as system_repo
from shared.jobs.scanner import CURSOR, HASHES, Scanner
from shared.local import chain
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    block_of,
    create_payment,
    cursor,
    events_of_payment,
    get_payment,
    make_final,
    merchant_call,
    pay,
    rewind_cursor,
    scan,
    scan_with_handler,
)


@pytest.fixture(scope="module")
def router(stack: LocalStack) -> str:
    return chain.deploy_router(stack.info["rpc_url"])


@pytest.fixture(scope="module")
def fake_usdt(stack: LocalStack) -> str:
    """A second TetherToken: same name, symbol and decimals, another address."""
    rpc = stack.info["rpc_url"]
    fake = chain.deploy_token(rpc)
    chain.mint(rpc, fake, chain.DEPLOYER_PRIVATE_KEY, stack.info["customer"]["address"], 10**24)
    return fake


def test_usdt_transfer_is_confirming_then_paid_once_final(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a payment of 12.50 USDT
    payment = create_payment(merchant, "12.50")

    # When the customer sends exactly that and the scanner sees the block
    tx = pay(stack, payment["address"], 12_500_000_000_000_000_000)
    scan()
    seen = get_payment(merchant, payment["id"])

    # Then the funds are pending: confirming, not paid yet
    assert seen["status"] == "confirming"
    assert (seen["amount_pending"], seen["amount_received"]) == ("12.5", "0")
    [t] = seen["transactions"]
    assert t["tx_hash"] == tx.lower()
    assert t["block_number"] == block_of(stack, tx)
    assert t["from"] == stack.info["customer"]["address"].lower()
    assert (t["amount"], t["status"]) == ("12.5", "pending")

    # When the block becomes final and the scanner looks again
    make_final(stack)
    scan()
    paid = get_payment(merchant, payment["id"])

    # Then the payment is paid with the funds received
    assert paid["status"] == "paid"
    assert (paid["amount_received"], paid["amount_pending"]) == ("12.5", "0")
    assert paid["transactions"][0]["status"] == "final"

    # And each status change wrote an event carrying the payment as it was then
    events = events_of_payment(merchant.merchant_id, payment["id"])
    assert [e.type for e in events] == ["payment.confirming", "payment.paid"]
    assert all(e.event_id.startswith("evt_") for e in events)
    assert [e.data["object"]["status"] for e in events] == ["confirming", "paid"]
    assert [e.seq for e in events] == [1, 2]


def test_scanner_lambda_on_its_schedule_credits_a_final_payment(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a payment paid in a block that is already final
    payment = create_payment(merchant, "3")
    pay(stack, payment["address"], 3 * USDT)
    make_final(stack)
    head = chain.web3_for(stack.info["rpc_url"]).eth.block_number

    # When the scanner Lambda runs on its schedule with a short deadline
    started = time.monotonic()
    report = scan_with_handler(remaining_ms=2_500)

    # Then it stops at its deadline instead of looping for the ~50 s of a scheduled
    # run (the bound is generous: a busy machine may stretch one RPC round trip),
    # caught up, and the payment is paid
    assert time.monotonic() - started < 20
    assert report["lease_held_elsewhere"] is False
    assert report["transfers_recorded"] >= 1
    assert report["transfers_finalized"] >= 1
    assert report["cursor"] == report["head"] >= head
    assert get_payment(merchant, payment["id"])["status"] == "paid"


def test_scanning_the_same_blocks_twice_credits_once(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a transfer the scanner already recorded
    payment = create_payment(merchant, "5")
    tx = pay(stack, payment["address"], 5 * USDT)
    scan()
    assert get_payment(merchant, payment["id"])["amount_pending"] == "5"

    # When the cursor is rewound to before that block and the range is scanned again
    rewind_cursor(block_of(stack, tx) - 1)
    again = scan()

    # Then nothing new is recorded
    assert again.transfers_recorded == 0
    seen = get_payment(merchant, payment["id"])
    assert (seen["amount_pending"], len(seen["transactions"])) == ("5", 1)

    # And once final, the payment is paid, not overpaid
    make_final(stack)
    scan()
    rewind_cursor(block_of(stack, tx) - 1)
    scan()
    final = get_payment(merchant, payment["id"])
    assert (final["status"], final["amount_received"]) == ("paid", "5")
    assert len(final["transactions"]) == 1


def test_look_alike_token_transfer_is_never_credited(
    stack: LocalStack, merchant: MerchantCreds, fake_usdt: str
) -> None:
    # Given two payments, and a contract that calls itself "Tether USD"/"USDT" too
    fooled = create_payment(merchant, "10")
    control = create_payment(merchant, "10")
    token = chain.token_contract(stack.info["rpc_url"], fake_usdt)
    assert token.functions.symbol().call() == "USDT"

    # When the fake token pays one and real USDT pays the other, in the same scanned range
    pay(stack, fooled["address"], 10 * USDT, token=fake_usdt)
    pay(stack, control["address"], 10 * USDT)
    make_final(stack)
    scan()

    # Then only the real transfer counts
    assert get_payment(merchant, control["id"])["status"] == "paid"
    untouched = get_payment(merchant, fooled["id"])
    assert untouched["status"] == "pending"
    assert untouched["transactions"] == []
    assert events_of_payment(merchant.merchant_id, fooled["id"]) == []


def test_zero_value_transfer_is_ignored(stack: LocalStack, merchant: MerchantCreds) -> None:
    payment = create_payment(merchant, "1")
    pay(stack, payment["address"], 0)
    make_final(stack)
    scan()
    seen = get_payment(merchant, payment["id"])
    assert (seen["status"], seen["transactions"]) == ("pending", [])


def test_more_than_the_amount_is_overpaid(stack: LocalStack, merchant: MerchantCreds) -> None:
    # Given a payment of 10 USDT, When 15 arrive and become final
    payment = create_payment(merchant, "10")
    pay(stack, payment["address"], 15 * USDT)
    make_final(stack)
    scan()

    # Then it is overpaid, with the excess reported
    seen = get_payment(merchant, payment["id"])
    assert seen["status"] == "overpaid"
    assert (seen["amount_received"], seen["amount_excess"]) == ("15", "5")
    types = [e.type for e in events_of_payment(merchant.merchant_id, payment["id"])]
    assert types == ["payment.confirming", "payment.overpaid"]


def test_two_partial_transfers_add_up_to_paid(stack: LocalStack, merchant: MerchantCreds) -> None:
    payment = create_payment(merchant, "10")
    pay(stack, payment["address"], 4 * USDT)
    make_final(stack)
    scan()
    assert get_payment(merchant, payment["id"])["status"] == "confirming"

    pay(stack, payment["address"], 6 * USDT)
    make_final(stack)
    scan()

    seen = get_payment(merchant, payment["id"])
    assert (seen["status"], seen["amount_received"]) == ("paid", "10")
    assert len(seen["transactions"]) == 2


def test_payment_routed_through_the_payment_router_is_credited(
    stack: LocalStack, merchant: MerchantCreds, router: str
) -> None:
    # Given a wallet paying through a contract (the Transfer comes from the router)
    payment = create_payment(merchant, "7.5")
    chain.pay_via_router(
        stack.info["rpc_url"],
        router,
        stack.info["token_address"],
        stack.info["customer"]["private_key"],
        payment["address"],
        7_500_000_000_000_000_000,
    )

    # When final and scanned
    make_final(stack)
    scan()

    # Then it counts like a direct transfer
    seen = get_payment(merchant, payment["id"])
    assert (seen["status"], seen["amount_received"]) == ("paid", "7.5")
    assert seen["transactions"][0]["from"] == router.lower()


def test_funds_after_cancellation_are_recorded_as_late_funds(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a canceled payment
    payment = create_payment(merchant, "2")
    assert merchant_call(merchant, "POST", f"/v1/payments/{payment['id']}/cancel").status == 200

    # When the customer pays anyway
    pay(stack, payment["address"], 2 * USDT)
    make_final(stack)
    scan()

    # Then the funds are not lost: counted and announced, and the status stays canceled
    seen = get_payment(merchant, payment["id"])
    assert (seen["status"], seen["amount_received"]) == ("canceled", "2")
    types = [e.type for e in events_of_payment(merchant.merchant_id, payment["id"])]
    assert types == ["payment.canceled", "payment.late_funds"]


def test_a_second_scanner_backs_off_while_the_lease_is_held(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given another scanner invocation holding the cursor lease, and a fresh transfer
    payment = create_payment(merchant, "1")
    scan()  # catch up first, so only this test's block is outstanding
    before = cursor()
    pay(stack, payment["address"], USDT)
    system_repo.acquire_lease(CURSOR, "scanner-elsewhere", time.time(), 60)
    try:
        # When this invocation runs
        report = scan_with_handler(remaining_ms=2_500)
        direct = Scanner().run(lambda: 60_000)
    finally:
        system_repo.release_lease(CURSOR, "scanner-elsewhere")

    # Then it exits at once without scanning, recording or moving the cursor
    assert report["lease_held_elsewhere"] is True
    assert report["iterations"] == 0
    assert direct.lease_held_elsewhere
    assert cursor() == before
    assert get_payment(merchant, payment["id"])["status"] == "pending"

    # And once the lease is free, the next invocation picks the transfer up
    scan()
    assert get_payment(merchant, payment["id"])["status"] == "confirming"


def test_the_cursor_stays_one_small_item_and_the_hashes_live_beside_it(
    stack: LocalStack,
) -> None:
    """issue 16 §3: the cursor moves every block, so it must not carry the ~11 KB of
    block hashes; a cursor an older release wrote (hashes in its data_json) is migrated."""
    scan()
    chain.mine(stack.info["rpc_url"], 1)
    scan()  # the finalized block noted on the cursor is the one the step before saw
    cursor = system_repo.get_system(CURSOR)
    hashes = system_repo.get_system(HASHES)
    assert cursor is not None and hashes is not None
    assert cursor.data_json is None
    assert cursor.finalized is not None and cursor.finalized <= int(cursor.block)
    saved = json.loads(hashes.data_json or "{}")
    assert str(cursor.block) in saved["hashes"]

    # Given a cursor as an older release left it: the hashes on the cursor item
    owner = "scanner-legacy"
    system_repo.acquire_lease(CURSOR, owner, time.time(), 30)
    system_repo.save_lease_data(CURSOR, owner, hashes.data_json or "{}")
    system_repo.release_lease(CURSOR, owner)
    # When the scanner runs, the hashes move to their own item and the cursor shrinks
    chain.mine(stack.info["rpc_url"], 2)
    scan()
    migrated = system_repo.get_system(CURSOR)
    assert migrated is not None and migrated.data_json is None
    assert system_repo.get_system(HASHES) is not None


def test_finality_reads_the_receipts_of_many_transfers_in_one_batch(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 16 §2: one JSON-RPC batch for the receipts of every transfer turning final,
    not a round trip each."""
    scan()
    payments = [create_payment(merchant, "3") for _ in range(4)]
    for p in payments:
        pay(stack, p["address"], 3 * USDT)
    make_final(stack)  # one scanner step then records all four and finalizes them
    batches: list[int] = []
    real_batch = JsonRpc.batch

    def counted(self: JsonRpc, calls: Any, size: int = 100) -> list[Any]:
        if calls and calls[0][0] == "eth_getTransactionReceipt":
            batches.append(len(calls))
        return real_batch(self, calls, size)

    def single(self: JsonRpc, tx_hash: str) -> Any:
        raise AssertionError("a receipt was asked for on its own")

    monkeypatch.setattr(JsonRpc, "batch", counted)
    monkeypatch.setattr(JsonRpc, "receipt", single)
    scan()
    assert batches and max(batches) >= 4
    assert {get_payment(merchant, p["id"])["status"] for p in payments} == {"paid"}


def _available(merchant_id: str) -> int:
    from shared.dal.ledger_repo import DynamoLedgerRepository
    from shared.ledger import Ledger

    return Ledger(DynamoLedgerRepository()).merchant_balance(merchant_id).available


def test_many_payments_are_recorded_side_by_side_each_credited_once(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 16 §2: transfers to different payments are recorded and finalized by
    several workers; one payment's transfers stay in chain order."""
    from shared.payments import service

    scan()
    before = _available(merchant.merchant_id)
    payments = [create_payment(merchant, "2") for _ in range(12)]
    split = payments[0]
    pay(stack, split["address"], USDT)  # two halves, in two blocks: chain order matters
    pay(stack, split["address"], USDT)
    for p in payments[1:]:
        pay(stack, p["address"], 2 * USDT)
    make_final(stack)
    threads: set[int] = set()
    real_record = service.record_transfer

    def recorded_by(transfer: Any, known: Any = None) -> bool:
        threads.add(threading.get_ident())
        return real_record(transfer, known)

    monkeypatch.setattr(service, "record_transfer", recorded_by)
    from shared.dal import transfers as transfer_repo

    status_reads: list[str] = []
    real_status = transfer_repo.get_transfer_status

    def status_read(tid: str) -> Any:
        status_reads.append(tid)
        return real_status(tid)

    monkeypatch.setattr(transfer_repo, "get_transfer_status", status_read)
    report = scan()

    assert report.transfers_recorded == 13 and report.transfers_finalized == 13
    assert len(threads) > 1  # side by side, not one after another
    assert status_reads == []  # the step read what was recorded once, in a batch
    assert {get_payment(merchant, p["id"])["status"] for p in payments} == {"paid"}
    events = events_of_payment(merchant.merchant_id, split["id"])
    assert [e.type for e in events] == ["payment.confirming", "payment.paid"]
    # Every payment credited once (fees are taken at payout): 12 x 2 USDT
    assert _available(merchant.merchant_id) - before == 24 * USDT
    scan()  # and a second look changes nothing
    assert _available(merchant.merchant_id) - before == 24 * USDT


def test_a_deadline_mid_range_keeps_the_cursor_and_the_next_run_records_the_rest(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that runs into the deadline stops between transfers and does not move the
    cursor: the next invocation reads the range again and records only what is left."""
    from shared.payments import service

    scan()
    start = cursor()
    payments = [create_payment(merchant, "4") for _ in range(6)]
    for p in payments:
        pay(stack, p["address"], 4 * USDT)
    scanner = Scanner()
    scanner.settings = scanner.settings.model_copy(update={"workers": 1})
    calls: list[str] = []
    real_record = service.record_transfer

    def slow(transfer: Any, known: Any = None) -> bool:
        calls.append(transfer.payment_id)
        recorded = real_record(transfer, known)
        if len(calls) == 3:  # as if these three took the step to its deadline
            scanner._step_deadline = time.monotonic() - 1
        return recorded

    monkeypatch.setattr(service, "record_transfer", slow)
    report = scanner.run(lambda: 60_000 if not calls else 0)

    assert report.transfers_recorded == 0 and report.blocks_scanned == 0
    assert cursor() == start
    statuses = [get_payment(merchant, p["id"])["status"] for p in payments]
    assert statuses.count("confirming") == 3 and statuses.count("pending") == 3

    scan()
    for p in payments:
        seen = get_payment(merchant, p["id"])
        # (the earliest may be final already: automine puts each payment in its block)
        assert seen["status"] in ("confirming", "paid") and len(seen["transactions"]) == 1
    assert cursor() is not None and cursor() > start  # type: ignore[operator]
    make_final(stack)
    scan()
    assert {get_payment(merchant, p["id"])["status"] for p in payments} == {"paid"}
