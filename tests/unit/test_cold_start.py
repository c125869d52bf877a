"""The merchant API and the webhook dispatcher must stay light at cold start:
web3 and eth_account (~1.3 s of imports) are for the scanner only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("web3", "eth_account", "eth_keyfile")


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, json; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout))


@pytest.mark.parametrize(
    "handler", ["functions.merchant_api.handler", "functions.webhook_dispatcher.handler"]
)
def test_request_path_functions_do_not_import_web3(handler: str) -> None:
    loaded = _modules_after_import(handler)
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
