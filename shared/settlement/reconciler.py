"""The scheduled reconciler: the ledger's holdings against balances read on chain.

Deposits: every address that may hold tokens (due for a sweep, or with transfers not
yet final) is read, less the funds not final yet (the ledger credits only final
funds). The hot wallet: USDT and BNB. A drift is logged, counted (`LedgerDrift`) and
published to the operators' SNS topic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from shared import config, ledger
from shared.alerts import raise_alert
from shared.chain.rpc import JsonRpc, endpoints
from shared.config import ReconcilerSettings as ReconcilerSettings  # re-exported
from shared.config import Token
from shared.custody import setup
from shared.dal import addresses as address_repo
from shared.dal import transfers as transfer_repo
from shared.models.domain import Transfer

logger = Logger(child=True)
metrics = Metrics(namespace="bscpay")


@dataclass
class ReconcileReport:
    checked_addresses: int = 0
    drifts: list[dict[str, Any]] = field(default_factory=list)


def run(rpc: JsonRpc | None = None) -> ReconcileReport:
    settings = config.reconciler()
    rpc = rpc or JsonRpc(endpoints())
    checked, drifts = _compare(rpc, settings)
    if drifts:
        # Money in motion (a sweep or payout mined, its ledger posting a moment later)
        # looks like drift for a few blocks: only what is still there later counts.
        # The second look reads only the drifting accounts (the deposits are the slow
        # part: one call per address).
        time.sleep(settings.confirm_after_s)
        suspects = {first.account for first in drifts}
        _, again = _compare(rpc, settings, suspects)
        drifts = [d for d in again if d.account in suspects]
    report = ReconcileReport(checked_addresses=checked)
    for drift in drifts:
        entry = {
            "account": drift.account,
            "ledger": str(drift.ledger),
            "chain": str(drift.chain),
            "difference": str(drift.difference),
            "kind": drift.kind,
        }
        report.drifts.append(entry)
        raise_alert("ledger_drift", "ledger drift", **entry)
    metrics.add_metric(name="LedgerDrift", unit=MetricUnit.Count, value=len(report.drifts))
    return report


def _compare(
    rpc: JsonRpc, settings: ReconcilerSettings, only: set[str] | None = None
) -> tuple[int, list[ledger.Drift]]:
    """Every accepted token's deposits and hot wallet (issue 14 §3), and the gas."""
    chain: dict[str, int] = {}
    checked = 0
    hot = setup.hot_wallet_address()
    pending = (
        transfer_repo.unfinal_transfers()
        if only is None or any(name.endswith("holdings:deposits") for name in only)
        else []
    )
    for token in config.chain().token_list().values():
        prefix = "" if token.symbol == "USDT" else f"{token.symbol}:"
        if only is None or f"{prefix}holdings:deposits" in only:
            read = _deposits(
                rpc, settings, token, [t for t in pending if t.currency == token.symbol]
            )
            if read is not None:
                chain[f"{prefix}holdings:deposits"], addresses = read
                checked += addresses
        if hot and (only is None or f"{prefix}holdings:hot" in only):
            chain[f"{prefix}holdings:hot"] = rpc.token_balance(token.address, hot)
    tolerance: dict[str, int] = {}
    if hot:
        chain["holdings:gas"] = int(str(rpc.call("eth_getBalance", [hot, "latest"])), 16)
        tolerance["holdings:gas"] = settings.gas_tolerance_wei
    return checked, ledger.reconcile(ledger.default(), chain, tolerance)


def _deposits(
    rpc: JsonRpc, settings: ReconcilerSettings, token: Token, pending: list[Transfer]
) -> tuple[int, int] | None:
    """(what the token's deposit addresses hold on chain less their funds not final yet,
    addresses read), or None when more deposits wait for a sweep than a run reads."""
    due = address_repo.due_deposits(settings.max_addresses + 1, currency=token.symbol)
    if len(due) > settings.max_addresses:
        # A sweep backlog: a partial sum would be reported as drift. Said and counted;
        # compared again once the sweeps catch up.
        logger.warning(
            "deposits not reconciled this run: more are due than max_addresses",
            extra={"token": token.symbol, "max_addresses": settings.max_addresses},
        )
        metrics.add_metric(name="ReconcilerDepositsSkipped", unit=MetricUnit.Count, value=1)
        return None
    addresses = {d.address for d in due} | {t.to_address.lower() for t in pending}
    # The ledger holds only final funds: funds still pending are taken off the chain.
    # One JSON-RPC batch per 100 addresses, not a round trip each (issue 16 §2).
    on_chain = sum(rpc.token_balances(token.address, sorted(addresses)))
    return on_chain - sum(t.amount for t in pending), len(addresses)
