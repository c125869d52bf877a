"""Cold-start import cost of the request-path functions (issue 15 §1).

For each of the merchant API, the admin API and the webhook dispatcher: a fresh
``python -c "import functions.<name>.handler"`` and a fresh ``python -c "import boto3"``
are started in turn (A B A B ...; pairing keeps the ratio meaningful when the machine's
speed drifts), ``RUNS`` pairs after one warm-up pair, and the median of the pair-by-pair
ratios is the figure (goal: <= 1.5). ``python -X importtime`` names each function's most
expensive imports. The Lambda layer's size is reported when ``make layers`` built it.

What is imported is what Lambda imports (ADR 0038): the app code as ``layers/build.py``
packages it (pre-compiled; /var/task is read-only, so source shipped without bytecode
would be compiled at every cold start), with Lambda's own environment variables set, so
libraries take their in-Lambda paths (the X-Ray SDK, for one, builds an X-Ray API client
at import everywhere except in Lambda). The ``floor`` is the same ratio for the
libraries an API function is made of before any bscpay code: boto3, pydantic's model
machinery, pynamodb, Powertools' logger and event handler.

    .venv/bin/python -m bench.coldstart    # writes bench/results/coldstart.json
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, RESULTS_DIR, machine

FUNCTIONS = ("merchant_api", "admin_api", "webhook_dispatcher")
RUNS = int(os.environ.get("BENCH_COLDSTART_RUNS", "7"))
GOAL = 1.5
# The libraries an API function needs before any bscpay code runs.
FLOOR = (
    "import boto3, pynamodb.models, aws_lambda_powertools.logging, "
    "aws_lambda_powertools.event_handler; from pydantic import BaseModel"
)
# As in Lambda: no local-stack settings, tracing as configured there (active), and the
# variables the runtime sets (libraries branch on them).
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("BSCPAY_", "POWERTOOLS_"))}
ENV.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_NAME": "bscpay-coldstart-bench",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
)


def _lambda_env(task_root: Path) -> dict[str, str]:
    return {**ENV, "LAMBDA_TASK_ROOT": str(task_root), "PYTHONPATH": str(task_root)}


def _packaged_app(out: Path) -> Path:
    """functions/ and shared/ as the deploy packages them (layers/build.py app)."""
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "layers" / "build.py"), "app", "--out", str(out)],
        check=True,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
    )
    return out


def _wall(code: str, task_root: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=task_root, env=_lambda_env(task_root)
    )
    return time.perf_counter() - started


def _ratio(function: str, task_root: Path) -> dict[str, Any]:
    baseline = "import boto3"
    _wall(function, task_root), _wall(baseline, task_root)  # warm-up: the page cache
    pairs = [(_wall(function, task_root), _wall(baseline, task_root)) for _ in range(RUNS)]
    ratios = [a / b for a, b in pairs]
    return {
        "ratio_median": round(statistics.median(ratios), 2),
        "ratio_min": round(min(ratios), 2),
        "ratio_max": round(max(ratios), 2),
        "import_s_median": round(statistics.median(a for a, _ in pairs), 3),
        "boto3_s_median": round(statistics.median(b for _, b in pairs), 3),
        "runs": RUNS,
    }


def _top_imports(module: str, task_root: Path, count: int = 8) -> list[dict[str, Any]]:
    """The most expensive top-level packages by cumulative import time."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=task_root,
        env=_lambda_env(task_root),
        capture_output=True,
        text=True,
        check=True,
    )
    costs: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        _, cumulative, name = line.split("|", 2)
        stripped = name.rstrip()
        # importtime indents nested imports by two spaces after one leading space
        depth = (len(stripped) - len(stripped.lstrip()) - 1) // 2
        if depth <= 1:  # the module itself and what it imports directly
            try:
                costs[stripped.strip()] = int(cumulative)
            except ValueError:
                continue
    ranked = sorted(costs.items(), key=lambda kv: kv[1], reverse=True)
    return [{"module": m, "cumulative_ms": round(us / 1000, 1)} for m, us in ranked[:count]]


def _layer_size() -> dict[str, Any]:
    deps = REPO_ROOT / "layers" / "build" / "deps" / "python"
    if not deps.is_dir():
        return {"built": False, "note": "run `make layers` to build and measure the layer"}
    files = [p for p in deps.rglob("*") if p.is_file()]
    by_package: dict[str, int] = {}
    for path in files:
        top = path.relative_to(deps).parts[0]
        by_package[top] = by_package.get(top, 0) + path.stat().st_size
    biggest = sorted(by_package.items(), key=lambda kv: kv[1], reverse=True)[:10]
    return {
        "built": True,
        "unzipped_mb": round(sum(by_package.values()) / 2**20, 1),
        "largest_mb": {name: round(size / 2**20, 1) for name, size in biggest},
    }


def main() -> None:
    report: dict[str, Any] = {"goal_ratio_at_most": GOAL, "functions": {}}
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        task_root = _packaged_app(Path(tmp) / "task")
        for name in FUNCTIONS:
            module = f"functions.{name}.handler"
            figures = _ratio(f"import {module}", task_root)
            figures["top_imports"] = _top_imports(module, task_root)
            figures["met"] = figures["ratio_median"] <= GOAL
            report["functions"][name] = figures
            print(
                f"{name:<20} {figures['ratio_median']:>5}x import boto3 (median of {RUNS}; "
                f"{figures['import_s_median']} s vs {figures['boto3_s_median']} s)"
            )
        floor = _ratio(FLOOR, task_root)
        report["floor"] = {"imports": FLOOR, **floor}
        print(f"{'floor (libraries)':<20} {floor['ratio_median']:>5}x import boto3")
    report["layer"] = _layer_size()
    report["machine"] = machine()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "coldstart.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
