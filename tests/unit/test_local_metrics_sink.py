"""`make run` keeps CloudWatch EMF metrics out of the console (issue 10 §4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf import cloudwatch

from shared.local.metrics_sink import redirect_metrics


def test_a_full_metric_set_goes_to_the_file_not_the_console(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the local stack's sink, with metrics disabled as on the local stack
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setattr(cloudwatch, "print", print, raising=False)  # restored afterwards
    sink = tmp_path / "metrics.log"
    redirect_metrics(sink)
    metrics = Metrics(namespace="bscpay", service="sink-test")

    # When a long-lived worker records more values than one EMF document holds
    for lag in range(150):
        metrics.add_metric(name="ScannerLagBlocks", unit=MetricUnit.Count, value=lag)

    # Then the console stays quiet and the EMF document is in the file
    assert capsys.readouterr().out == ""
    documents = [json.loads(line) for line in sink.read_text().splitlines()]
    assert documents and documents[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "bscpay"
    assert documents[0]["ScannerLagBlocks"][:3] == [0.0, 1.0, 2.0]
    metrics.clear_metrics()
