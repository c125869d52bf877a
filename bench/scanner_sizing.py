"""The scanner's memory, sized by measurement (issue 16 §3).

Lambda gives a function CPU in proportion to its memory (1,769 MB = one vCPU), and the
scanner runs ~52 s of every minute, so its memory is most of the fixed bill. This bench
measures, at the 100x target load (issue 16 §2: ~38 payments a second, so 17 payment
transfers in every 0.45 s block), whether the scanner keeps up and how fast it detects
payments when it gets only the CPU a given memory size buys:

- a local stack (moto + anvil, no workers) and payments to pay;
- for each candidate size, the real scanner handler in a **process of its own**, invoked
  once with a ``WINDOW_S`` deadline, inside a Linux cgroup whose CPU quota is Lambda's
  share for that size (``memory / 1769`` of one CPU; cgroup v1 ``cpu`` controller, root);
  meanwhile this process mines a block every 0.45 s holding ``PER_BLOCK`` real token
  transfers (or ``LIGHT_PER_BLOCK``), each paying one payment exactly; the load starts
  once the child has imported (a warm container does not import again);
- detection latency = when the scanner recorded a transfer - when its block was mined
  (both this machine's clock); the child also reports its CPU seconds and peak RSS.

Recommended: the smallest size that recorded every transfer of the window and whose p95
detection latency is within ``LATENCY_SLACK_S`` of the unthrottled run's. Where no
cgroup can be made (not root, no cgroup v1), only the unthrottled run is measured and
the size follows from its CPU share (``CPU_HEADROOM`` times) and peak RSS instead.

    .venv/bin/python -m bench.scanner_sizing   # writes bench/results/scanner_sizing.json
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, RESULTS_DIR, Rpc, machine, percentile

BLOCK_S = 0.45  # BSC's block time
TARGET_PER_S = 38.0  # issue 16 §2: 100x today's traffic
# What one moto server on 2 shared cores lets the scanner record (~11 payments/s); the
# CPU per transfer measured here is scaled to the target.
PER_BLOCK = 5
# ~0.55 payments/s: seven times a 10k-a-month stage's busiest minutes (20x its average)
LIGHT_PER_BLOCK = 0.25
WINDOW_S = 30.0  # the child's invocation: its deadline, as Lambda's context gives it
SAFETY_MARGIN_S = 8.0  # the scanner's default: it stops this long before the deadline
SIZES_MB = (256, 512, 1024)
LATENCY_SLACK_S = 0.25
CPU_HEADROOM = 2.0
RSS_HEADROOM = 1.5
LAMBDA_MB_PER_VCPU = 1769
CGROUP_ROOT = Path("/sys/fs/cgroup/cpu")
TRANSFER = "0xa9059cbb"  # transfer(address,uint256)

_CHILD = """
import json, resource, sys, time
started = time.monotonic()

class Context:
    function_name = "bscpay-chain-scanner"
    memory_limit_in_mb = int(sys.argv[2])
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    aws_request_id = "bench"
    def __init__(self, seconds):
        self.deadline = time.monotonic() + seconds
    def get_remaining_time_in_millis(self):
        return max(0, int((self.deadline - time.monotonic()) * 1000))

from functions.chain_scanner.handler import lambda_handler
from shared.payments import service

imported = time.monotonic()
# The previous minute's invocation of a warm container: it records and settles one
# payment (clients made, tokens checked)
lambda_handler({}, Context(12))
warm = time.monotonic()
cpu_warm = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
recorded = []
record_transfer = service.record_transfer

def timed(transfer):
    done = record_transfer(transfer)
    if done:
        recorded.append((transfer.block_number, time.time()))
    return done

service.record_transfer = timed
print("ready", flush=True)  # the load starts with this invocation
report = lambda_handler({}, Context(float(sys.argv[1])))
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({
    "wall_s": time.monotonic() - warm,
    "import_s": imported - started,
    "warm_up_s": warm - imported,
    "cpu_s": usage.ru_utime + usage.ru_stime - cpu_warm,
    # VmHWM, not ru_maxrss: after exec (the cgroup runs) ru_maxrss keeps the peak of the
    # image forked from this bench process
    "peak_rss_mb": int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024,
    "recorded": recorded,
    "report": report,
}))
"""


def _calldata(to: str, units: int) -> str:
    return TRANSFER + to[2:].lower().rjust(64, "0") + hex(units)[2:].rjust(64, "0")


class _Miner:
    """A block every BLOCK_S with PER_BLOCK payment transfers, until stopped."""

    def __init__(self, rpc_url: str, token: str, payer: str, units: int) -> None:
        self.rpc_url, self.token, self.payer, self.units = rpc_url, token, payer, units
        self.mined_at: dict[int, float] = {}
        self.last_sent = 0

    def warm_up(self, address: str) -> None:
        """One transfer, final before the child starts: the child's first invocation
        records and settles it, so every client and cache a payment needs exists (as in
        a container that has served payments)."""
        rpc = Rpc(self.rpc_url)
        nonce = int(rpc.call("eth_getTransactionCount", self.payer, "latest"), 16)
        tx = {
            "from": self.payer,
            "to": self.token,
            "data": _calldata(address, self.units),
            "gas": hex(80_000),
            "nonce": hex(nonce),
        }
        rpc.call("eth_sendTransaction", tx)
        for _ in range(4):  # past the local chain's finality lag
            rpc.call("evm_mine")

    def run(self, addresses: list[str], until: float, per_block: float) -> None:
        rpc = Rpc(self.rpc_url)
        nonce = int(rpc.call("eth_getTransactionCount", self.payer, "latest"), 16)
        next_block = time.monotonic()
        sent = 0
        due = 0.0  # transfers owed to the chain so far (a light load is < 1 a block)
        while time.monotonic() < until:
            due += per_block
            now = min(int(due) - sent, len(addresses) - sent)
            if now > 0:
                rpc.batch(
                    [
                        (
                            "eth_sendTransaction",
                            [
                                {
                                    "from": self.payer,
                                    "to": self.token,
                                    "data": _calldata(addresses[sent + k], self.units),
                                    "gas": hex(80_000),
                                    "nonce": hex(nonce + sent + k),
                                }
                            ],
                        )
                        for k in range(now)
                    ]
                )
            rpc.call("evm_mine")
            self.mined_at[int(rpc.call("eth_blockNumber"), 16)] = time.time()
            sent += max(now, 0)
            next_block += BLOCK_S
            time.sleep(max(0.0, next_block - time.monotonic()))
        self.last_sent = sent


def _cgroup(memory_mb: int) -> Path | None:
    """A cgroup with Lambda's CPU share for ``memory_mb``; None where none can be made."""
    path = CGROUP_ROOT / f"bscpay-bench-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir()
        (path / "cpu.cfs_period_us").write_text("100000")
        (path / "cpu.cfs_quota_us").write_text(str(100000 * memory_mb // LAMBDA_MB_PER_VCPU))
    except OSError:
        if path.is_dir():
            path.rmdir()
        return None
    return path


def _invoke(
    memory_mb: int | None, miner: _Miner, addresses: list[str], per_block: float
) -> dict[str, Any]:
    """One scanner invocation (its own process, in a cgroup when ``memory_mb``) while
    the miner pays ``addresses``."""
    group = _cgroup(memory_mb) if memory_mb else None
    if memory_mb and group is None:
        return {"memory_mb": memory_mb, "skipped": "no cgroup (needs root and cgroup v1 cpu)"}
    if addresses:
        miner.warm_up(addresses[0])
        addresses = addresses[1:]
    command = shlex.join([sys.executable, "-c", _CHILD, str(WINDOW_S), str(memory_mb or 0)])
    if group is not None:
        command = f"echo $$ > {shlex.quote(str(group / 'cgroup.procs'))} && exec {command}"
    try:
        child = subprocess.Popen(
            ["sh", "-c", command],
            cwd=REPO_ROOT,
            env={**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        child.stdout.readline()  # "ready": imported
        invoked_at = time.time()
        # Transfers stop when the scanner will stop looking (its safety margin)
        until = time.monotonic() + WINDOW_S - SAFETY_MARGIN_S - 2
        miner_thread = threading.Thread(
            target=miner.run, args=(addresses, until, per_block), daemon=True
        )
        miner_thread.start()
        out, _ = child.communicate(timeout=WINDOW_S + 180)
        miner_thread.join(60)
    finally:
        if group is not None:
            group.rmdir()
    if child.returncode != 0:
        raise RuntimeError(f"the scanner process failed ({child.returncode})")
    figures = json.loads(out.strip().splitlines()[-1])
    mined_at = miner.mined_at
    timed = [
        (at - mined_at[block], mined_at[block] - invoked_at)
        for block, at in figures["recorded"]
        if block in mined_at
    ]
    latencies = [latency for latency, _ in timed]
    return {
        "memory_mb": memory_mb,
        "cpu_quota_of_one_vcpu": round(memory_mb / LAMBDA_MB_PER_VCPU, 3) if memory_mb else None,
        "transfers_sent": miner.last_sent,
        "transfers_recorded": len(figures["recorded"]),
        "kept_up": len(figures["recorded"]) >= miner.last_sent,
        "detection_p50_s": round(percentile(latencies, 50), 3) if latencies else None,
        "detection_p95_s": round(percentile(latencies, 95), 3) if latencies else None,
        # the slowest detections and when their blocks came (s into the invocation)
        "slowest": [
            {"latency_s": round(latency, 2), "mined_at_s": round(when, 1)}
            for latency, when in sorted(timed, reverse=True)[:3]
        ],
        "cpu_s": round(figures["cpu_s"], 2),
        "cpu_share_of_one_vcpu": round(figures["cpu_s"] / figures["wall_s"], 3),
        "cold_import_s": round(figures["import_s"], 2),
        "first_invocation_s": round(figures["warm_up_s"], 2),
        "peak_rss_mb": round(figures["peak_rss_mb"], 1),
        "invocation_s": round(figures["wall_s"], 1),
        "scanner_errors": figures["report"].get("errors"),
    }


def smallest_size(vcpu: float, memory_mb: float) -> int:
    for size in (128, 256, 384, 512, 640, 768, 1024, 1280, 1536, 1769, 2048, 3008):
        if size / LAMBDA_MB_PER_VCPU >= vcpu and size >= memory_mb:
            return size
    return 3008


def _level_start(rpc: Rpc) -> None:
    """Every run starts level: the cursor at the head and no events waiting to be relayed
    (this stack runs no workers; a backlog would be relayed by the next run's scanner)."""
    from shared import ids
    from shared.dal import system as system_repo
    from shared.events import outbox
    from shared.jobs.scanner import CURSOR

    while outbox.relay(now=ids.now() + 3600, limit=500):
        pass
    head = int(rpc.call("eth_blockNumber"), 16)
    owner = "bench-scanner-sizing"
    system_repo.acquire_lease(CURSOR, owner, time.time(), 30)
    try:
        system_repo.advance_cursor(CURSOR, owner, head, time.time(), 30)
    finally:
        system_repo.release_lease(CURSOR, owner)


def run(progress: Any = print) -> dict[str, Any]:
    from shared import config
    from shared.local import chain
    from shared.local.stack import LocalStack, StackConfig
    from shared.models.amounts import parse_amount
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
        rpc = Rpc(rpc_url)
        rpc.call("anvil_impersonateAccount", payer)
        rpc.call("evm_setAutomine", False)
        miner = _Miner(rpc_url, token, payer, units)
        one = service.NewPayment(amount=units)
        merchant_id = info["merchant"]["id"]
        runs: dict[str, dict[str, Any]] = {}
        plan: list[tuple[str, int | None, float]] = [
            ("idle", None, 0),
            ("heavy unthrottled", None, PER_BLOCK),
            ("light unthrottled", None, LIGHT_PER_BLOCK),
            *((f"light {mb} MB", mb, LIGHT_PER_BLOCK) for mb in SIZES_MB),
        ]
        for label, memory_mb, per_block in plan:
            progress(f"  scanner {label}: {per_block:g} payment transfers a block")
            count = int(per_block * (WINDOW_S - SAFETY_MARGIN_S) / BLOCK_S) + 2
            addresses = [service.create(merchant_id, one).address for _ in range(count)]
            _level_start(rpc)
            runs[label] = _invoke(memory_mb, miner, addresses, per_block)
            progress(f"    {runs[label]}")
        idle, heavy, light = runs["idle"], runs["heavy unthrottled"], runs["light unthrottled"]
        idle_share = idle["cpu_s"] / idle["invocation_s"]
        per_transfer = max(heavy["cpu_s"] - idle_share * heavy["invocation_s"], 0.0) / max(
            heavy["transfers_recorded"], 1
        )
        share_at_target = idle_share + TARGET_PER_S * per_transfer
        confirmed = [
            r["memory_mb"]
            for label, r in runs.items()
            if label.startswith("light ")
            and r.get("memory_mb")
            and "skipped" not in r
            and r["kept_up"]
            and r["detection_p95_s"] is not None
            and light["detection_p95_s"] is not None
            and r["detection_p95_s"] <= light["detection_p95_s"] + LATENCY_SLACK_S
        ]
        light_rss = max(
            r["peak_rss_mb"]
            for k, r in runs.items()
            if k.startswith(("idle", "light")) and "peak_rss_mb" in r
        )
        heavy_rss = max(r["peak_rss_mb"] for r in runs.values() if "peak_rss_mb" in r)
        sizes = [
            {
                "memory_mb": size,
                "vcpu": round(size / LAMBDA_MB_PER_VCPU, 3),
                # the rate at which the scanner uses half its CPU (the headroom rule)
                "sustains_payments_per_s": round(
                    max(min(size / LAMBDA_MB_PER_VCPU, 1.0) / CPU_HEADROOM - idle_share, 0)
                    / max(per_transfer, 1e-9),
                    1,
                ),
            }
            for size in (256, 512, 1024, 1769, 3008)
        ]
        return {
            "load": {
                "block_s": BLOCK_S,
                "payment_transfers_per_block": PER_BLOCK,
                "payments_per_s": round(PER_BLOCK / BLOCK_S, 1),
                "target_payments_per_s": TARGET_PER_S,
            },
            "window_s": WINDOW_S,
            "runs": runs,
            "idle_cpu_share": round(idle_share, 3),
            "cpu_s_per_transfer": round(per_transfer, 4),
            "cpu_share_at_target": round(share_at_target, 3),
            "peak_rss_mb": heavy_rss,
            "peak_rss_mb_light": light_rss,
            "light_payments_per_s": round(LIGHT_PER_BLOCK / BLOCK_S, 1),
            "sizes": sizes,
            "recommended_memory_mb_at_target": smallest_size(
                share_at_target * CPU_HEADROOM, heavy_rss * RSS_HEADROOM
            ),
            "light_sizes_that_kept_up_with_unthrottled_latency": confirmed,
            "rule": (
                f"smallest Lambda size whose vCPU (memory / {LAMBDA_MB_PER_VCPU} MB) is "
                f">= {CPU_HEADROOM}x the CPU share at {TARGET_PER_S:.0f} payments/s (idle "
                "share + CPU per transfer x rate) and whose memory is >= "
                f"{RSS_HEADROOM}x the peak RSS; 'sizes' lists the rate each size sustains "
                "at half its CPU; the light runs (each size's CPU quota) show which sizes "
                f"keep up at light load with p95 detection within {LATENCY_SLACK_S} s of "
                "the unthrottled run"
            ),
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
        f"scanner sizing: {result['cpu_s_per_transfer'] * 1000:.1f} ms CPU a transfer, "
        f"{result['cpu_share_at_target']:.0%} of a vCPU at {TARGET_PER_S:.0f} payments/s, "
        f"peak RSS {result['peak_rss_mb']} MB; light load kept at "
        f"{result['light_sizes_that_kept_up_with_unthrottled_latency']} MB"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
