"""(a) Matching throughput: raw eth_getLogs Transfer logs against 1,000,000 active addresses.

Fast path: ``shared.chain.logs.match_transfers`` (the scanner's own decode + token filter)
with the active set as its membership test. Naive path, same logs, same run: web3's
contract event API (``contract.events.Transfer().process_log``) per log, then the same
filters and set lookup. Both run pinned to one core, and must agree on the matches.
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from shared.chain.logs import TRANSFER_TOPIC, match_transfers

TOKEN = "0x55d398326f99059ff775485246999027b3197955"  # BSC-USD
# Every token a BSC mainnet deployment accepts (issue 14 §3): the scanner matches against
# all three at once, as in production.
TOKENS = frozenset(
    {
        TOKEN,
        "0x8ac76a51cc950d9822d68b83fe1ad97b32cd580d",  # USDC
        "0xc5f0f7b66764f6ec8c8dff7ba683102295e16409",  # FDUSD
    }
)
N_ADDRESSES = 1_000_000
N_FAST = 200_000
N_NAIVE = 8_000
MATCH_FRACTION = 0.01  # share of logs paying one of our addresses
LOGS_PER_BLOCK = 80
ROUNDS = 7
NAIVE_ROUNDS = 3


@dataclass
class MatchingResult:
    match_logs_per_s: float
    naive_logs_per_s: float
    fast_rounds_logs_per_s: list[float]
    naive_rounds_logs_per_s: list[float]
    n_logs: int
    n_naive_logs: int
    n_addresses: int
    matched_per_round: int
    cpu: int | None

    @property
    def speedup(self) -> float:
        return self.match_logs_per_s / self.naive_logs_per_s


@contextmanager
def one_core() -> Iterator[int | None]:
    """Pin this process to a single CPU for the measurement (Linux); restore afterwards."""
    if not hasattr(os, "sched_getaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    cpu = max(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def _word(address_hex40: str) -> str:
    return "0x" + "0" * 24 + address_hex40


def make_active(rng: random.Random, n: int) -> list[str]:
    return ["0x" + rng.randbytes(20).hex() for _ in range(n)]


def make_logs(
    rng: random.Random, n: int, active: list[str], match_fraction: float
) -> list[dict[str, Any]]:
    """Transfer logs shaped exactly as eth_getLogs returns them (lower-case hex strings)."""
    logs: list[dict[str, Any]] = []
    block, block_hash, tx_hash = 40_000_000, "", ""
    for i in range(n):
        if i % LOGS_PER_BLOCK == 0:
            block += 1
            block_hash = "0x" + rng.randbytes(32).hex()
        if i % 2 == 0:  # two transfers per transaction, as with router/exchange batches
            tx_hash = "0x" + rng.randbytes(32).hex()
        to = rng.choice(active)[2:] if rng.random() < match_fraction else rng.randbytes(20).hex()
        logs.append(
            {
                "address": TOKEN,
                "topics": [TRANSFER_TOPIC, _word(rng.randbytes(20).hex()), _word(to)],
                "data": "0x" + rng.randrange(1, 10**24).to_bytes(32, "big").hex(),
                "blockNumber": hex(block),
                "transactionHash": tx_hash,
                "transactionIndex": hex((i % LOGS_PER_BLOCK) // 2),
                "blockHash": block_hash,
                "logIndex": hex(i % LOGS_PER_BLOCK),
                "removed": False,
            }
        )
    return logs


def naive_match(
    event: Any, raw_logs: list[dict[str, Any]], token: str, active: set[str]
) -> list[dict[str, Any]]:
    """What a first version would do: web3 decodes every log, then filter and look up."""
    matched = []
    for raw in raw_logs:
        decoded = event.process_log(raw)
        args = decoded["args"]
        if (
            decoded["address"].lower() == token
            and args["value"] > 0
            and not raw.get("removed", False)
            and args["to"].lower() in active
        ):
            matched.append(decoded)
    return matched


def _timed(fn: Any) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run(progress: Any = print) -> MatchingResult:
    from web3 import Web3

    from shared.chain.artifacts import load_artifact

    rng = random.Random(8)
    t0 = time.perf_counter()
    active_list = make_active(rng, N_ADDRESSES)
    active = set(active_list)
    logs = make_logs(rng, N_FAST, active_list, MATCH_FRACTION)
    naive_logs = logs[:N_NAIVE]
    progress(
        f"  {N_ADDRESSES:,} active addresses and {N_FAST:,} logs generated "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    contract = Web3().eth.contract(
        address=Web3.to_checksum_address(TOKEN), abi=load_artifact("TetherToken")["abi"]
    )
    event = contract.events.Transfer()

    # Same answers first: the comparison is only fair if both find the same transfers.
    check = naive_logs[:3000]
    fast_found = [(t.tx_hash, t.log_index) for t in match_transfers(check, TOKENS, active)]
    naive_found = [
        (d["transactionHash"], int(d["logIndex"], 16))
        for d in naive_match(event, check, TOKEN, active)
    ]
    if fast_found != naive_found or not fast_found:
        raise RuntimeError("fast and naive matching disagree")

    with one_core() as cpu:
        fast_rates: list[float] = []
        matched = 0
        for _ in range(ROUNDS):
            seconds, found = _timed(lambda: match_transfers(logs, TOKENS, active))
            matched = len(found)
            fast_rates.append(len(logs) / seconds)
        progress(f"  fast path: {statistics.median(fast_rates):,.0f} logs/s (median of {ROUNDS})")
        naive_rates: list[float] = []
        for _ in range(NAIVE_ROUNDS):
            seconds, _found = _timed(lambda: naive_match(event, naive_logs, TOKEN, active))
            naive_rates.append(len(naive_logs) / seconds)
        progress(
            f"  naive web3 loop: {statistics.median(naive_rates):,.0f} logs/s "
            f"(median of {NAIVE_ROUNDS} x {N_NAIVE:,} logs)"
        )
    return MatchingResult(
        match_logs_per_s=statistics.median(fast_rates),
        naive_logs_per_s=statistics.median(naive_rates),
        fast_rounds_logs_per_s=fast_rates,
        naive_rounds_logs_per_s=naive_rates,
        n_logs=len(logs),
        n_naive_logs=len(naive_logs),
        n_addresses=len(active),
        matched_per_round=matched,
        cpu=cpu,
    )
