"""The request-path functions (merchant API, admin API, webhook dispatcher) must stay
light at cold start: web3 and eth_account (~1.3 s of imports) are for settlement and the
disbursement worker only, which reach web3 through ``shared/chain/evm.py`` alone
(docs/adr/0014; the scanner reads raw JSON-RPC, no web3). The second test enforces that
one module: no other module of ``shared`` or ``functions`` imports web3."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("web3", "eth_account", "eth_keyfile")


def _modules_after_import(module: str, env: dict[str, str] | None = None) -> set[str]:
    code = f"import sys, json; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env
    )
    return set(json.loads(out.stdout))


def _in_lambda(tmp_path: Path) -> dict[str, str]:
    """The variables Lambda's runtime sets: the X-Ray SDK and Powertools' tracer take
    their in-Lambda paths (tracing on, no sampling client)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BSCPAY_", "POWERTOOLS_"))}
    env.update(
        LAMBDA_TASK_ROOT=str(tmp_path),
        AWS_LAMBDA_FUNCTION_NAME="bscpay-test",
        AWS_EXECUTION_ENV="AWS_Lambda_python3.11",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return env


@pytest.mark.parametrize(
    "handler",
    [
        "functions.merchant_api.handler",
        "functions.admin_api.handler",
        "functions.webhook_dispatcher.handler",
    ],
)
def test_request_path_functions_do_not_import_web3(handler: str) -> None:
    loaded = _modules_after_import(handler)
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


@pytest.mark.parametrize(
    "handler",
    [
        "functions.merchant_api.handler",
        "functions.admin_api.handler",
        "functions.webhook_dispatcher.handler",
    ],
)
def test_tracing_patches_only_what_bscpay_calls(handler: str, tmp_path: Path) -> None:
    # Tracing is on in Lambda, and Powertools' default would import every library the
    # X-Ray SDK can patch (requests: ~30 ms of cold start, never called; ADR 0038).
    loaded = _modules_after_import(handler, _in_lambda(tmp_path))
    assert "aws_xray_sdk.ext.botocore.patch" in loaded  # AWS calls are traced
    assert "aws_xray_sdk.ext.httplib.patch" in loaded  # JSON-RPC and webhooks too
    assert "requests" not in loaded
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_api_models_are_built_on_first_use(tmp_path: Path) -> None:
    code = (
        "import functions.merchant_api.handler as h; from shared.models import api; "
        "a = api.CreatePayment.__pydantic_complete__; "
        "api.CreatePayment.model_validate({'amount': '1.5'}); "
        "print(a, api.CreatePayment.__pydantic_complete__, api.PaymentOut.__pydantic_complete__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=_in_lambda(tmp_path),
    )
    # Not built by the import; built (once) by the first validation; the others stay lazy.
    assert out.stdout.split() == ["False", "True", "False"]


# The one EVM client; the local stack (shared.local: tools and tests only, an
# import-linter contract keeps Lambda code off it) drives anvil with web3 itself.
WEB3_IMPORTERS = {"shared/chain/evm.py"}
LOCAL_STACK = "shared/local/"


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_evm_module_imports_web3() -> None:
    importers = {
        path.relative_to(ROOT).as_posix()
        for folder in ("shared", "functions")
        for path in (ROOT / folder).rglob("*.py")
        if "web3" in _imported_roots(path)
    }
    assert {p for p in importers if not p.startswith(LOCAL_STACK)} == WEB3_IMPORTERS


def test_the_import_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    # The check is not fooled by an import inside a function or a try block
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    try:\n        from web3 import Web3\n    except ImportError:\n        pass\n"
    )
    assert "web3" in _imported_roots(module)
