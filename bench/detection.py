"""(b) Detection latency on the local stack: block final -> signed payment.paid webhook received.

The whole local stack (moto, anvil with 0.45 s blocks, the API emulator and the real
scanner / webhook workers) runs in this process on free ports. A merchant registers a
webhook endpoint on a local receiver, creates payments over the signed API, and a few
customers pay them on chain at the same time. A watcher thread polls anvil every ~20 ms
and notes, per block number, when it was first seen mined (``latest``) and first seen at
or below the ``finalized`` tag. The latency of a payment is the arrival time of its
verified ``payment.paid`` webhook minus the time its block became final.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.common import Rpc, percentile

N_PAYMENTS = 60
N_PAYERS = 3
POLL_S = 0.02
WEBHOOK_TIMEOUT_S = 60.0


@dataclass
class DetectionResult:
    detect_p50_s: float
    detect_p95_s: float
    detect_max_s: float
    mined_to_webhook_p50_s: float
    mined_to_webhook_p95_s: float
    mined_to_final_p50_s: float
    n_payments: int
    n_webhooks: int
    n_blocks_with_payments: int
    # (seconds since the first payment was sent when its block became final, latency)
    samples_final_at_and_latency_s: list[tuple[float, float]]
    worker_errors: list[str]


@dataclass
class _Arrival:
    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class _Receiver:
    arrivals: list[_Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, port: int) -> ThreadingHTTPServer:
        box = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.monotonic()
                with box.lock:
                    box.arrivals.append(_Arrival(at, dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="bench-receiver", daemon=True).start()
        return server


class _BlockWatcher:
    """First time (monotonic) each block number was seen mined and seen final."""

    def __init__(self, rpc_url: str) -> None:
        self.rpc = Rpc(rpc_url, timeout=10)
        self.mined_at: dict[int, float] = {}
        self.final_at: dict[int, float] = {}
        self._stop = threading.Event()
        head, final = self._poll()
        self._head, self._final = head, final
        self._thread = threading.Thread(target=self._run, name="bench-finality", daemon=True)

    def _poll(self) -> tuple[int, int]:
        head, block = self.rpc.batch(
            [("eth_blockNumber", []), ("eth_getBlockByNumber", ["finalized", False])]
        )
        return int(head, 16), int(block["number"], 16)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            head, final = self._poll()
            now = time.monotonic()
            for number in range(self._head + 1, head + 1):
                self.mined_at[number] = now
            for number in range(self._final + 1, final + 1):
                self.final_at[number] = now
            self._head, self._final = max(self._head, head), max(self._final, final)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.rpc.close()


def run(progress: Any = print) -> DetectionResult:
    from eth_account import Account

    from merchant.bscpay_merchant import Client, verify_webhook
    from shared.local import chain
    from shared.local.stack import LocalStack, StackConfig

    cfg = StackConfig(
        api_port=chain.free_port(),
        rpc_port=chain.free_port(),
        aws_port=chain.free_port(),
        prefix="bscpay-bench",
        state_file=None,
    )
    started = time.monotonic()
    stack = LocalStack(cfg).start()
    receiver = _Receiver()
    server = receiver.serve(chain.free_port())
    watcher: _BlockWatcher | None = None
    try:
        info = stack.info
        rpc_url, token = info["rpc_url"], info["token_address"]
        progress(f"  local stack up in {time.monotonic() - started:.1f} s")
        m = info["merchant"]
        client = Client(info["api_url"], m["api_key_id"], m["api_secret"])
        endpoint = client.request(
            "POST",
            "/v1/webhook_endpoints",
            {"url": f"http://127.0.0.1:{server.server_port}/hooks", "events": ["payment.paid"]},
        )
        secret = endpoint["secret"]

        # A few customers paying at the same time (each sends its own transactions in order).
        payers = [info["customer"]["private_key"]]
        for _ in range(N_PAYERS - 1):
            account = Account.create()
            chain.rpc_call(rpc_url, "anvil_setBalance", account.address, hex(10**20))
            chain.transfer(rpc_url, token, payers[0], account.address, 100_000 * 10**18)
            payers.append(account.key.to_0x_hex())

        payments = []
        for i in range(N_PAYMENTS):
            amount = Decimal(10 + i) + Decimal("0.25")
            payment = client.request(
                "POST", "/v1/payments", {"amount": str(amount), "order_id": f"BENCH-{i}"}
            )
            payments.append((payment["id"], payment["address"], int(amount * 10**18)))
        progress(f"  {N_PAYMENTS} payments created; paying from {N_PAYERS} customers")

        watcher = _BlockWatcher(rpc_url)
        watcher.start()
        w3 = chain.web3_for(rpc_url)
        rng = random.Random(45)
        tx_of: dict[str, str] = {}
        paid_at: dict[str, float] = {}
        collector = _Collector(receiver, secret, verify_webhook)
        paying_started = time.monotonic()
        # Rounds of N_PAYERS payments sent at the same moment from different customers;
        # the next round starts once this round's webhooks are in (plus a random pause,
        # so transactions land at varied points of the scanner's poll cycle).
        for first in range(0, N_PAYMENTS, N_PAYERS):
            batch = payments[first : first + N_PAYERS]
            _pay_together(rpc_url, token, list(zip(payers, batch, strict=False)), tx_of)
            paid_at.update(collector.wait_for({pid for pid, _, _ in batch}, WEBHOOK_TIMEOUT_S))
            time.sleep(rng.uniform(0, 0.45))
        block_of = {
            pid: int(w3.eth.get_transaction_receipt(tx)["blockNumber"])  # type: ignore[arg-type]
            for pid, tx in tx_of.items()
        }
        watcher.stop()

        latencies, mined_to_webhook, mined_to_final = [], [], []
        samples: list[tuple[float, float]] = []
        for pid, arrived in sorted(paid_at.items(), key=lambda item: item[1]):
            block = block_of[pid]
            final = watcher.final_at[block]
            latencies.append(arrived - final)
            samples.append((round(final - paying_started, 3), round(arrived - final, 4)))
            if block in watcher.mined_at:
                mined_to_webhook.append(arrived - watcher.mined_at[block])
                mined_to_final.append(final - watcher.mined_at[block])
        if len(latencies) < len(block_of):
            progress(f"  WARNING: only {len(latencies)} of {len(block_of)} webhooks arrived")
        return DetectionResult(
            detect_p50_s=percentile(latencies, 50),
            detect_p95_s=percentile(latencies, 95),
            detect_max_s=max(latencies),
            mined_to_webhook_p50_s=percentile(mined_to_webhook, 50),
            mined_to_webhook_p95_s=percentile(mined_to_webhook, 95),
            mined_to_final_p50_s=percentile(mined_to_final, 50),
            n_payments=len(block_of),
            n_webhooks=len(latencies),
            n_blocks_with_payments=len(set(block_of.values())),
            samples_final_at_and_latency_s=samples,
            worker_errors=list(stack.worker_errors),
        )
    finally:
        if watcher is not None:
            watcher.stop()
        server.shutdown()
        server.server_close()
        stack.stop()


def _pay_together(
    rpc_url: str, token: str, jobs: list[tuple[str, tuple[str, str, int]]], tx_of: dict[str, str]
) -> None:
    """Each (payer key, payment) pair pays in its own thread; returns once all are mined."""
    from shared.local import chain

    errors: list[str] = []

    def pay(key: str, payment_id: str, address: str, units: int) -> None:
        try:
            tx_of[payment_id] = chain.transfer(rpc_url, token, key, address, units)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [
        threading.Thread(target=pay, args=(key, *payment), daemon=True) for key, payment in jobs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"paying failed: {errors[0]}")


class _Collector:
    """Verifies arriving webhooks; payment id -> arrival of its first payment.paid."""

    def __init__(self, receiver: _Receiver, secret: str, verify: Any) -> None:
        self.receiver, self.secret, self.verify = receiver, secret, verify
        self.paid_at: dict[str, float] = {}
        self._seen = 0

    def wait_for(self, wanted: set[str], timeout: float) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while True:
            with self.receiver.lock:
                fresh = self.receiver.arrivals[self._seen :]
                self._seen = len(self.receiver.arrivals)
            for arrival in fresh:
                event = self.verify(
                    arrival.body, arrival.headers["Bscpay-Signature"], [self.secret]
                )
                payment_id = event["data"]["object"]["id"]
                if event["type"] == "payment.paid" and payment_id not in self.paid_at:
                    self.paid_at[payment_id] = arrival.at
            if wanted <= set(self.paid_at) or time.monotonic() > deadline:
                return {p: t for p, t in self.paid_at.items() if p in wanted}
            time.sleep(0.01)
