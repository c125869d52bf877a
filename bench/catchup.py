"""(c) Catch-up: the real Scanner working through a backlog of blocks full of USDT Transfers.

A dedicated local stack (moto + anvil, no workers) with a fresh table prefix. The
configured USDT address gets the runtime code of bench/contracts/TransferBurst.sol
(``anvil_setCode``), so each backlog block holds one transaction whose 80 logs are real
``Transfer`` logs emitted by the token address: 80 random recipients, or 79 plus one
transfer to a real payment address. One transaction per block is enforced with a block
gas limit below two bursts (and a zero base fee so the limit keeps no upward pressure).
Then ``Scanner.run`` starts from a fresh cursor just below the backlog and is timed until
its cursor reaches the head. The time is also split into where it went.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.common import Rpc, load_bench_artifact

N_BLOCKS = 6_000
LOGS_PER_BLOCK = 80
N_PAYMENTS = 50
CHUNK = 100  # transactions sent (one JSON-RPC batch), then blocks mined, per round
PAID_UNITS = 10**18  # each payment is for 1 USDT and receives exactly that
_BURST_SIG = "burst(uint256,uint256,address[],uint256)"


@dataclass
class CatchupResult:
    catchup_blocks_per_s: float
    blocks: int
    logs: int
    logs_per_block: int
    payments_matched: int
    payments_paid: int
    scan_s: float
    build_s: float
    seconds_by_part: dict[str, float]
    calls_by_part: dict[str, int]
    max_blocks_per_query: int


class _Timings:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1

        return timed


@contextmanager
def _patched(obj: Any, name: str, timings: _Timings, label: str) -> Iterator[None]:
    original = getattr(obj, name)
    setattr(obj, name, timings.wrap(label, original))
    try:
        yield
    finally:
        setattr(obj, name, original)


def _burst_calldata(seed: int, n: int, pay_to: list[str]) -> str:
    from eth_abi import encode
    from web3 import Web3

    selector = Web3.keccak(text=_BURST_SIG)[:4]
    args = encode(["uint256", "uint256", "address[]", "uint256"], [seed, n, pay_to, PAID_UNITS])
    return "0x" + (selector + args).hex()


def build_backlog(rpc: Rpc, token: str, sender: str, pay_to: list[str], progress: Any) -> int:
    """Mine N_BLOCKS blocks of LOGS_PER_BLOCK Transfer logs each; returns the first one."""
    rpc.call("anvil_setCode", token, load_bench_artifact("TransferBurst")["deployedBytecode"])
    if int(rpc.call("eth_call", {"to": token, "data": "0x313ce567"}, "latest"), 16) != 18:
        raise RuntimeError("TransferBurst at the token address does not answer decimals()")
    gas = int(
        rpc.call(
            "eth_estimateGas",
            {"from": sender, "to": token, "data": _burst_calldata(1, LOGS_PER_BLOCK - 1, [token])},
        ),
        16,
    )
    rpc.call("evm_setAutomine", False)
    rpc.call("anvil_setNextBlockBaseFeePerGas", "0x0")
    rpc.call("evm_setBlockGasLimit", hex(gas * 16 // 10))  # room for one burst, never two
    rpc.call("evm_mine")
    first = int(rpc.call("eth_blockNumber"), 16) + 1
    nonce = int(rpc.call("eth_getTransactionCount", sender, "latest"), 16)
    rng = random.Random(80)
    paying_blocks = dict(
        zip(rng.sample(range(N_BLOCKS - 4), len(pay_to)), pay_to, strict=True)
    )  # not in the last few blocks, so every payment is final when the scan ends
    started = time.monotonic()
    for offset in range(0, N_BLOCKS, CHUNK):
        calls: list[tuple[str, list[Any]]] = []
        for k in range(offset, min(offset + CHUNK, N_BLOCKS)):
            payee = [paying_blocks[k]] if k in paying_blocks else []
            tx = {
                "from": sender,
                "to": token,
                "data": _burst_calldata(k, LOGS_PER_BLOCK - len(payee), payee),
                "gas": hex(gas * 11 // 10),
                "nonce": hex(nonce + k),
                "maxFeePerGas": hex(10**9),
                "maxPriorityFeePerGas": "0x0",
            }
            calls.append(("eth_sendTransaction", [tx]))
        rpc.batch(calls)
        rpc.call("anvil_mine", hex(len(calls)))
        if (offset + CHUNK) % 1000 == 0:
            progress(
                f"  backlog: {offset + CHUNK:,}/{N_BLOCKS:,} blocks "
                f"({time.monotonic() - started:.0f} s)"
            )
    last = first + N_BLOCKS - 1
    if int(rpc.call("eth_getTransactionCount", sender, "latest"), 16) != nonce + N_BLOCKS:
        raise RuntimeError("not every burst transaction was mined")
    for number in (first, last):
        block = rpc.call("eth_getBlockByNumber", hex(number), False)
        if len(block["transactions"]) != 1:
            raise RuntimeError(f"block {number} holds {len(block['transactions'])} transactions")
    rpc.call("anvil_mine", hex(4))  # the backlog's last blocks become final
    return first


def run(progress: Any = print) -> CatchupResult:
    import os

    from shared import config
    from shared.dal import addresses as address_repo
    from shared.dal import payments as payment_repo
    from shared.jobs import scanner as scanner_module
    from shared.local import chain
    from shared.local.stack import LocalStack, StackConfig
    from shared.models.amounts import parse_amount
    from shared.payments import service

    cfg = StackConfig(
        api_port=chain.free_port(),
        rpc_port=chain.free_port(),
        aws_port=chain.free_port(),
        block_time=None,  # blocks only when the bench mines them
        prefix="bscpay-bench-catchup",
        state_file=None,
        serve_api=False,
        run_workers=False,
        # Prague's EIP-2935 block-hash history makes anvil 1.7's per-block cost grow with
        # the chain (10,000 blocks: ~4 min); Cancun mines them in seconds. The logs, and so
        # the scanner's work, are the same either way.
        anvil_args=("--hardfork", "cancun"),
    )
    stack = LocalStack(cfg).start()
    rpc = Rpc(stack.info["rpc_url"], timeout=600)
    try:
        info = stack.info
        token = info["token_address"].lower()
        one = service.NewPayment(amount=parse_amount("1", config.chain().token_decimals))
        payments = [service.create(info["merchant"]["id"], one) for _ in range(N_PAYMENTS)]
        build_started = time.monotonic()
        first = build_backlog(
            rpc,
            token,
            chain.DEPLOYER_ADDRESS,
            [chain.web3_for(info["rpc_url"]).to_checksum_address(p.address) for p in payments],
            progress,
        )
        build_s = time.monotonic() - build_started
        target = int(rpc.call("eth_blockNumber"), 16)
        progress(
            f"  backlog of {N_BLOCKS:,} blocks x {LOGS_PER_BLOCK} logs built in {build_s:.0f} s; "
            "scanning"
        )

        os.environ["BSCPAY_SCANNER_START_BLOCK"] = str(first - 1)
        config.reset()

        class UntilHead(scanner_module.Scanner):
            reached = first - 1

            def __init__(self) -> None:
                super().__init__()
                # USDT's address now holds the bench's log emitter (no symbol()): the
                # tokens were checked when the stack started; the chain id still is.
                self._checked = True

            def _step(self, cursor: int, report: Any) -> tuple[int, bool]:
                cursor, progressed = super()._step(cursor, report)
                self.reached = cursor
                return cursor, progressed

        scanner = UntilHead()
        timings = _Timings()
        scanner.rpc.verified_logs = timings.wrap(  # type: ignore[method-assign]
            "rpc eth_getLogs + JSON parse", scanner.rpc.verified_logs
        )
        with (
            _patched(scanner_module, "match_transfers", timings, "decode + match (CPU)"),
            _patched(address_repo, "payments_for_addresses", timings, "DynamoDB address lookups"),
            _patched(service, "record_transfer", timings, "record matched transfers"),
            _patched(UntilHead, "_finalize", timings, "finalize (receipts + DB)"),
        ):
            started = time.perf_counter()
            report = scanner.run(lambda: 0 if scanner.reached >= target else 3_600_000)
            scan_s = time.perf_counter() - started
        blocks = target - (first - 1)
        paid = sum(
            1
            for p in payments
            if (got := payment_repo.get_payment(p.payment_id, with_transfers=False)) is not None
            and got.status.value == "paid"
        )
        if paid != len(payments):
            progress(f"  WARNING: only {paid} of {len(payments)} backlog payments are paid")
        seconds = dict(timings.seconds)
        seconds["other (cursor, lease, fork check)"] = max(scan_s - sum(seconds.values()), 0.0)
        return CatchupResult(
            catchup_blocks_per_s=blocks / scan_s,
            blocks=blocks,
            logs=N_BLOCKS * LOGS_PER_BLOCK,
            logs_per_block=LOGS_PER_BLOCK,
            payments_matched=report.transfers_recorded,
            payments_paid=paid,
            scan_s=scan_s,
            build_s=build_s,
            seconds_by_part={k: round(v, 3) for k, v in seconds.items()},
            calls_by_part=dict(timings.calls),
            max_blocks_per_query=scanner.settings.max_blocks_per_query,
        )
    finally:
        rpc.close()
        stack.stop()
