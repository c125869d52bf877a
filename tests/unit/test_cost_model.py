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
