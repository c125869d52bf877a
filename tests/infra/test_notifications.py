"""Operator notifications and KYC in the stack (docs/adr/0021): e-mail and SMS
subscribers of the alerts topic from CDK context, the daily digest's schedule and
grants, the KYC callback's secret and the payouts-require-KYC setting."""

from __future__ import annotations

from typing import Any

import pytest

from infra.cdk.config import ConfigError, from_context
from tests.infra.cfn import (
    allows,
    function_ids,
    props,
    refs,
    resources,
    role_of,
    role_statements,
)
from tests.infra.conftest import cdk_context

EMAILS = ["ops@example.com", "finance@example.com"]
SMS = "+14155550100, +4930123456"


@pytest.fixture(scope="module")
def notified(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The stack synthesized with subscribers and payouts_require_kyc (cdk-nag on)."""
    import json

    from infra.cdk.app import create_app

    outdir = tmp_path_factory.mktemp("cdk.out.notify")
    context = cdk_context(alarm_email=EMAILS, alarm_sms=SMS, payouts_require_kyc="true")
    app, _ = create_app(context, outdir=str(outdir), builtin_validation=False)
    app.synth()  # raises on a cdk-nag finding
    template = dict(json.loads((outdir / "BscpayStack.template.json").read_text()))
    template["_messages"] = _messages(outdir)
    return template


def _messages(outdir: Any) -> list[str]:
    """Synth annotations from the cloud assembly's manifest (jsii cannot always hand the
    message objects back)."""
    import json
    from pathlib import Path

    directory = Path(outdir)
    entry = json.loads((directory / "manifest.json").read_text())["artifacts"]["BscpayStack"]
    metadata = dict(entry.get("metadata", {}))
    if entry.get("additionalMetadataFile"):
        metadata.update(json.loads((directory / entry["additionalMetadataFile"]).read_text()))
    return [str(e.get("data")) for entries in metadata.values() for e in entries if "data" in e]


def _subscriptions(template: dict[str, Any]) -> set[tuple[str, str]]:
    (topic,) = resources(template, "AWS::SNS::Topic")
    found = set()
    for sub in resources(template, "AWS::SNS::Subscription").values():
        assert topic in refs(sub["Properties"]["TopicArn"])
        found.add((sub["Properties"]["Protocol"], sub["Properties"]["Endpoint"]))
    return found


def test_email_and_sms_subscribers_come_from_context(notified: dict[str, Any]) -> None:
    assert _subscriptions(notified) == {
        ("email", "ops@example.com"),
        ("email", "finance@example.com"),
        ("sms", "+14155550100"),
        ("sms", "+4930123456"),
    }


def test_no_context_no_subscribers(template: dict[str, Any]) -> None:
    assert _subscriptions(template) == set()


def test_a_deploy_without_subscribers_warns_loudly(
    synthesized: Any, notified: dict[str, Any]
) -> None:
    # issue 16: alarms that reach nobody are named on every synth without subscribers
    assert any("NO ALARM SUBSCRIBERS" in m for m in _messages(synthesized.outdir))
    assert not any("NO ALARM SUBSCRIBERS" in m for m in notified["_messages"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"alarm_email": "ops.example.com"}, "alarm_email"),
        ({"alarm_email": ["ops@example.com", "nope"]}, "alarm_email"),
        ({"alarm_sms": "4155550100"}, "alarm_sms"),
        ({"alarm_sms": "+1 415 555 0100"}, "alarm_sms"),
        ({"alarm_sms": {"a": 1}}, "alarm_sms"),
        ({"payouts_require_kyc": "maybe"}, "payouts_require_kyc"),
    ],
)
def test_bad_notification_context_fails_clearly(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_context(cdk_context(**overrides))


def test_context_lists_and_comma_strings() -> None:
    config = from_context(
        cdk_context(alarm_email="a@x.io, b@x.io,a@x.io", alarm_sms=["+14155550100"])
    )
    assert config.alarm_emails == ("a@x.io", "b@x.io")
    assert config.alarm_sms == ("+14155550100",)
    assert "BSCPAY_PAYOUTS_REQUIRE_KYC" not in config.settlement_env()
    kyc = from_context(cdk_context(payouts_require_kyc="yes"))
    assert kyc.settlement_env()["BSCPAY_PAYOUTS_REQUIRE_KYC"] == "true"


def test_payouts_require_kyc_reaches_the_functions(notified: dict[str, Any]) -> None:
    functions = function_ids(notified, "bscpay")
    for name in ("merchant_api", "admin_api", "expirer", "settlement"):
        env = props(notified, functions[name])["Environment"]["Variables"]
        assert env["BSCPAY_PAYOUTS_REQUIRE_KYC"] == "true", name


def test_the_digest_runs_daily_and_publishes_to_the_alerts_topic(template: dict[str, Any]) -> None:
    functions = function_ids(template, "bscpay")
    digest = functions["digest"]
    rules = [
        r
        for r in resources(template, "AWS::Events::Rule").values()
        if digest in refs(r["Properties"]["Targets"])
    ]
    assert [r["Properties"]["ScheduleExpression"] for r in rules] == ["rate(1 day)"]
    (topic,) = resources(template, "AWS::SNS::Topic")
    statements = list(role_statements(template, role_of(template, digest)))
    assert any(allows(s, "sns:Publish") and topic in refs(s["Resource"]) for s in statements)
    alarms = [s for s in statements if allows(s, "cloudwatch:DescribeAlarms")]
    assert len(alarms) == 1 and "alarm:bscpay-*" in str(alarms[0]["Resource"])
    # reads only: no write to payments, merchants or the ledger
    for s in statements:
        for action in ("dynamodb:PutItem", "dynamodb:UpdateItem"):
            if allows(s, action) and s.get("Effect", "Allow") == "Allow":
                assert any("Idempotency" in r for r in refs(s["Resource"])), s


def _secret_named(template: dict[str, Any], fragment: str) -> str:
    (secret,) = [
        sid
        for sid, r in resources(template, "AWS::SecretsManager::Secret").items()
        if fragment in str(r["Properties"]["Name"])
    ]
    return secret


def _readers(template: dict[str, Any], secret: str) -> set[str]:
    return {
        name
        for name, fid in function_ids(template, "bscpay").items()
        if any(
            allows(s, "secretsmanager:GetSecretValue") and secret in refs(s["Resource"])
            for s in role_statements(template, role_of(template, fid))
        )
    }


def test_only_merchant_api_reads_the_kyc_callback_secret(template: dict[str, Any]) -> None:
    secret = _secret_named(template, "kyc-callback")
    assert _readers(template, secret) == {"merchant_api"}
    functions = function_ids(template, "bscpay")
    env = props(template, functions["merchant_api"])["Environment"]["Variables"]
    assert secret in refs(env["BSCPAY_KYC_CALLBACK_SECRET_ARN"])


def test_cloudfront_proves_itself_to_the_api_with_a_secret_only_checkout_reads(
    template: dict[str, Any],
) -> None:
    # review 13: the checkout's per-viewer limit believes CloudFront-Viewer-Address only
    # from CloudFront, which sends the origin secret (a dynamic reference, not a value)
    secret = _secret_named(template, "cloudfront-origin-verify")
    assert _readers(template, secret) == {"checkout_api"}
    functions = function_ids(template, "bscpay")
    env = props(template, functions["checkout_api"])["Environment"]["Variables"]
    assert secret in refs(env["BSCPAY_CHECKOUT_ORIGIN_SECRET_ARN"])
    (distribution,) = resources(template, "AWS::CloudFront::Distribution").values()
    api_origins = [
        o
        for o in distribution["Properties"]["DistributionConfig"]["Origins"]
        if "execute-api" in str(o["DomainName"])
    ]
    (origin,) = api_origins
    (header,) = origin["OriginCustomHeaders"]
    assert header["HeaderName"] == "X-Origin-Verify"
    assert "resolve:secretsmanager" in str(header["HeaderValue"])
    assert secret in refs(header["HeaderValue"])
