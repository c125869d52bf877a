"""A drift must still be there a little later to be reported: sweeps and payouts are
mined a moment before their ledger posting, and an operator woken by that is a false
alarm."""

from __future__ import annotations

from typing import Any

import pytest

from shared import config
from shared.ledger import Drift
from shared.settlement import reconciler


def _drift(account: str, ledger: int, chain: int) -> Drift:
    return Drift(account=account, ledger=ledger, chain=chain)


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    monkeypatch.setenv("BSCPAY_RECONCILE_CONFIRM_AFTER_S", "0")
    config.reset()
    alerts: list[Any] = []
    monkeypatch.setattr(reconciler, "raise_alert", lambda *a, **k: alerts.append((a, k)))
    return alerts


def test_a_drift_gone_on_the_second_look_is_not_reported(
    monkeypatch: pytest.MonkeyPatch, quick: list[Any]
) -> None:
    # Given a payout mined but not yet booked: the hot wallet looks short, then is not
    looks = iter([(1, [_drift("holdings:hot", 12, 10)]), (1, [])])
    monkeypatch.setattr(reconciler, "_compare", lambda *args: next(looks))

    report = reconciler.run(rpc=object())  # type: ignore[arg-type]

    assert report.drifts == []
    assert quick == []


def test_a_drift_still_there_is_reported_with_the_second_figures(
    monkeypatch: pytest.MonkeyPatch, quick: list[Any]
) -> None:
    looks = iter(
        [
            (1, [_drift("holdings:hot", 12, 10), _drift("holdings:deposits", 5, 4)]),
            (1, [_drift("holdings:hot", 12, 9)]),
        ]
    )
    monkeypatch.setattr(reconciler, "_compare", lambda *args: next(looks))

    report = reconciler.run(rpc=object())  # type: ignore[arg-type]

    assert [(d["account"], d["chain"]) for d in report.drifts] == [("holdings:hot", "9")]
    assert len(quick) == 1


def test_the_second_look_reads_only_the_drifting_accounts(
    monkeypatch: pytest.MonkeyPatch, quick: list[Any]
) -> None:
    calls: list[Any] = []

    def compare(rpc: Any, settings: Any, only: Any = None) -> Any:
        calls.append(only)
        return 1, [_drift("holdings:hot", 12, 10)]

    monkeypatch.setattr(reconciler, "_compare", compare)

    reconciler.run(rpc=object())  # type: ignore[arg-type]

    # (the deposits, one RPC call per address, are not read twice)
    assert calls == [None, {"holdings:hot"}]
