"""Infra fixtures: BscpayStack is synthesized ONCE per session, read-only
(``-c bundle=false``: no asset is built, see docs/adr/0002), with cdk.json's context and
feature flags, cdk-nag attached exactly as ``infra/cdk/app.py`` attaches it.

cfn-lint (~15 s) starts on the template as soon as it exists and runs while the other
infra tests do; ``test_cfn_lint`` is moved to the end to collect its result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_FILE = "BscpayStack.template.json"


# The stage the infra tests synthesize: mainnet with every required money setting (the
# committed "prod" stage leaves the cold address for the operator to fill in).
CI_STAGE: dict[str, Any] = {
    "network": "bsc-mainnet",
    "prefix": "bscpay",
    "rpc_urls_secret": "bscpay/rpc-urls",
    "cold_address": "0x000000000000000000000000000000000000C01d",
    "hot_wallet_cap": "10000",
    "payout_approval_threshold": "1000",
    "cold_approval_threshold": "50000",
}


def cdk_context(**overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["bundle"] = "false"
    context["stages"] = {**context["stages"], "ci": CI_STAGE}
    context["stage"] = "ci"
    context.update(overrides)
    return context


@dataclass
class Synthesized:
    stack: Any  # infra.cdk.stack.BscpayStack
    template: dict[str, Any]
    template_path: Path
    outdir: Path
    error: str | None  # synth's exception text (cdk-nag findings fail synth)
    cfn_lint: subprocess.Popen[str]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name == "test_cfn_lint.py")


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    from infra.cdk.app import create_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    # CDK's built-in CloudFormation schema check is skipped here: cfn-lint covers it.
    app, stack = create_app(cdk_context(), outdir=str(outdir), builtin_validation=False)
    error: str | None = None
    try:
        app.synth()
    except Exception as exc:  # jsii surfaces the validation failure as RuntimeError
        error = str(exc)
    template_path = outdir / TEMPLATE_FILE
    lint = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--format",
            "json",
            "--",
            str(template_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield Synthesized(
            stack=stack,
            template=json.loads(template_path.read_text()),
            template_path=template_path,
            outdir=outdir,
            error=error,
            cfn_lint=lint,
        )
    finally:
        if lint.poll() is None:
            lint.kill()
            lint.wait()


@pytest.fixture(scope="session")
def template(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.template
