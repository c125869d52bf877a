"""The reconciler compares the ledger's holdings with the chain and alerts on drift."""

from __future__ import annotations

import pytest

from shared.custody import setup
from shared.local import chain
from shared.local.stack import LocalStack
from shared.settlement import reconciler
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import USDT, create_payment, make_final, pay, scan
from tests.support.events import Context, load


def _hot_difference(report: reconciler.ReconcileReport) -> int:
    return sum(int(d["difference"]) for d in report.drifts if d["account"] == "holdings:hot")


def test_tokens_the_ledger_does_not_know_show_up_as_drift(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a ledger that matches the hot wallet (whatever earlier tests did)
    before = reconciler.run()
    hot = setup.hot_wallet_address()
    assert hot is not None

    # When 2 USDT reach the hot wallet outside of any sweep
    chain.transfer(
        stack.info["rpc_url"],
        stack.info["token_address"],
        stack.info["customer"]["private_key"],
        hot,
        2 * USDT,
    )

    # Then the reconciler reports exactly that surplus
    after = reconciler.run()
    assert _hot_difference(after) - _hot_difference(before) == 2 * USDT
    drift = next(d for d in after.drifts if d["account"] == "holdings:hot")
    assert drift["kind"] == "surplus"


def test_funds_not_final_yet_are_no_drift_and_the_lambda_runs_on_its_schedule(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    from functions.reconciler.handler import lambda_handler

    # Given a payment whose transfer was seen but is not final
    baseline = reconciler.run()
    deposits_before = [d for d in baseline.drifts if d["account"] == "holdings:deposits"]
    payment = create_payment(merchant, "2")
    pay(stack, payment["address"], 2 * USDT)
    scan()

    # When the reconciler Lambda runs on its schedule
    report = lambda_handler(load("reconciler_schedule"), Context(60_000))

    # Then the pending funds change nothing: the deposits comparison is as before
    deposits_after = [d for d in report["drifts"] if d["account"] == "holdings:deposits"]
    assert [d["difference"] for d in deposits_after] == [d["difference"] for d in deposits_before]
    make_final(stack)
    scan()


def test_a_sweep_backlog_over_the_cap_is_not_reported_as_drift(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared import config

    # Given more deposits waiting for a sweep than one run reads
    payments = [create_payment(merchant, "1") for _ in range(2)]
    for p in payments:
        pay(stack, p["address"], USDT)
    make_final(stack)
    scan()
    monkeypatch.setenv("BSCPAY_RECONCILE_MAX_ADDRESSES", "1")
    config.reset()
    try:
        # When the reconciler runs, before and after 1 USDT reaches the hot wallet
        before = reconciler.run()
        hot = setup.hot_wallet_address()
        assert hot is not None
        pay(stack, hot, USDT)
        after = reconciler.run()
    finally:
        monkeypatch.undo()
        config.reset()

    # Then the deposits are left for a later run (a partial sum is no drift) ...
    for report in (before, after):
        assert report.checked_addresses == 0
        assert not [d for d in report.drifts if d["account"] == "holdings:deposits"]
    # ... and the hot wallet is still compared
    assert _hot_difference(after) - _hot_difference(before) == USDT
    # and without the cap the deposits are read again
    assert reconciler.run().checked_addresses >= 2
