"""The scanner's memory, sized by measurement (issue 16 §3).

Lambda gives a function CPU in proportion to its memory (1,769 MB = one vCPU), and the
scanner runs ~52 s of every minute, so its memory is most of the fixed bill. This bench
measures what one scanner invocation needs while the chain carries the 100x target load
(issue 16 §2: ~38 payments a second, so ~17 payment transfers in every 0.45 s block):

- a local stack (moto + anvil, no workers); ``PAYMENTS`` payments created;
- the real scanner handler in a **process of its own** (as Lambda runs it), invoked once
  with a ``WINDOW_S`` deadline; meanwhile this process mines a block every 0.45 s holding
  ``PER_BLOCK`` real token transfers, each paying one payment exactly;
- the child reports its peak RSS and its CPU seconds; the share of one CPU it used is
  CPU / wall. The payments it saw paid show it did the work.

The recommended size is the smallest Lambda memory with at least ``CPU_HEADROOM`` times the
measured CPU share (bursts, slower CPUs) and ``RSS_HEADROOM`` times the peak RSS.

    .venv/bin/python -m bench.scanner_sizing   # writes bench/results/scanner_sizing.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from bench.common import REPO_ROOT, RESULTS_DIR, Rpc, machine

BLOCK_S = 0.45  # BSC's block time
PER_BLOCK = 17  # 38 payments/s x 0.45 s
WINDOW_S = 40.0  # the child's invocation: its deadline, as Lambda's context gives it
PAYMENTS = int(PER_BLOCK * WINDOW_S / BLOCK_S) + PER_BLOCK
CPU_HEADROOM = 2.0
RSS_HEADROOM = 1.5
LAMBDA_MB_PER_VCPU = 1769
TRANSFER = "0xa9059cbb"  # transfer(address,uint256)

_CHILD = """
import json, resource, sys, time
started = time.monotonic()
deadline = started + float(sys.argv[1])

class Context:
    function_name = "bscpay-chain-scanner"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self):
        return max(0, int((deadline - time.monotonic()) * 1000))

from functions.chain_scanner.handler import lambda_handler
imported = time.monotonic()
report = lambda_handler({}, Context())
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({
    "wall_s": time.monotonic() - started,
    "import_s": imported - started,
    "cpu_s": usage.ru_utime + usage.ru_stime,
    "peak_rss_mb": usage.ru_maxrss / 1024,
    "report": report,
}))
"""


def _calldata(to: str, units: int) -> str:
    return TRANSFER + to[2:].lower().rjust(64, "0") + hex(units)[2:].rjust(64, "0")


def _mine_under_load(
    rpc_url: str, token: str, payer: str, addresses: list[str], units: int, stop: threading.Event
) -> int:
    """A block every BLOCK_S with PER_BLOCK payment transfers; returns transfers mined."""
    rpc = Rpc(rpc_url)
    nonce = int(rpc.call("eth_getTransactionCount", payer, "latest"), 16)
    sent = 0
    next_block = time.monotonic()
    while not stop.is_set() and sent + PER_BLOCK <= len(addresses):
        calls = [
            (
                "eth_sendTransaction",
                [
                    {
                        "from": payer,
                        "to": token,
                        "data": _calldata(addresses[sent + k], units),
                        "gas": hex(80_000),
                        "nonce": hex(nonce + sent + k),
                    }
                ],
            )
            for k in range(PER_BLOCK)
        ]
        rpc.batch(calls)
        rpc.call("evm_mine")
        sent += PER_BLOCK
        next_block += BLOCK_S
        stop.wait(max(0.0, next_block - time.monotonic()))
    return sent


def _recommended_mb(cpu_share: float, peak_rss_mb: float) -> int:
    for memory in (128, 256, 384, 512, 640, 768, 1024, 1536, 1769, 2048, 3008):
        if (
            memory / LAMBDA_MB_PER_VCPU >= cpu_share * CPU_HEADROOM
            and memory >= peak_rss_mb * RSS_HEADROOM
        ):
            return memory
    return 3008


def run(progress: Any = print) -> dict[str, Any]:
    from shared import config
    from shared.dal import payments as payment_repo
    from shared.local import chain
    from shared.local.stack import LocalStack, StackConfig
    from shared.models.amounts import parse_amount
    from shared.models.domain import PaymentStatus
    from shared.payments import service

    cfg = StackConfig(
        api_port=chain.free_port(),
        rpc_port=chain.free_port(),
        aws_port=chain.free_port(),
        block_time=None,  # blocks only when the bench mines them
        prefix="bscpay-bench-sizing",
        state_file=None,
        serve_api=False,
        run_workers=False,
    )
    stack = LocalStack(cfg).start()
    try:
        info = stack.info
        rpc_url, token = info["rpc_url"], info["token_address"]
        payer = info["customer"]["address"]
        units = parse_amount("1", config.chain().token_decimals)
        progress(f"  creating {PAYMENTS} payments")
        one = service.NewPayment(amount=units)
        payments = [service.create(info["merchant"]["id"], one) for _ in range(PAYMENTS)]
        rpc = Rpc(rpc_url)
        rpc.call("anvil_impersonateAccount", payer)
        rpc.call("evm_setAutomine", False)
        progress(
            f"  scanner in its own process for {WINDOW_S:.0f} s; a block every {BLOCK_S} s "
            f"with {PER_BLOCK} payment transfers"
        )
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(WINDOW_S)],
            cwd=REPO_ROOT,
            env={**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"},
            stdout=subprocess.PIPE,
            text=True,
        )
        stop = threading.Event()
        mined: list[int] = []
        miner = threading.Thread(
            target=lambda: mined.append(
                _mine_under_load(rpc_url, token, payer, [p.address for p in payments], units, stop)
            ),
            daemon=True,
        )
        miner.start()
        out, _ = child.communicate(timeout=WINDOW_S + 120)
        stop.set()
        miner.join(60)
        if child.returncode != 0:
            raise RuntimeError(f"the scanner process failed ({child.returncode})")
        figures = json.loads(out.strip().splitlines()[-1])
        seen = sum(
            1
            for p in payments
            if (got := payment_repo.get_payment(p.payment_id)) is not None
            and got.status != PaymentStatus.PENDING
        )
        work_s = figures["wall_s"] - figures["import_s"]
        cpu_share = figures["cpu_s"] / figures["wall_s"]
        peak = figures["peak_rss_mb"]
        return {
            "load": {
                "block_s": BLOCK_S,
                "payment_transfers_per_block": PER_BLOCK,
                "payments_per_s": round(PER_BLOCK / BLOCK_S, 1),
                "transfers_mined": mined[0] if mined else 0,
                "payments_seen_by_the_scanner": seen,
            },
            "invocation_s": round(figures["wall_s"], 1),
            "scanning_s": round(work_s, 1),
            "cpu_s": round(figures["cpu_s"], 2),
            "cpu_share_of_one_vcpu": round(cpu_share, 3),
            "peak_rss_mb": round(peak, 1),
            "recommended_memory_mb": _recommended_mb(cpu_share, peak),
            "rule": (
                f"smallest Lambda memory with vCPU (memory / {LAMBDA_MB_PER_VCPU} MB) >= "
                f"{CPU_HEADROOM}x the CPU share and memory >= {RSS_HEADROOM}x the peak RSS"
            ),
            "scanner_report": {
                k: figures["report"].get(k)
                for k in ("blocks_scanned", "transfers_recorded", "transfers_finalized", "errors")
            },
        }
    finally:
        stack.stop()


def main() -> None:
    result = run()
    result["machine"] = machine()
    out = RESULTS_DIR / "scanner_sizing.json"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"scanner sizing: {result['cpu_share_of_one_vcpu']:.1%} of one CPU at "
        f"{result['load']['payments_per_s']} payments/s, peak RSS {result['peak_rss_mb']} MB "
        f"-> {result['recommended_memory_mb']} MB"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
