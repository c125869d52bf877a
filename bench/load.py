"""``make load``: the local stack under Locust, then a check that no payment was lost or
counted twice (issue 15 §2).

1. Starts the whole local stack on free ports (moto in its own process, anvil with
   0.45 s blocks, the API, scanner, settlement and webhook workers).
2. Creates ``LOAD_MERCHANTS`` merchants, each with a webhook endpoint on a receiver here.
3. Runs Locust headless (bench/locustfile.py, its own process): signed merchant traffic
   and the console's admin reads, for ``LOAD_TIME`` (default 20 min: moto server, one
   process emulating DynamoDB/SQS/KMS, is the bottleneck at ~10-20 requests a second on
   2 cores, so this is what it takes to pass 10,000 requests).
4. Meanwhile a payer pays ~40 % of the new payments exactly, many per block (signed
   transfers sent without waiting for receipts).
5. Afterwards: every paid payment must turn paid, every merchant's ledger balance must
   equal what was sent to its payments, every payment must have exactly the transfers
   sent to it, and the receiver must have heard ``payment.paid`` for each.

Writes ``bench/results/load.json`` (requests, errors_5xx, per route rps/p50/p95/p99,
lost_payments, double_credits) and ``bench/results/load.png``. ``LOAD_TIME=30m`` with
``LOAD_FAULTS=1`` is the soak (`make load-soak`, README): webhook endpoints fail a share of the
time and the RPC endpoint the workers use dies and comes back.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from eth_account import Account

from bench.common import REPO_ROOT, RESULTS_DIR, machine
from shared.auth.signing import request_signature as sign
from shared.local import admins, chain
from shared.local.chain import free_port
from shared.local.stack import LocalStack, StackConfig

RUN_TIME = os.environ.get("LOAD_TIME", "20m")
USERS = int(os.environ.get("LOAD_USERS", "24"))
MERCHANTS = int(os.environ.get("LOAD_MERCHANTS", "4"))
PAY_SHARE = float(os.environ.get("LOAD_PAY_SHARE", "0.4"))
FAULTS = os.environ.get("LOAD_FAULTS") == "1"
SETTLE_TIMEOUT_S = float(os.environ.get("LOAD_SETTLE_TIMEOUT_S", "300"))
MIN_REQUESTS = 10_000
USDT = 10**18


@dataclass
class Sent:
    payment_id: str
    merchant_id: str
    address: str
    units: int
    tx_hash: str


@dataclass
class Receiver:
    """The merchants' webhook endpoint: records payment.paid per payment id."""

    fail_share: float = 0.0
    paid: Counter[str] = field(default_factory=Counter)
    answered: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _receiver(box: Receiver) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = 503 if random.random() < box.fail_share else 200
            if status == 200:
                event = json.loads(body)
                if event.get("type") == "payment.paid":
                    with box.lock:
                        box.paid[event["data"]["object"]["id"]] += 1
            with box.lock:
                box.answered[status] += 1
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}/hooks"


class Payer:
    """Pays a share of the new payments exactly: signed transfers from the customer's
    account with locally counted nonces, sent without waiting, so many land per block."""

    def __init__(self, info: dict[str, Any], admin: dict[str, str]) -> None:
        self.info = info
        self.admin = admin
        self.w3 = chain.web3_for(info["rpc_url"])
        self.account = Account.from_key(info["customer"]["private_key"])
        self.token = chain.token_contract(info["rpc_url"], info["token_address"])
        self.nonce = int(self.w3.eth.get_transaction_count(self.account.address, "pending"))
        self.seen: set[str] = set()
        self.sent: list[Sent] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                self._round()
            except Exception as exc:  # keep paying; report what went wrong
                self.errors.append(f"{type(exc).__name__}: {exc}"[:300])

    def _round(self) -> None:
        page = requests.get(
            f"{self.info['api_url']}/admin/payments?limit=60", headers=self.admin, timeout=30
        )
        page.raise_for_status()
        fresh = [p for p in page.json()["data"] if p["id"] not in self.seen]
        for payment in fresh:
            self.seen.add(payment["id"])
            if payment["status"] != "pending" or random.random() >= PAY_SHARE:
                continue
            units = int(Decimal(payment["amount"]) * USDT)
            tx = self.token.functions.transfer(payment["address"], units).build_transaction(
                {  # type: ignore[arg-type]
                    "from": self.account.address,
                    "nonce": self.nonce,
                    "gas": 100_000,
                    "gasPrice": self.w3.eth.gas_price * 2,
                    "chainId": self.info["chain_id"],
                }
            )
            signed = self.account.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            self.nonce += 1
            self.sent.append(
                Sent(
                    payment["id"],
                    payment["merchant_id"],
                    payment["address"],
                    units,
                    tx_hash.to_0x_hex(),
                )
            )


class FlakyRpc:
    """A TCP proxy in front of anvil, listed first in the workers' RPC URLs: in a soak it
    dies (listener and open connections closed) for ``down_s`` every ``period_s`` and
    comes back, so the workers fail over to the next URL and back."""

    def __init__(self, upstream_port: int, period_s: float = 90.0, down_s: float = 20.0) -> None:
        self.port = free_port()
        self.upstream = ("127.0.0.1", upstream_port)
        self.period_s, self.down_s = period_s, down_s
        self.stop = threading.Event()
        self.outages = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self) -> None:
        while not self.stop.is_set():
            listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
            listener.settimeout(0.5)
            up_until = time.monotonic() + self.period_s
            while not self.stop.is_set() and time.monotonic() < up_until:
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self._pipe_pair, args=(client,), daemon=True).start()
            listener.close()
            with self._lock:
                for s in self._sockets:
                    with contextlib.suppress(OSError):
                        s.close()
                self._sockets.clear()
            self.outages += 1
            self.stop.wait(self.down_s)

    def _pipe_pair(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        with self._lock:
            self._sockets += [client, upstream]
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _queue_depths() -> dict[str, int]:
    from shared import config
    from shared.aws import client

    sqs = client("sqs")
    settings = config.aws()
    depths = {}
    for name in ("webhook_queue_url", "settlement_queue_url"):
        url = getattr(settings, name, None)
        if url:
            attrs = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            depths[name.removesuffix("_queue_url")] = int(
                attrs["ApproximateNumberOfMessages"]
            ) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
    return depths


def _sample(samples: list[dict[str, Any]], stop: threading.Event, every_s: float = 30.0) -> None:
    started = time.monotonic()
    while not stop.wait(every_s):
        with contextlib.suppress(Exception):
            samples.append(
                {"t_s": round(time.monotonic() - started), "rss_mb": _rss_mb(), **_queue_depths()}
            )


def _admin_headers(info: dict[str, Any]) -> dict[str, str]:
    creds = info["users"]["admin"]
    return {"Authorization": admins.id_token(info, creds["username"], creds["password"])}


def _merchants(info: dict[str, Any], admin: dict[str, str], hook_url: str) -> list[dict[str, str]]:
    out = []
    for n in range(MERCHANTS):
        created = requests.post(
            f"{info['api_url']}/admin/merchants",
            json={"name": f"Load Shop {n}"},
            headers=admin,
            timeout=30,
        )
        created.raise_for_status()
        shop = created.json()
        # the load measures the system, not the per-key budget (tested on its own)
        requests.post(
            f"{info['api_url']}/admin/merchants/{shop['id']}",
            json={"rate_limit_per_minute": 100_000},
            headers=admin,
            timeout=30,
        ).raise_for_status()
        key = shop["api_key"]
        body = json.dumps({"url": hook_url, "events": ["payment.paid"]}).encode()
        ts = str(int(time.time()))
        endpoint = requests.post(
            f"{info['api_url']}/v1/webhook_endpoints",
            data=body,
            headers={
                "X-Api-Key": key["id"],
                "X-Timestamp": ts,
                "X-Signature": sign(key["secret"], ts, "POST", "/v1/webhook_endpoints", body),
                "Content-Type": "application/json",
            },
            timeout=30,
        )
        endpoint.raise_for_status()
        out.append({"id": shop["id"], "key_id": key["id"], "secret": key["secret"]})
    return out


def _run_locust(workdir: Path, info: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    (workdir / "config.json").write_text(json.dumps(config))
    env = {
        **os.environ,
        "LOAD_CONFIG": str(workdir / "config.json"),
        "LOAD_STATUS_FILE": str(workdir / "statuses.json"),
    }
    command = [
        str(Path(sys.executable).with_name("locust")),
        "-f", str(REPO_ROOT / "bench" / "locustfile.py"),
        "--headless", "--only-summary",
        "-u", str(USERS), "-r", str(max(USERS // 4, 1)),
        "--run-time", RUN_TIME, "--stop-timeout", "10",
        "--host", info["api_url"],
        "--csv", str(workdir / "load"), "--csv-full-history",
        "--exit-code-on-error", "0",
    ]  # fmt: skip
    print(f"locust: {USERS} users for {RUN_TIME} against {info['api_url']}", flush=True)
    subprocess.run(command, env=env, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    statuses: dict[str, int] = json.loads((workdir / "statuses.json").read_text())
    routes: dict[str, dict[str, Any]] = {}
    with open(workdir / "load_stats.csv", newline="") as stats:
        for row in csv.DictReader(stats):
            routes[row["Name"] if row["Name"] != "Aggregated" else "all"] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": round(float(row["Requests/s"]), 1),
                "p50_ms": float(row["50%"]),
                "p95_ms": float(row["95%"]),
                "p99_ms": float(row["99%"]),
            }
    return {"statuses": statuses, "routes": routes}


def _check(
    info: dict[str, Any],
    admin: dict[str, str],
    sent: list[Sent],
    merchants: list[dict[str, str]],
    box: Receiver,
) -> dict[str, Any]:
    """Wait until what was sent is paid (or the deadline), then compare with the ledger.
    (Never imports bench.locustfile: importing locust patches threads with gevent.)"""
    api = info["api_url"]
    pending = {s.payment_id for s in sent}
    statuses: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while pending and time.monotonic() < deadline:
        for payment_id in sorted(pending)[:200]:
            got = requests.get(f"{api}/admin/payments/{payment_id}", headers=admin, timeout=30)
            got.raise_for_status()
            statuses[payment_id] = got.json()
            if got.json()["status"] in ("paid", "overpaid") and all(
                t["status"] == "final" for t in got.json()["transactions"]
            ):
                pending.discard(payment_id)
        time.sleep(1)
    lost = sorted(pending)
    # exactly the transfers sent, once each
    doubled = [
        s.payment_id
        for s in sent
        if s.payment_id in statuses and len(statuses[s.payment_id]["transactions"]) != 1
    ]
    expected: Counter[str] = Counter()
    for s in sent:
        expected[s.merchant_id] += s.units
    balances = {}
    for m in merchants:
        ts = str(int(time.time()))
        got = requests.get(
            f"{api}/v1/balance",
            headers={
                "X-Api-Key": m["key_id"],
                "X-Timestamp": ts,
                "X-Signature": sign(m["secret"], ts, "GET", "/v1/balance", b""),
            },
            timeout=30,
        )
        got.raise_for_status()
        body = got.json()
        total = sum(
            int(Decimal(str(body.get(k) or "0")) * USDT)
            for k in ("available", "pending_payout", "held")
        )
        balances[m["id"]] = {"ledger": total, "sent": expected[m["id"]]}
    over = [mid for mid, b in balances.items() if b["ledger"] > b["sent"]]
    under = [mid for mid, b in balances.items() if b["ledger"] < b["sent"]]
    webhook_deadline = time.monotonic() + 60
    while time.monotonic() < webhook_deadline:
        with box.lock:
            missing = [s.payment_id for s in sent if box.paid[s.payment_id] == 0]
        if not missing:
            break
        time.sleep(1)
    # The ledger against the chain once the money stopped moving: deposits, hot wallet, gas
    from shared.settlement import reconciler

    drift = reconciler.run().drifts
    return {
        "ledger_drift_after": drift,
        "payments_paid_on_chain": len(sent),
        "lost_payments": len(lost) + len(under),
        "double_credits": len(doubled) + len(over),
        "not_paid_in_time": lost[:20],
        "payments_with_extra_transfers": doubled[:20],
        "merchants_over_credited": over,
        "merchants_under_credited": under,
        "paid_webhooks_missing": len(missing),
    }


def _chart(workdir: Path, out: Path) -> None:
    """Requests/s and p95 over the run, from Locust's stats history (PIL only)."""
    from PIL import Image, ImageDraw

    rows = []
    with open(workdir / "load_stats_history.csv", newline="") as history:
        for row in csv.DictReader(history):
            if row["Name"] == "Aggregated" and row["Requests/s"] not in ("", "N/A"):
                p95 = row["95%"]
                rows.append(
                    (
                        int(row["Timestamp"]),
                        float(row["Requests/s"]),
                        float(p95) if p95 not in ("", "N/A") else 0.0,
                    )
                )
    width, height, pad = 900, 420, 50
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text(
        (pad, 10), "make load: requests/s (blue) and p95 ms (orange) over the run", fill="black"
    )
    if len(rows) >= 2:
        t0, t1 = rows[0][0], rows[-1][0]
        span = max(t1 - t0, 1)
        for index, color in ((1, (47, 125, 225)), (2, (224, 128, 47))):
            top = max(r[index] for r in rows) or 1.0
            points = [
                (
                    pad + (r[0] - t0) / span * (width - 2 * pad),
                    height - pad - r[index] / top * (height - 2 * pad),
                )
                for r in rows
            ]
            draw.line(points, fill=color, width=2)
            draw.text((width - pad - 160, 30 + 14 * index), f"max {top:.0f}", fill=color)
        draw.line([(pad, height - pad), (width - pad, height - pad)], fill="gray")
        draw.text((pad, height - pad + 8), "0 s", fill="gray")
        draw.text((width - pad - 40, height - pad + 8), f"{span} s", fill="gray")
    image.save(out)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bscpay-load-"))
    rpc_port = free_port()
    flaky = FlakyRpc(rpc_port) if FAULTS else None
    cfg = StackConfig(
        api_port=free_port(),
        rpc_port=rpc_port,
        aws_port=free_port(),
        prefix="bscpay-load",
        state_file=None,
        log_dir=workdir,
        moto_in_subprocess=True,
        webhook_pollers=3,
        rpc_front_url=flaky.url if flaky else None,
        crash_settlement_share=0.1 if FAULTS else 0.0,
    )
    samples: list[dict[str, Any]] = []
    sampling = threading.Event()
    if flaky:
        threading.Thread(target=flaky.run, daemon=True).start()
    stack = LocalStack(cfg).start()
    threading.Thread(target=_sample, args=(samples, sampling), daemon=True).start()
    try:
        info = stack.info
        admin = _admin_headers(info)
        box = Receiver(fail_share=0.2 if FAULTS else 0.0)
        server, hook_url = _receiver(box)
        merchants = _merchants(info, admin, hook_url)
        payer = Payer(info, admin)
        paying = threading.Thread(target=payer.run, daemon=True)
        paying.start()
        started = time.monotonic()
        run = _run_locust(
            workdir, info, {"merchants": merchants, "admin_token": admin["Authorization"]}
        )
        elapsed = time.monotonic() - started
        payer.stop.set()
        paying.join(timeout=30)
        box.fail_share = 0.0  # let every retry through before counting
        checked = _check(info, admin, payer.sent, merchants, box)
        server.shutdown()
    finally:
        sampling.set()
        if flaky:
            flaky.stop.set()
        stack.stop()
    unplanned = [e for e in stack.worker_errors if "SimulatedCrash" not in e]
    statuses = Counter({k: v for k, v in run["statuses"].items()})
    errors_5xx = sum(v for k, v in statuses.items() if int(k.rsplit(" ", 1)[1]) >= 500)
    errors_4xx = sum(v for k, v in statuses.items() if 400 <= int(k.rsplit(" ", 1)[1]) < 500)
    total = run["routes"].get("all", {}).get("requests", 0)
    report = {
        "requests": total,
        "errors_5xx": errors_5xx,
        "errors_4xx": errors_4xx,
        "duration_s": round(elapsed, 1),
        "users": USERS,
        "merchants": MERCHANTS,
        "faults": FAULTS,
        "routes": run["routes"],
        "statuses": dict(sorted(statuses.items())),
        **checked,
        "payer_errors": payer.errors[:10],
        "worker_errors": len(unplanned),
        "worker_errors_sample": unplanned[:10],
        "faults_injected": {
            "rpc_outages": flaky.outages if flaky else 0,
            "settlement_crashes": len(stack.worker_errors) - len(unplanned),
            "webhook_failures_503": box.answered.get(503, 0),
        },
        "samples": samples,
        "webhook_answers": {str(k): v for k, v in box.answered.items()},
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "goals": {
            "requests_at_least": MIN_REQUESTS,
            "met": total >= MIN_REQUESTS
            and errors_5xx == 0
            and checked["lost_payments"] == 0
            and checked["double_credits"] == 0
            and not checked["ledger_drift_after"],
        },
        "machine": machine(),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    name = "load-soak" if FAULTS else "load"
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    _chart(workdir, RESULTS_DIR / f"{name}.png")
    print(
        f"\n{total} requests in {elapsed:.0f} s, 5xx {errors_5xx}, 4xx {errors_4xx}; "
        f"paid on chain {checked['payments_paid_on_chain']}, lost {checked['lost_payments']}, "
        f"double {checked['double_credits']}, "
        f"paid webhooks missing {checked['paid_webhooks_missing']}"
    )
    for route, figures in sorted(run["routes"].items()):
        print(
            f"  {route:<34} {figures['requests']:>7} req {figures['rps']:>7} rps "
            f"p50 {figures['p50_ms']:>6.0f} p95 {figures['p95_ms']:>6.0f} "
            f"p99 {figures['p99_ms']:>6.0f} ms"
        )
    print(f"wrote {RESULTS_DIR / (name + '.json')} and {name}.png (logs in {workdir})")


if __name__ == "__main__":
    main()
