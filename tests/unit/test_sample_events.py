"""Every function has sample events in events/ (used by the tests and by developers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import resources

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.mark.parametrize("function", [f.name for f in resources.FUNCTIONS])
def test_each_function_has_a_sample_event(function: str) -> None:
    samples = sorted(EVENTS.glob(f"{function}_*.json"))
    assert samples, f"no events/{function}_*.json"
    for sample in samples:
        assert isinstance(json.loads(sample.read_text()), dict)
