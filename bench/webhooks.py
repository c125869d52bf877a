"""Webhook delivery figures (issue 4): throughput to a fast local receiver, and the
latency of healthy deliveries while another endpoint times out on every request.

Runs the real dispatcher (``functions.webhook_dispatcher.handler.lambda_handler``)
against moto server (DynamoDB, KMS) with SQS-shaped batches of 10, as Lambda's
event source mapping hands them over. Writes ``bench/results/webhooks.json``.

    .venv/bin/python -m bench.webhooks
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from bench.common import RESULTS_DIR, machine, percentile
from shared import ids
from shared.dal import events as event_repo
from shared.local.apigw import LambdaContext
from shared.local.chain import free_port
from shared.local.stack import LocalStack, StackConfig
from shared.models.domain import Event
from shared.webhooks import delivery, endpoints

THROUGHPUT_DELIVERIES = int(os.environ.get("BENCH_WH_N", "1000"))
# Each contended batch waits out one full timeout of the dead endpoint.
LATENCY_BATCHES = int(os.environ.get("BENCH_WH_LAT", "3"))
BATCH = 10
CONCURRENT_INVOCATIONS = 3


_RECEIVER = r"""
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
delay = float(sys.argv[2])
class H(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sys.stdout.write(json.loads(body)["id"] + " " + repr(time.time()) + "\n")
        sys.stdout.flush()
        if delay:
            time.sleep(delay)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
s.daemon_threads = True
print("ready", flush=True)
s.serve_forever()
"""


class Receiver:
    """A merchant's receiver in its own process (as it would be); ``delay_s`` beyond
    the dispatcher timeout makes it a dead endpoint. Arrival times are wall-clock."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.arrivals: dict[str, float] = {}
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _RECEIVER, str(self.port), str(delay_s)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("receiver did not start")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event_id, at = line.split()
            self.arrivals[event_id] = float(at)

    def wait_for(self, event_ids: list[str], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while any(e not in self.arrivals for e in event_ids) and time.monotonic() < deadline:
            time.sleep(0.005)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)


def _event(merchant_id: str) -> str:
    event = Event(
        event_id=ids.new_id("evt"),
        type="payment.paid",
        created=ids.now(),
        merchant_id=merchant_id,
        data={"object": {"id": "pay_bench", "status": "paid"}},
    )
    event_repo.put_event(event, outbox=False)
    return event.event_id


def _record(event_id: str, endpoint_id: str) -> dict[str, Any]:
    return {
        "messageId": f"{event_id}:{endpoint_id}",
        "receiptHandle": "bench",
        "body": json.dumps({"event_id": event_id, "endpoint_id": endpoint_id}),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }


def run() -> dict[str, Any]:
    cfg = StackConfig(
        api_port=free_port(),
        rpc_port=free_port(),
        aws_port=free_port(),
        block_time=None,
        prefix="bscpay-bench-wh",
        moto_in_subprocess=True,  # DynamoDB is a remote service to the dispatcher
        state_file=None,
        serve_api=False,
        run_workers=False,
    )
    stack = LocalStack(cfg).start()
    fast, other, dead = Receiver(), Receiver(), Receiver(delay_s=delivery.TIMEOUT_S + 1)
    try:
        from functions.webhook_dispatcher.handler import lambda_handler
        from shared.admin import merchants

        merchant, _, _ = merchants.create_merchant("Bench Shop")
        mid = merchant.merchant_id

        def endpoint(url: str) -> str:
            return endpoints.create(mid, url, ["payment.paid"])[0].endpoint_id

        fast_id, other_id, dead_id = endpoint(fast.url), endpoint(other.url), endpoint(dead.url)

        def deliver(records: list[dict[str, Any]]) -> dict[str, Any]:
            return lambda_handler({"Records": records}, LambdaContext("webhook_dispatcher", 30))

        # (1) throughput: batches of 10 to the fast receiver, handed to a few concurrent
        # invocations as Lambda's SQS poller does (moto and the dispatcher share a process).
        event_ids = [_event(mid) for _ in range(THROUGHPUT_DELIVERIES)]
        deliver([_record(event_ids[0], fast_id)])  # warm: KMS secret cache, connections
        batches = [
            [_record(e, fast_id) for e in event_ids[i : i + BATCH]]
            for i in range(0, len(event_ids), BATCH)
        ]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=CONCURRENT_INVOCATIONS) as pool:
            for result in pool.map(deliver, batches):
                assert not result["batchItemFailures"], result
        fast.wait_for(event_ids)
        throughput = THROUGHPUT_DELIVERIES / (time.monotonic() - started)

        # (2) healthy latency: 9 deliveries to a healthy endpoint batched with a 10th to
        # another endpoint that answers at once (baseline) or never (contended)
        def healthy_latencies(with_dead: bool) -> list[float]:
            out: list[float] = []
            for _ in range(LATENCY_BATCHES):
                healthy = [_event(mid) for _ in range(BATCH - 1)]
                records = [_record(e, fast_id) for e in healthy]
                records.insert(0, _record(_event(mid), dead_id if with_dead else other_id))
                sent = time.time()
                deliver(records)
                fast.wait_for(healthy)
                out += [fast.arrivals[e] - sent for e in healthy]
            return out

        baseline = healthy_latencies(with_dead=False)
        contended = healthy_latencies(with_dead=True)
        base_p50, cont_p50 = percentile(baseline, 50), percentile(contended, 50)
        return {
            "deliveries_per_s": round(throughput, 1),
            "healthy_latency_p50_s": round(base_p50, 4),
            "healthy_latency_p95_s": round(percentile(baseline, 95), 4),
            "healthy_latency_with_dead_endpoint_p50_s": round(cont_p50, 4),
            "healthy_latency_with_dead_endpoint_p95_s": round(percentile(contended, 95), 4),
            "healthy_latency_change_pct": round(100 * (cont_p50 - base_p50) / base_p50, 1),
            "dead_endpoint_timeout_s": delivery.TIMEOUT_S,
            "throughput_deliveries": THROUGHPUT_DELIVERIES,
            "batch_size": BATCH,
            "concurrent_invocations": CONCURRENT_INVOCATIONS,
            "path": (
                "real dispatcher handler in this process; moto server (DynamoDB, KMS) and"
                " the HTTP receivers in processes of their own, on loopback"
            ),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
        }
    finally:
        fast.stop()
        other.stop()
        dead.stop()
        stack.stop()


def main() -> dict[str, Any]:
    figures = run()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "webhooks.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("webhooks")
    print(f"  deliveries/s to a fast receiver      {figures['deliveries_per_s']:>10} (goal >= 200)")
    print(
        f"  healthy p50 latency alone / with dead {figures['healthy_latency_p50_s']:.4f} s / "
        f"{figures['healthy_latency_with_dead_endpoint_p50_s']:.4f} s "
        f"({figures['healthy_latency_change_pct']:+.1f} %, goal within 20 %)"
    )
    return figures


if __name__ == "__main__":
    main()
