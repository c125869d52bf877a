"""``python -m bench`` (``make bench``): the scanner figures of DESIGN §8.

Runs (a) matching throughput, (b) detection latency on the local stack and (c) catch-up
over a backlog, prints a table and writes bench/results/scanner.json. Figures only: a
missed goal is reported, never raised. ``--only`` runs some sections and writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TextIO

from bench import catchup, detection, matching
from bench.common import REPO_ROOT, RESULTS_DIR, machine

SECTIONS = ("matching", "detection", "catchup")
GOALS = {
    "match_logs_per_s": (">=", 20_000.0),
    "match_speedup_vs_naive": (">=", 5.0),
    "detect_p95_s": ("<=", 1.5),
}


class _Console:
    """Progress lines go to the real stdout while a section's own prints are captured
    (Powertools prints EMF metric blobs once a metric holds 100 values)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, line: str) -> None:
        print(line, file=self.out, flush=True)


@contextlib.contextmanager
def _quiet(console: _Console) -> Any:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield
    for line in buffer.getvalue().splitlines():
        if line.strip() and not line.startswith('{"_aws"'):
            console(f"  | {line}")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _verdict(key: str, value: float) -> str:
    if key not in GOALS:
        return ""
    op, goal = GOALS[key]
    ok = value >= goal if op == ">=" else value <= goal
    return f"{op} {goal:g}  {'ok' if ok else 'MISSED'}"


def _table(figures: dict[str, Any]) -> str:
    rows = [
        ("match_logs_per_s", "logs/s", "{:,.0f}"),
        ("naive_logs_per_s", "logs/s", "{:,.0f}"),
        ("match_speedup_vs_naive", "x", "{:.1f}"),
        ("detect_p50_s", "s", "{:.3f}"),
        ("detect_p95_s", "s", "{:.3f}"),
        ("catchup_blocks_per_s", "blocks/s", "{:,.1f}"),
    ]
    lines = [f"{'figure':<24} {'value':>12} {'unit':<9} goal", "-" * 62]
    for key, unit, fmt in rows:
        if key in figures:
            value = figures[key]
            lines.append(f"{key:<24} {fmt.format(value):>12} {unit:<9} {_verdict(key, value)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only this section")
    parser.add_argument(
        "--catchup-blocks",
        type=int,
        default=catchup.N_BLOCKS,
        help=f"backlog size for (c) (default {catchup.N_BLOCKS:,})",
    )
    args = parser.parse_args(argv)
    sections = args.only or list(SECTIONS)
    catchup.N_BLOCKS = args.catchup_blocks
    console = _Console(sys.stdout)
    started = time.monotonic()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    figures: dict[str, Any] = {}
    context: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "machine": machine(),
        "load_avg_at_start": [round(x, 2) for x in load] if load else None,
    }

    if "matching" in sections:
        console("(a) matching throughput: raw Transfer logs vs 1,000,000 active addresses")
        with _quiet(console):
            m = matching.run(console)
        figures["match_logs_per_s"] = round(m.match_logs_per_s, 1)
        figures["naive_logs_per_s"] = round(m.naive_logs_per_s, 1)
        figures["match_speedup_vs_naive"] = round(m.speedup, 1)
        context["matching"] = {
            "n_logs": m.n_logs,
            "n_naive_logs": m.n_naive_logs,
            "n_addresses": m.n_addresses,
            "match_fraction": matching.MATCH_FRACTION,
            "matched_per_round": m.matched_per_round,
            "fast_rounds_logs_per_s": [round(x) for x in m.fast_rounds_logs_per_s],
            "naive_rounds_logs_per_s": [round(x) for x in m.naive_rounds_logs_per_s],
            "statistic": "median of rounds",
            "pinned_cpu": m.cpu,
            "tokens_configured": sorted(matching.TOKENS),  # USDT, USDC, FDUSD (issue 14)
        }

    if "detection" in sections:
        console("(b) detection latency: block final -> signed payment.paid webhook received")
        with _quiet(console):
            d = detection.run(console)
        figures["detect_p50_s"] = round(d.detect_p50_s, 4)
        figures["detect_p95_s"] = round(d.detect_p95_s, 4)
        context["detection"] = {
            **{k: v for k, v in asdict(d).items() if k not in ("detect_p50_s", "detect_p95_s")},
            "payers_at_once": detection.N_PAYERS,
            "block_time_s": 0.45,
            "finality_poll_s": detection.POLL_S,
        }

    if "catchup" in sections:
        console(f"(c) catch-up: Scanner over {catchup.N_BLOCKS:,} blocks x 80 Transfer logs")
        with _quiet(console):
            c = catchup.run(console)
        figures["catchup_blocks_per_s"] = round(c.catchup_blocks_per_s, 2)
        context["catchup"] = {
            k: (round(v, 3) if isinstance(v, float) else v)
            for k, v in asdict(c).items()
            if k != "catchup_blocks_per_s"
        }

    # Detection and catch-up run the local stack, which accepts USDT, USDC and FDUSD:
    # one eth_getLogs asks for all three addresses (issue 14 §3).
    context["tokens_configured"] = 3
    context["bench_seconds"] = round(time.monotonic() - started, 1)
    console("")
    console(_table(figures))
    console(f"\n({context['bench_seconds']:.0f} s)")
    if set(sections) != set(SECTIONS):
        console("partial run (--only): bench/results/scanner.json not written")
        return 0
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    target = RESULTS_DIR / "scanner.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({**figures, **context}, indent=2) + "\n")
    tmp.replace(target)
    console(f"wrote {target.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
