"""AML screening settings (docs/adr/0020): the provider's context settings are checked
before anything is built and reach the functions; with a provider URL the stack makes
the provider's HMAC secret, which only the scanner reads; without one, no secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.cdk.config import ConfigError, from_context
from tests.infra import cfn
from tests.infra.conftest import TEMPLATE_FILE, cdk_context

URL = "https://screening.example/v1/screen"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"screening_provider_url": "http://plain.example/x"}, "https://"),
        ({"screening_fail_mode": "maybe"}, "open or closed"),
        ({"screening_flag_levels": "high,purple"}, "levels"),
    ],
)
def test_malformed_screening_settings_are_refused(override: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_context(cdk_context(**override))


def test_screening_settings_reach_the_functions_environment() -> None:
    config = from_context(
        cdk_context(
            screening_provider_url=URL, screening_fail_mode="open", screening_flag_levels="severe"
        )
    )
    screening = {k: v for k, v in config.settlement_env().items() if "SCREENING" in k}
    assert screening == {
        "BSCPAY_SCREENING_PROVIDER_URL": URL,
        "BSCPAY_SCREENING_FAIL_MODE": "open",
        "BSCPAY_SCREENING_FLAG_LEVELS": "severe",
    }


def _secrets(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: v
        for k, v in cfn.resources(template, "AWS::SecretsManager::Secret").items()
        if "ScreeningProvider" in k
    }


def test_without_a_provider_there_is_no_provider_secret(template: dict[str, Any]) -> None:
    assert _secrets(template) == {}


def test_the_provider_secret_is_made_and_only_the_scanner_reads_it(tmp_path: Path) -> None:
    from infra.cdk.app import create_app

    app, _ = create_app(
        cdk_context(screening_provider_url=URL), outdir=str(tmp_path), builtin_validation=False
    )
    app.synth()  # cdk-nag findings would fail here
    template = json.loads((tmp_path / TEMPLATE_FILE).read_text())
    ((secret_id, _),) = _secrets(template).items()
    functions = cfn.function_ids(template, "bscpay")
    readers = set()
    for name, function_id in functions.items():
        role = cfn.role_of(template, function_id)
        for statement in cfn.role_statements(template, role):
            if cfn.allows(statement, "secretsmanager:GetSecretValue") and secret_id in cfn.refs(
                statement["Resource"]
            ):
                readers.add(name)
    assert readers == {"chain_scanner"}
    env = cfn.props(template, functions["chain_scanner"])["Environment"]["Variables"]
    assert secret_id in cfn.refs(env["BSCPAY_SCREENING_PROVIDER_SECRET_ARN"])
    assert env["BSCPAY_SCREENING_PROVIDER_URL"] == URL
