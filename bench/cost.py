"""The monthly AWS bill, estimated from measured figures (issue 16 §3).

Inputs: ``bench/results/scale.json`` (DynamoDB write and read units per payment and the
fixed rate of chain following, measured by ``bench.scale``), the functions' memory and
schedules (``shared.resources``), the scanner's measured CPU (``bench.scanner_sizing``:
its idle share and CPU per transfer size its memory for each volume's peak rate) and
the synthesized template's fixed resources (alarms, keys, secrets, the WebACL and its
rules, the dashboard). Prices: us-east-1 list prices
(on-demand DynamoDB, x86 Lambda, REST API Gateway), written below with their units.
Assumptions per payment are named in ``ASSUMPTIONS`` and written to the result.

    .venv/bin/python -m bench.cost         # writes bench/results/cost.json
"""

from __future__ import annotations

import json
from typing import Any

from bench.common import RESULTS_DIR
from shared import resources

MONTH_S = 30 * 24 * 3600
VOLUMES = (10_000, 1_000_000)
GOAL_USD_AT_10K = 50.0

PRICES = {
    "lambda_gb_s": 0.0000166667,
    "lambda_request": 0.20 / 1e6,
    "dynamodb_write_unit": 0.625 / 1e6,
    "dynamodb_read_unit": 0.125 / 1e6,
    "dynamodb_storage_gb": 0.25,
    "dynamodb_pitr_gb": 0.20,
    "api_gateway_request": 3.50 / 1e6,
    "sqs_request": 0.40 / 1e6,
    "sqs_fifo_request": 0.50 / 1e6,
    "kms_key_month": 1.00,
    "kms_request": 0.03 / 1e4,
    "secret_month": 0.40,
    "alarm_month": 0.10,
    "dashboard_month": 3.00,
    "custom_metric_month": 0.30,
    "waf_acl_month": 5.00,
    "waf_rule_month": 1.00,
    "waf_request": 0.60 / 1e6,
    "logs_ingest_gb": 0.50,
}

ASSUMPTIONS = {
    # merchant API: create + one read; the hosted checkout polls its status every ~2 s
    # for about a minute
    "merchant_api_requests_per_payment": 2,
    "checkout_polls_per_payment": 30,
    "api_lambda_seconds_per_request": 0.05,
    "webhook_events_per_payment": 2,  # payment.confirming + payment.paid
    "webhook_lambda_seconds_per_delivery": 0.15,
    "kms_requests_per_payment": 3,  # API-key secret (cached per container), webhook signing
    # what the scanner's one-minute invocation runs of each minute (it follows the chain
    # until its safety margin), and the sweep and settlement work per payment
    "scanner_busy_share": (60 - 8) / 60,
    "settlement_lambda_seconds_per_payment": 0.5,
    "log_bytes_per_payment": 6_000,
    "item_bytes_per_payment": 12_000,  # payment, address, transfer, events, ledger, audit
    "custom_metrics": 30,  # EMF metrics with their dimensions (scanner, settlement, API)
    # the scanner is sized for the busiest minutes, not the month's average rate
    "peak_to_average_rate": 20,
}


def scanner_memory_mb(payments_per_month: int, sizing: dict[str, Any] | None) -> int:
    """The scanner's size for a volume: shared.resources' without a sizing measurement,
    else the smallest with twice the CPU its peak rate needs (bench.scanner_sizing)."""
    if sizing is None:
        return next(f.memory_mb for f in resources.FUNCTIONS if f.name == "chain_scanner")
    from bench.scanner_sizing import CPU_HEADROOM, RSS_HEADROOM, smallest_size

    peak_rate = payments_per_month / MONTH_S * ASSUMPTIONS["peak_to_average_rate"]
    share = sizing["idle_cpu_share"] + peak_rate * sizing["cpu_s_per_transfer"]
    # the memory measured at a load at least this volume's peak
    light = peak_rate <= sizing.get("light_payments_per_s", 0)
    rss = sizing["peak_rss_mb_light"] if light else sizing["peak_rss_mb"]
    return smallest_size(share * CPU_HEADROOM, rss * RSS_HEADROOM)


def _fixed(
    template: dict[str, Any] | None, scale: dict[str, Any], scanner_mb: int
) -> dict[str, float]:
    """What the stack costs a month with no payments at all."""
    scanner_gb_s = scanner_mb / 1024 * MONTH_S * ASSUMPTIONS["scanner_busy_share"]
    # the other scheduled functions: one short run per schedule tick
    scheduled = sum(
        f.memory_mb / 1024 * 2.0 * (MONTH_S / 60 / f.schedule_rate_minutes)
        for f in resources.FUNCTIONS
        if f.schedule_rate_minutes and f.name != "chain_scanner"
    )
    counts = {"alarms": 27, "secrets": 2, "waf_rules": 3, "kms_keys": len(resources.KMS_KEYS)}
    if template is not None:
        types = [r["Type"] for r in template["Resources"].values()]
        counts["alarms"] = types.count("AWS::CloudWatch::Alarm")
        counts["secrets"] = types.count("AWS::SecretsManager::Secret")
        counts["kms_keys"] = types.count("AWS::KMS::Key")
        counts["waf_rules"] = sum(
            len(r["Properties"].get("Rules", []))
            for r in template["Resources"].values()
            if r["Type"] == "AWS::WAFv2::WebACL"
        )
    return {
        "scanner_lambda": scanner_gb_s * PRICES["lambda_gb_s"],
        "other_scheduled_lambdas": scheduled * PRICES["lambda_gb_s"],
        "chain_following_dynamodb_writes": scale["fixed_write_units_per_s"]
        * MONTH_S
        * PRICES["dynamodb_write_unit"],
        "chain_following_dynamodb_reads": scale["fixed_read_units_per_s"]
        * MONTH_S
        * PRICES["dynamodb_read_unit"],
        "alarms": counts["alarms"] * PRICES["alarm_month"],
        "dashboard": PRICES["dashboard_month"],
        "custom_metrics": ASSUMPTIONS["custom_metrics"] * PRICES["custom_metric_month"],
        "kms_keys": counts["kms_keys"] * PRICES["kms_key_month"],
        "secrets": counts["secrets"] * PRICES["secret_month"],
        "waf": PRICES["waf_acl_month"] + counts["waf_rules"] * PRICES["waf_rule_month"],
    }


def _per_payment(scale: dict[str, Any]) -> dict[str, float]:
    a = ASSUMPTIONS
    api_requests = a["merchant_api_requests_per_payment"] + a["checkout_polls_per_payment"]
    api_gb_s = api_requests * a["api_lambda_seconds_per_request"] * 0.5
    hooks = a["webhook_events_per_payment"]
    return {
        "dynamodb_writes": scale["write_units_per_payment"] * PRICES["dynamodb_write_unit"],
        "dynamodb_reads": scale["read_units_per_payment"] * PRICES["dynamodb_read_unit"],
        "dynamodb_storage_and_pitr": a["item_bytes_per_payment"]
        / 1e9
        * (PRICES["dynamodb_storage_gb"] + PRICES["dynamodb_pitr_gb"]),
        "api_gateway": api_requests * PRICES["api_gateway_request"],
        "waf_requests": api_requests * PRICES["waf_request"],
        "api_lambdas": api_gb_s * PRICES["lambda_gb_s"] + api_requests * PRICES["lambda_request"],
        "webhooks": hooks
        * (
            a["webhook_lambda_seconds_per_delivery"] * 0.5 * PRICES["lambda_gb_s"]
            + PRICES["lambda_request"]
            + 3 * PRICES["sqs_request"]  # send, receive, delete
        ),
        "settlement": a["settlement_lambda_seconds_per_payment"] * 0.5 * PRICES["lambda_gb_s"]
        + 3 * PRICES["sqs_fifo_request"] / 10,
        "kms": a["kms_requests_per_payment"] * PRICES["kms_request"],
        "logs": a["log_bytes_per_payment"] / 1e9 * PRICES["logs_ingest_gb"],
    }


def model(
    scale: dict[str, Any],
    template: dict[str, Any] | None = None,
    sizing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    memory = {n: scanner_memory_mb(n, sizing) for n in VOLUMES}
    fixed_by_volume = {n: _fixed(template, scale, memory[n]) for n in VOLUMES}
    fixed = fixed_by_volume[VOLUMES[0]]
    per = _per_payment(scale)
    fixed_total = sum(fixed.values())
    per_total = sum(per.values())
    out: dict[str, Any] = {
        "fixed_usd_per_month": {k: round(v, 2) for k, v in sorted(fixed.items())},
        "fixed_total_usd": round(fixed_total, 2),
        "per_payment_usd": {k: round(v, 9) for k, v in sorted(per.items())},
        "per_payment_total_usd": round(per_total, 9),
        "monthly_usd": {
            str(n): round(sum(fixed_by_volume[n].values()) + per_total * n, 2) for n in VOLUMES
        },
        "scanner_memory_mb": {str(n): memory[n] for n in VOLUMES},
        "inputs_measured": {
            k: scale[k]
            for k in (
                "write_units_per_payment",
                "read_units_per_payment",
                "fixed_write_units_per_s",
                "fixed_read_units_per_s",
            )
        },
        "scanner_sizing_measured": None
        if sizing is None
        else {
            k: sizing.get(k)
            for k in (
                "idle_cpu_share",
                "cpu_s_per_transfer",
                "peak_rss_mb",
                "peak_rss_mb_light",
                "light_payments_per_s",
            )
        },
        "assumptions": ASSUMPTIONS,
        "prices_usd": PRICES,
    }
    out["goal"] = {
        "usd_at_10k_at_most": GOAL_USD_AT_10K,
        "met": out["monthly_usd"]["10000"] <= GOAL_USD_AT_10K,
    }
    return out


def _template() -> dict[str, Any] | None:
    from bench.common import REPO_ROOT

    path = REPO_ROOT / "cdk.out" / "BscpayStack.template.json"
    return json.loads(path.read_text()) if path.exists() else None


def main() -> None:
    scale = json.loads((RESULTS_DIR / "scale.json").read_text())
    sizing_path = RESULTS_DIR / "scanner_sizing.json"
    sizing = json.loads(sizing_path.read_text()) if sizing_path.exists() else None
    result = model(scale, _template(), sizing)
    (RESULTS_DIR / "cost.json").write_text(json.dumps(result, indent=2) + "\n")
    top = sorted(result["fixed_usd_per_month"].items(), key=lambda kv: -kv[1])[:3]
    print(
        f"cost: ${result['monthly_usd']['10000']}/month at 10k payments, "
        f"${result['monthly_usd']['1000000']}/month at 1M (goal <= ${GOAL_USD_AT_10K} at 10k; "
        f"scanner {result['scanner_memory_mb']['10000']} / "
        f"{result['scanner_memory_mb']['1000000']} MB); "
        f"largest fixed: {', '.join(f'{k} ${v}' for k, v in top)}"
    )


if __name__ == "__main__":
    main()
