"""End-to-end throughput and DynamoDB write units per payment (issue 16 §2).

The whole local stack runs in this process (moto, anvil with 0.45 s blocks, the API
emulator, the scanner, settlement and webhook workers). A merchant with one webhook
endpoint creates ``N_PAYMENTS`` payments over the signed API and ``N_PAYERS`` customers
pay them on chain at once; the run ends when every payment is paid, its ``payment.paid``
webhook has arrived and its deposit address has been swept. The figure is payments per
second from the first create to the last of those.

Every DynamoDB request moto serves is counted (moto has no capacity accounting, so the
units are computed the way DynamoDB bills on-demand capacity): a write is
ceil(item size / 1 KB) write units, twice that inside a transaction, plus, for each global
secondary index whose entry the write adds, removes or changes (its keys or projected
attributes), ceil(entry size / 1 KB), twice when the entry's key changed; a read is
ceil(size / 4 KB) units of what was returned (strongly consistent: 1, eventually: 0.5).
Item sizes are moto's (attribute names plus values). The chain-following writes the
stack makes with no payments at all (the scanner's cursor, leases) are measured in an
idle window first and taken off, so "per payment" is what a payment adds; the fixed rate
is reported beside it (the cost model, ``bench/cost.py``, uses both).

    .venv/bin/python -m bench.scale        # writes bench/results/scale.json
"""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.common import RESULTS_DIR, machine

N_PAYMENTS = 40
N_PAYERS = 4
IDLE_S = 20.0
TIMEOUT_S = 300.0
GOAL_WRITE_UNITS_PER_PAYMENT = 30


@dataclass
class Meter:
    """DynamoDB units by table and action, from the requests moto serves."""

    write_units: Counter[str] = field(default_factory=Counter)
    items_written: Counter[str] = field(default_factory=Counter)  # by "table action"
    read_units: dict[str, float] = field(default_factory=dict)  # may hold halves
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> tuple[float, float, int]:
        with self.lock:
            return (
                sum(self.write_units.values()),
                sum(self.read_units.values()),
                sum(self.requests.values()),
            )

    def by_table(self) -> dict[str, float]:
        with self.lock:
            totals: Counter[str] = Counter()
            for key, units in self.write_units.items():
                totals[key.split(" ", 1)[0]] += units
            return dict(totals)

    def requests_by_action(self) -> dict[str, int]:
        with self.lock:
            return dict(self.requests)

    def by_action(self) -> dict[str, tuple[float, int]]:
        with self.lock:
            return {k: (v, self.items_written[k]) for k, v in self.write_units.items()}


def _units(size: int, per: int) -> int:
    return max(1, math.ceil(size / per))


def _item_size(table: Any, key: dict[str, Any]) -> tuple[int, Any]:
    """moto's size of the stored item under ``key`` (0 when there is none)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    try:
        item = table.get_item(hash_value, range_value)
    except Exception:
        return 0, None
    # A copy: moto updates the stored item in place, and the index units compare versions.
    return (item.size(), copy.deepcopy(item)) if item is not None else (0, None)


def _in_index(index: Any, item: Any) -> bool:
    """Whether ``item`` has an entry in ``index`` (sparse indexes leave most out)."""
    return item is not None and all(k in item.attrs for k in index.schema_key_attrs)


def _gsi_units(table: Any, old: Any, new: Any) -> int:
    """Write units the indexes take for one item going from ``old`` to ``new`` (None:
    absent), as DynamoDB bills them: nothing where the item is in neither version, or
    where nothing the index holds (its keys and projected attributes) changed; one write
    of the entry's size to add, remove or rewrite it; two when its key changed (the old
    entry is deleted, the new one put)."""
    units = 0
    for index in getattr(table, "global_indexes", []):
        was, now = _in_index(index, old), _in_index(index, new)
        if not was and not now:
            continue
        before = index.project(old) if was else None
        after = index.project(new) if now else None
        size = max(_units(e.size(), 1024) for e in (before, after) if e is not None)
        if before is None or after is None:
            units += size
        elif any(before.attrs.get(k) != after.attrs.get(k) for k in index.schema_key_attrs):
            units += 2 * size
        elif before.attrs != after.attrs:
            units += size
    return units


def _key_of(table: Any, item: dict[str, Any]) -> dict[str, Any]:
    key = {table.hash_key_attr: item[table.hash_key_attr]}
    if table.range_key_attr:
        key[table.range_key_attr] = item[table.range_key_attr]
    return key


@contextmanager
def metered() -> Iterator[Meter]:
    """Count every DynamoDB request moto serves in this process."""
    from moto.dynamodb.responses import DynamoHandler

    meter = Meter()
    original = DynamoHandler.call_action

    def call_action(self: DynamoHandler) -> Any:
        body = getattr(self, "params", {}) or {}
        action = self._get_action()
        backend = self.dynamodb_backend
        writes: list[tuple[str, dict[str, Any], bool]] = []  # table, key, in a transaction
        before: dict[int, Any] = {}
        try:
            if action == "PutItem":
                writes.append((body["TableName"], body["Item"], False))
            elif action in ("UpdateItem", "DeleteItem"):
                writes.append((body["TableName"], body["Key"], False))
            elif action == "TransactWriteItems":
                for op in body.get("TransactItems", []):
                    for kind in ("Put", "Update", "Delete"):
                        if kind in op:
                            spec = op[kind]
                            writes.append(
                                (spec["TableName"], spec.get("Item") or spec["Key"], True)
                            )
            elif action == "BatchWriteItem":
                for name, requests in body.get("RequestItems", {}).items():
                    for r in requests:
                        item = (r.get("PutRequest") or {}).get("Item") or (
                            r.get("DeleteRequest") or {}
                        ).get("Key")
                        if item:
                            writes.append((name, dict(item), False))
            for n, (name, item, _) in enumerate(writes):
                table = backend.get_table(name)
                before[n] = _item_size(table, _key_of(table, item))
        except Exception:
            writes = []
        response = original(self)
        status = response[0] if isinstance(response, tuple) else 200
        if status != 200:
            return response
        with meter.lock:
            meter.requests[f"{body.get('TableName') or 'several tables'} {action}"] += 1
            for n, (name, item, transactional) in enumerate(writes):
                try:
                    table = backend.get_table(name)
                    size_after, after = _item_size(table, _key_of(table, item))
                except Exception:
                    continue
                size_before, old = before.get(n, (0, None))
                units = _units(max(size_before, size_after), 1024)
                total = units * (2 if transactional else 1) + _gsi_units(table, old, after)
                meter.write_units[f"{name} {action}"] += total
                meter.items_written[f"{name} {action}"] += 1
            if action in ("GetItem", "Query", "Scan", "BatchGetItem"):
                raw = response[2] if isinstance(response, tuple) else response
                size = len(raw) if isinstance(raw, str | bytes) else 0
                consistent = bool(body.get("ConsistentRead"))
                read = _units(size, 4096) * (1.0 if consistent else 0.5)
                table_name = body.get("TableName") or ",".join(body.get("RequestItems", {}))
                name = f"{table_name} {action}"
                meter.read_units[name] = meter.read_units.get(name, 0.0) + read
        return response

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    try:
        yield meter
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]


def run(progress: Any = print) -> dict[str, Any]:
    from eth_account import Account

    from bench.detection import _Receiver
    from merchant.bscpay_merchant import Client
    from shared.local import chain
    from shared.local.stack import LocalStack, StackConfig

    cfg = StackConfig(
        api_port=chain.free_port(),
        rpc_port=chain.free_port(),
        aws_port=chain.free_port(),
        prefix="bscpay-scale",
        state_file=None,
        expirer_interval_s=2.0,  # the sweep planner runs with the expirer
    )
    stack = LocalStack(cfg).start()
    receiver = _Receiver()
    server = receiver.serve(chain.free_port())
    try:
        info = stack.info
        rpc_url, token = info["rpc_url"], info["token_address"]
        m = info["merchant"]
        client = Client(info["api_url"], m["api_key_id"], m["api_secret"])
        client.request(
            "POST",
            "/v1/webhook_endpoints",
            {"url": f"http://127.0.0.1:{server.server_port}/hooks", "events": ["payment.paid"]},
        )
        payers = [info["customer"]["private_key"]]
        for _ in range(N_PAYERS - 1):
            account = Account.create()
            chain.rpc_call(rpc_url, "anvil_setBalance", account.address, hex(10**20))
            chain.transfer(rpc_url, token, payers[0], account.address, 100_000 * 10**18)
            payers.append(account.key.to_0x_hex())
        with metered() as meter:
            progress(f"  idle window: {IDLE_S:.0f} s of chain following with no payments")
            w0, r0, q0 = meter.snapshot()
            time.sleep(IDLE_S)
            w1, r1, q1 = meter.snapshot()
            idle_w, idle_r = (w1 - w0) / IDLE_S, (r1 - r0) / IDLE_S
            idle_q = (q1 - q0) / IDLE_S
            requests_before = meter.requests_by_action()
            progress(f"  {N_PAYMENTS} payments from {N_PAYERS} payers, end to end")
            by_table_before, by_action_before = meter.by_table(), meter.by_action()
            started = time.monotonic()
            payments = [
                client.request("POST", "/v1/payments", {"amount": f"{5 + i}.5"})
                for i in range(N_PAYMENTS)
            ]
            threads = [
                threading.Thread(
                    target=_pay_all,
                    args=(rpc_url, token, key, payments[n::N_PAYERS]),
                    daemon=True,
                )
                for n, key in enumerate(payers)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(TIMEOUT_S)
            done_at = _wait_done(client, receiver, rpc_url, token, payments, started)
            elapsed = done_at - started
            w2, r2, q2 = meter.snapshot()
            by_table_after, by_action_after = meter.by_table(), meter.by_action()
            requests_after = meter.requests_by_action()
        per_payment_w = (w2 - w1 - idle_w * elapsed) / N_PAYMENTS
        per_payment_r = (r2 - r1 - idle_r * elapsed) / N_PAYMENTS
        tables = {
            name: round(
                (by_table_after.get(name, 0) - by_table_before.get(name, 0)) / N_PAYMENTS, 1
            )
            for name in sorted(by_table_after)
            if by_table_after.get(name, 0) - by_table_before.get(name, 0) > 0
        }
        # Where the units go: per payment, each table's action, its units and items written
        actions = {}
        for key, (units, items) in sorted(by_action_after.items()):
            units0, items0 = by_action_before.get(key, (0, 0))
            if units > units0:
                actions[key] = {
                    "write_units": round((units - units0) / N_PAYMENTS, 1),
                    "items": round((items - items0) / N_PAYMENTS, 1),
                }
        return {
            "payments": N_PAYMENTS,
            "payers": N_PAYERS,
            "seconds": round(elapsed, 1),
            "payments_per_s": round(N_PAYMENTS / elapsed, 2),
            "pipeline": "created -> paid (final) -> payment.paid webhook received -> swept",
            "write_units_per_payment": round(per_payment_w, 1),
            "read_units_per_payment": round(per_payment_r, 1),
            "write_units_per_payment_by_table": tables,
            "write_units_per_payment_by_action": actions,
            "fixed_write_units_per_s": round(idle_w, 2),
            "fixed_read_units_per_s": round(idle_r, 2),
            "dynamodb_requests_in_run": q2 - q1,
            "dynamodb_requests_per_payment": round((q2 - q1 - idle_q * elapsed) / N_PAYMENTS, 1),
            # (chain following's own requests included: mostly the system table's)
            "dynamodb_requests_per_payment_by_action": {
                key: round((n - requests_before.get(key, 0)) / N_PAYMENTS, 2)
                for key, n in sorted(requests_after.items())
                if n > requests_before.get(key, 0)
            },
            "goal": {
                "write_units_per_payment_at_most": GOAL_WRITE_UNITS_PER_PAYMENT,
                "met": per_payment_w <= GOAL_WRITE_UNITS_PER_PAYMENT,
            },
            "worker_errors": list(stack.worker_errors),
            "notes": [
                "write units: ceil(size/1KB), x2 in a transaction, + per GSI whose entry "
                "the write adds, removes or changes ceil(entry size/1KB), x2 when its key "
                "changed; reads: ceil(size/4KB) of the answer, x0.5 when eventually "
                "consistent (moto has no capacity accounting).",
                "per payment = (units during the run - the idle rate x its length) / payments.",
                "2 cores shared by anvil, moto, the API emulator and every worker: a floor, "
                "not Lambda's throughput.",
            ],
        }
    finally:
        server.shutdown()
        stack.stop()


def _pay_all(rpc_url: str, token: str, key: str, payments: list[dict[str, Any]]) -> None:
    from shared.local import chain

    for p in payments:
        chain.transfer(rpc_url, token, key, p["address"], int(float(p["amount"]) * 10) * 10**17)


def _wait_done(
    client: Any,
    receiver: Any,
    rpc_url: str,
    token: str,
    payments: list[dict[str, Any]],
    started: float,
) -> float:
    from shared.local import chain

    waiting = {p["id"]: p["address"] for p in payments}
    deadline = started + TIMEOUT_S
    while waiting and time.monotonic() < deadline:
        with receiver.lock:
            hooked = {json.loads(a.body)["data"]["object"]["id"] for a in receiver.arrivals}
        for pid, address in list(waiting.items()):
            if pid in hooked and chain.token_balance(rpc_url, token, address) == 0:
                del waiting[pid]
        time.sleep(0.2)
    if waiting:
        raise RuntimeError(f"{len(waiting)} payments not paid, announced and swept in time")
    return time.monotonic()


def main() -> None:
    started = time.monotonic()
    result = run()
    result.update({"machine": machine(), "bench_seconds": round(time.monotonic() - started, 1)})
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "scale.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"scale: {result['payments_per_s']} payments/s end to end; "
        f"{result['write_units_per_payment']} write units per payment "
        f"(goal <= {GOAL_WRITE_UNITS_PER_PAYMENT}); fixed {result['fixed_write_units_per_s']} WU/s"
    )


if __name__ == "__main__":
    main()
