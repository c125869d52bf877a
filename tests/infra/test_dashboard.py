"""The operator's view of health (issue 15 §6): one dashboard with the figures an
operator needs, and every alarm pointing at a runbook that exists (and every runbook
named by an alarm)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.infra.cfn import resources as of_type

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks"
RUNBOOK_REF = re.compile(r"Runbook: docs/runbooks/([a-z0-9-]+)\.md")


def _body(template: dict[str, Any]) -> str:
    (dashboard,) = of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    # Fn::Join of strings and references: the text is enough to look for metrics
    return json.dumps(body)


def test_the_dashboard_shows_what_an_operator_needs(template: dict[str, Any]) -> None:
    body = _body(template)
    for figure in (
        "Latency",  # API latency
        "5XXError",  # API errors
        "ScannerLagBlocks",
        "FinalityStalled",
        "ApproximateNumberOfMessagesVisible",  # webhook and settlement backlog, DLQ
        "ApproximateAgeOfOldestMessage",
        "HotWalletBnb",
        "HotWalletUsdt",
        "LedgerDrift",
        "HeldUsdt",
        "Throttles",
        "alarm",  # the alarm status widget
    ):
        assert figure in body, figure


def test_every_alarm_names_a_runbook_that_exists(template: dict[str, Any]) -> None:
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 10
    named = set()
    for logical, alarm in alarms.items():
        description = str(alarm["Properties"].get("AlarmDescription", ""))
        found = RUNBOOK_REF.search(description)
        assert found, f"{logical} names no runbook: {description!r}"
        page = RUNBOOKS / f"{found.group(1)}.md"
        assert page.is_file(), f"{logical}: {page} is missing"
        text = page.read_text()
        assert "**What it means.**" in text and "**How to check.**" in text, page
        assert "**How to fix.**" in text, page
        named.add(page.name)
    pages = {p.name for p in RUNBOOKS.glob("*.md")} - {"README.md"}
    assert pages == named, f"runbooks no alarm names: {pages - named}"


def test_new_alarms_watch_drift_queue_age_and_throttles(template: dict[str, Any]) -> None:
    metrics = [
        a["Properties"].get("MetricName")
        for a in of_type(template, "AWS::CloudWatch::Alarm").values()
    ]
    assert "LedgerDrift" in metrics
    assert metrics.count("ApproximateAgeOfOldestMessage") == 2  # webhooks, settlement
    assert metrics.count("Throttles") == metrics.count("Errors")  # one per function


def test_dynamodb_throttles_and_errors_are_alarmed_over_every_table(
    template: dict[str, Any],
) -> None:
    """issue 16 §2: one Metrics Insights alarm each, grouped by table and operation."""
    queries = [
        q["Expression"]
        for a in of_type(template, "AWS::CloudWatch::Alarm").values()
        for q in a["Properties"].get("Metrics", [])
        if "Expression" in q
    ]
    for metric in ("ThrottledRequests", "SystemErrors"):
        assert any(
            f"SUM({metric})" in q and '"AWS/DynamoDB", Operation, TableName' in q for q in queries
        ), metric
