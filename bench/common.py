"""Small helpers shared by the bench sections: machine facts, percentiles, raw JSON-RPC."""

from __future__ import annotations

import http.client
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
CONTRACTS_DIR = REPO_ROOT / "bench" / "contracts"


def load_bench_artifact(name: str) -> dict[str, Any]:
    """A bench-only contract compiled by bench/contracts/compile.mjs (committed JSON)."""
    artifact: dict[str, Any] = json.loads((CONTRACTS_DIR / f"{name}.json").read_text())
    return artifact


def percentile(values: list[float], p: float) -> float:
    """Linear-interpolated percentile (like numpy's default), p in [0, 100]."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "anvil": _anvil_version(),
    }


def _anvil_version() -> str | None:
    from shared.local.chain import AnvilError, anvil_binary

    try:
        out = subprocess.run(
            [str(anvil_binary()), "--version"], capture_output=True, text=True, timeout=10
        )
    except (AnvilError, OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else None


class Rpc:
    """Minimal JSON-RPC over one keep-alive HTTP connection (not thread-safe: one per thread).

    Used for the bench's own polling and bulk calls so that web3's per-call overhead
    does not distort what is being timed."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._timeout = timeout
        self._conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        self._ids = 0

    def _post(self, payload: Any) -> Any:
        body = json.dumps(payload)
        for attempt in (1, 2):
            try:
                self._conn.request(
                    "POST", "/", body=body, headers={"Content-Type": "application/json"}
                )
                return json.loads(self._conn.getresponse().read())
            except (http.client.HTTPException, ConnectionError):
                self._conn.close()
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout
                )
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def call(self, method: str, *params: Any) -> Any:
        self._ids += 1
        reply = self._post({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params})
        if reply.get("error"):
            raise RuntimeError(f"{method} failed: {reply['error']}")
        return reply.get("result")

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several calls in one HTTP request; results in call order. Raises on any error."""
        payload = []
        for method, params in calls:
            self._ids += 1
            payload.append({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params})
        first = self._ids - len(calls) + 1
        replies = {r["id"]: r for r in self._post(payload)}
        results = []
        for i, (method, _) in enumerate(calls):
            reply = replies[first + i]
            if reply.get("error"):
                raise RuntimeError(f"{method} failed: {reply['error']}")
            results.append(reply.get("result"))
        return results

    def close(self) -> None:
        self._conn.close()
