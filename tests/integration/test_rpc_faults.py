"""The scanner behind misbehaving RPC endpoints (DESIGN §4): a fault-injecting proxy
in front of anvil lags, errors, answers nothing, or refuses wide log ranges, and no
payment is ever skipped, missed or reversed because of it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from shared.chain.rpc import JsonRpc, RpcError
from shared.jobs.scanner import Scanner, ScanReport
from shared.local import chain
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    create_payment,
    cursor,
    get_payment,
    make_final,
    pay,
    scan,
)
from tests.support.rpc_proxy import ANY_METHOD, Fault, RpcProxy

# ---- RpcError.is_range_error: what providers say when a range is too wide ----------------

ALCHEMY_LIMIT = (
    "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block "
    "range and no limit on the response size, or you can make eth_getLogs requests with "
    "any block range and a cap of 10K logs in the response."
)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (-32005, "query returned more than 10000 results"),  # Infura, geth
        (-32005, "query exceeds max block range 1000"),
        (-32000, "exceed maximum block range: 5000"),  # BSC public nodes
        (-32602, ALCHEMY_LIMIT),
        (-32614, "eth_getLogs is limited to a 10,000 range"),  # QuickNode
        (-32600, "block range is too wide"),  # Ankr
        (-32000, "Block range limit exceeded."),  # Chainstack
        (-32062, "Block range is too large"),
        (None, "query timeout exceeded, too many logs in range"),
    ],
)
def test_provider_range_limit_answers_are_range_errors(code: int | None, message: str) -> None:
    assert RpcError(message, code).is_range_error


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (3, "execution reverted"),
        (-32000, "header not found"),
        (-32000, "missing trie node 4f3a... (path )"),
        (-32601, "the method eth_getLogs does not exist/is not available"),
        (-32602, "invalid argument 0: hex string without 0x prefix"),
        (-32603, "internal error"),
        (None, "all RPC endpoints failed for eth_blockNumber: connection refused"),
    ],
)
def test_other_provider_errors_are_not_range_errors(code: int | None, message: str) -> None:
    assert not RpcError(message, code).is_range_error


# ---- fixtures and chores ---------------------------------------------------------------------


@pytest.fixture
def proxy(stack: LocalStack) -> Iterator[RpcProxy]:
    """A well-behaved proxy in front of the session's anvil until a test breaks it."""
    with RpcProxy(stack.info["rpc_url"]) as started:
        yield started


def scan_via(*urls: str, iterations: int = 1) -> ScanReport:
    """Exactly ``iterations`` iterations of the real scanner over these endpoints."""
    budget = iter([60_000] * iterations)
    return Scanner(rpc=JsonRpc(list(urls))).run(lambda: next(budget, 0))


def head(stack: LocalStack) -> int:
    return int(chain.rpc_call(stack.info["rpc_url"], "eth_blockNumber"), 16)


def status_of(merchant: MerchantCreds, payment: dict[str, str]) -> tuple[str, str, str]:
    seen = get_payment(merchant, payment["id"])
    return seen["status"], seen["amount_pending"], seen["amount_received"]


def caught_up() -> int:
    """Catch the shared cursor up with the chain over the healthy endpoint; the cursor."""
    at = scan().cursor
    assert at is not None
    return at


# ---- lag -------------------------------------------------------------------------------------


def test_log_index_lagging_first_endpoint_falls_over_and_skips_nothing(
    stack: LocalStack, merchant: MerchantCreds, proxy: RpcProxy
) -> None:
    # Given a first endpoint whose head is fresh but whose blocks and logs trail by 3 blocks
    start = caught_up()
    payment = create_payment(merchant, "3")
    pay(stack, payment["address"], 3 * USDT)  # block start + 1: inside the lag window
    chain.mine(stack.info["rpc_url"], 2)
    proxy.lag(3, head=False)

    # When the scanner runs with it first and a healthy endpoint second
    report = scan_via(proxy.url, stack.info["rpc_url"])

    # Then the lagging endpoint was consulted and found not to have the range (it lacks
    # the range's last block), so its answer was never trusted: the range came from the
    # healthy endpoint, with the payment in it (final by now)
    assert proxy.requests["eth_getBlockByNumber"] >= 1
    assert status_of(merchant, payment) == ("paid", "0", "3")
    assert report.cursor == report.head == start + 3 == cursor()


def test_only_a_lagging_endpoint_never_moves_the_cursor_past_what_it_answered(
    stack: LocalStack, merchant: MerchantCreds, proxy: RpcProxy
) -> None:
    # Given a payment 3 blocks above the cursor, and a single endpoint 3 blocks behind
    start = caught_up()
    chain.mine(stack.info["rpc_url"], 2)
    payment = create_payment(merchant, "2")
    pay(stack, payment["address"], 2 * USDT)  # block start + 3
    chain.mine(stack.info["rpc_url"], 2)  # head start + 5, lagging head start + 2
    proxy.lag(3)

    # When the scanner runs on that endpoint alone
    report = scan_via(proxy.url)

    # Then it scans up to the head that endpoint knows, and not one block further
    assert report.cursor == cursor() == start + 2
    assert status_of(merchant, payment) == ("pending", "0", "0")

    # When the endpoint's head is fresh but its logs still trail behind
    proxy.lag(3, head=False)
    stalled = scan_via(proxy.url)

    # Then every step fails and is retried, and the cursor stays where it was
    assert stalled.errors and all("no endpoint answered logs" in e for e in stalled.errors)
    assert cursor() == start + 2

    # And once the endpoint has caught up, the payment in that window is credited
    proxy.heal()
    report = scan_via(proxy.url)
    assert report.cursor == start + 5
    assert status_of(merchant, payment) == ("paid", "0", "2")


def test_first_endpoint_lagging_behind_the_cursor_neither_crashes_nor_rewinds(
    stack: LocalStack, merchant: MerchantCreds, proxy: RpcProxy
) -> None:
    # Given a cursor the healthy endpoint moved to, and a first endpoint 3 blocks behind it
    payment = create_payment(merchant, "1")
    pay(stack, payment["address"], USDT)
    start = caught_up()
    assert status_of(merchant, payment) == ("confirming", "1", "0")
    proxy.lag(3)

    # When the scanner runs with the lagging endpoint first
    report = scan_via(proxy.url, stack.info["rpc_url"])

    # Then it waits: no rewind, no reversal, the cursor stays
    assert report.rewinds == 0
    assert cursor() == start
    assert status_of(merchant, payment) == ("confirming", "1", "0")

    # And once the endpoint caught up, the payment finalizes as usual
    proxy.heal()
    make_final(stack)
    scan_via(proxy.url, stack.info["rpc_url"])
    assert status_of(merchant, payment) == ("paid", "0", "1")


# ---- range limits ----------------------------------------------------------------------------


def test_range_limited_endpoint_gets_split_ranges_and_nothing_is_missed(
    stack: LocalStack, merchant: MerchantCreds, proxy: RpcProxy
) -> None:
    # Given three payments spread over 9 new blocks, and an endpoint serving 2 blocks at most
    start = caught_up()
    payments = [create_payment(merchant, "5") for _ in range(3)]
    for payment in payments:
        pay(stack, payment["address"], 5 * USDT)
        chain.mine(stack.info["rpc_url"], 2)
    end = head(stack)
    assert end == start + 9
    proxy.max_log_range(2)

    # When the scanner reads the whole range from it
    report = scan_via(proxy.url, stack.info["rpc_url"])

    # Then the endpoint refused the wide range, and the halves it answered cover every
    # block exactly once, none wider than its limit
    refused = [q for q in proxy.log_queries if q.refused]
    answered = sorted((q for q in proxy.log_queries if not q.refused), key=lambda q: q.from_block)
    assert refused and refused[0].width == 9
    assert all(q.width <= 2 for q in answered)
    covered = [n for q in answered for n in range(q.from_block, q.to_block + 1)]
    assert covered == list(range(start + 1, end + 1))

    # And every payment was credited (each block is final by now), the cursor at the end
    assert [status_of(merchant, p) for p in payments] == [("paid", "0", "5")] * 3
    assert report.cursor == cursor() == end


# ---- errors and empty answers ----------------------------------------------------------------


@pytest.mark.parametrize("fault", [Fault.HTTP_500, Fault.EMPTY_BODY, Fault.RPC_ERROR])
def test_failing_first_endpoint_fails_over_and_no_payment_is_missed(
    stack: LocalStack, merchant: MerchantCreds, proxy: RpcProxy, fault: Fault
) -> None:
    # Given a first endpoint that answers every call with an error or nothing at all
    start = caught_up()
    payment = create_payment(merchant, "8")
    pay(stack, payment["address"], 8 * USDT)
    proxy.fail(ANY_METHOD, fault)

    # When the scanner runs a few iterations with it first and a healthy endpoint second
    make_final(stack)
    report = scan_via(proxy.url, stack.info["rpc_url"], iterations=3)

    # Then it failed over once and stayed on the healthy endpoint
    assert sum(proxy.requests.values()) == 1, dict(proxy.requests)

    # And the payment was credited and finalized, the cursor at the head
    assert status_of(merchant, payment) == ("paid", "0", "8")
    assert report.cursor == cursor() == head(stack) == start + 5


@pytest.mark.parametrize("fault", [Fault.NULL, Fault.EMPTY_BODY, Fault.HTTP_500])
def test_first_endpoint_failing_log_queries_falls_over_per_range(
    stack: LocalStack, merchant: MerchantCreds, proxy: RpcProxy, fault: Fault
) -> None:
    # Given a first endpoint that answers everything but eth_getLogs
    caught_up()
    payment = create_payment(merchant, "9")
    pay(stack, payment["address"], 9 * USDT)
    proxy.fail("eth_getLogs", fault)

    # When the scanner runs with it first
    report = scan_via(proxy.url, stack.info["rpc_url"])

    # Then the range came from the healthy endpoint: nothing missed
    assert proxy.requests["eth_getLogs"] == 1
    assert status_of(merchant, payment) == ("confirming", "9", "0")
    assert report.cursor == cursor() == head(stack)


def test_endpoint_without_receipts_never_reverses_a_final_transfer(
    stack: LocalStack, merchant: MerchantCreds, proxy: RpcProxy
) -> None:
    # Given a confirming transfer whose block is now final
    payment = create_payment(merchant, "7")
    pay(stack, payment["address"], 7 * USDT)
    caught_up()
    make_final(stack)

    # When the first endpoint answers every receipt with null (not indexed, pruned, lying)
    proxy.fail("eth_getTransactionReceipt", Fault.NULL)
    scan_via(proxy.url, stack.info["rpc_url"])

    # Then the transfer is not reversed on that empty answer
    assert proxy.requests["eth_getTransactionReceipt"] >= 1
    assert status_of(merchant, payment) == ("confirming", "7", "0")

    # And once receipts are answered again, it is paid
    proxy.heal()
    scan_via(proxy.url, stack.info["rpc_url"])
    assert status_of(merchant, payment) == ("paid", "0", "7")


def test_breaker_stops_calls_to_a_failing_endpoint_until_its_reset_timeout(
    stack: LocalStack, proxy: RpcProxy
) -> None:
    # Given an endpoint answering HTTP 500, behind a breaker opening after 3 failures
    proxy.fail(ANY_METHOD, Fault.HTTP_500)
    rpc = JsonRpc([proxy.url], breaker_fail_max=3, breaker_reset_s=0.5)

    # When it is called 6 times
    for _ in range(6):
        with pytest.raises(RpcError, match="all RPC endpoints failed"):
            rpc.block_number()

    # Then only the first 3 calls reached it: the breaker is open
    assert proxy.requests["eth_blockNumber"] == 3
    assert rpc.endpoints[0].breaker.current_state == "open"

    # When the endpoint recovers and the reset timeout passes
    proxy.heal()
    time.sleep(0.6)

    # Then a trial call reaches it again, succeeds, and closes the breaker
    assert rpc.block_number() == head(stack)
    assert proxy.requests["eth_blockNumber"] == 4
    assert rpc.endpoints[0].breaker.current_state == "closed"
