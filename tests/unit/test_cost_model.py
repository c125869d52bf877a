"""The cost model (bench/cost.py, issue 16 §3): fixed + per payment x volume, from the
measured figures it is given."""

from __future__ import annotations

import pytest

from bench import cost

SCALE = {
    "write_units_per_payment": 100.0,
    "read_units_per_payment": 50.0,
    "fixed_write_units_per_s": 10.0,
    "fixed_read_units_per_s": 5.0,
}


def test_the_bill_is_the_fixed_part_plus_the_per_payment_part_times_the_volume() -> None:
    result = cost.model(SCALE)
    fixed, per = result["fixed_total_usd"], result["per_payment_total_usd"]
    for n in cost.VOLUMES:
        assert result["monthly_usd"][str(n)] == pytest.approx(fixed + per * n, abs=0.01)
    # 10 write units a second for a month at $0.625 per million
    assert result["fixed_usd_per_month"]["chain_following_dynamodb_writes"] == pytest.approx(
        10 * cost.MONTH_S * 0.625 / 1e6, abs=0.01
    )
    assert result["per_payment_usd"]["dynamodb_writes"] == pytest.approx(100 * 0.625 / 1e6)


def test_fewer_write_units_make_a_smaller_bill() -> None:
    lean = cost.model({**SCALE, "write_units_per_payment": 30.0, "fixed_write_units_per_s": 1.0})
    assert lean["monthly_usd"]["1000000"] < cost.model(SCALE)["monthly_usd"]["1000000"]
    assert lean["fixed_total_usd"] < cost.model(SCALE)["fixed_total_usd"]


SIZING = {
    "idle_cpu_share": 0.05,
    "cpu_s_per_transfer": 0.025,
    "peak_rss_mb": 300.0,  # under heavy load
    "peak_rss_mb_light": 160.0,
    "light_payments_per_s": 2.2,
}


def test_the_scanner_is_sized_for_each_volumes_peak_rate_from_its_measured_cpu() -> None:
    # issue 16 §3: 10k payments a month peak at ~0.08/s: the idle share dominates, and
    # 256 MB (0.145 vCPU) is twice what it needs and 1.5x the light-load RSS; 1M peaks
    # at ~7.7/s: 0.24 vCPU, doubled, and the heavy-load RSS
    assert cost.scanner_memory_mb(10_000, SIZING) == 256
    assert cost.scanner_memory_mb(1_000_000, SIZING) == 1024
    assert cost.scanner_memory_mb(10_000, {**SIZING, "peak_rss_mb_light": 200.0}) == 384
    sized = cost.model(SCALE, sizing=SIZING)
    assert sized["scanner_memory_mb"] == {"10000": 256, "1000000": 1024}
    unsized = cost.model(SCALE)
    assert unsized["scanner_memory_mb"]["10000"] == 1024  # shared.resources' size
    # a quarter of the memory, a quarter of the scanner's always-on minute
    assert sized["fixed_usd_per_month"]["scanner_lambda"] == pytest.approx(
        unsized["fixed_usd_per_month"]["scanner_lambda"] / 4, abs=0.01
    )
    assert sized["monthly_usd"]["10000"] < unsized["monthly_usd"]["10000"]
