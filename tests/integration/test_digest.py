"""The operators' daily digest (docs/adr/0021) on moto + anvil: the day's volumes from
the report counters, payouts waiting for approval, funds held for AML review, this
deployment's alarms; published once per day to the alerts topic (e-mail body and an
SMS line), and locally printed and written under a directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared import aws, config
from shared.jobs import digest
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import admin_call, as_admin, create_payment
from tests.integration.test_disbursements import (  # noqa: F401 - payout_settings is a fixture
    paid,
    payout_settings,
    set_profile,
)
from tests.integration.test_screening import LISTER, _list, _new_sender, _pay_final
from tests.support.events import Context, load


@pytest.fixture
def topic_inbox() -> Iterator[str]:
    """An SQS queue subscribed to the alerts topic: what an e-mail subscriber gets."""
    sqs, sns = aws.client("sqs"), aws.client("sns")
    url = sqs.create_queue(QueueName=f"digest-inbox-{datetime.now(UTC):%H%M%S%f}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sub = sns.subscribe(TopicArn=config.aws().alerts_topic_arn, Protocol="sqs", Endpoint=arn)
    yield url
    sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    sqs.delete_queue(QueueUrl=url)


def inbox(url: str) -> list[dict[str, Any]]:
    got = aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def digests(url: str) -> list[dict[str, Any]]:
    return [m for m in inbox(url) if "daily digest" in m.get("Subject", "")]


def today() -> date:
    return datetime.now(UTC).date()


def test_the_digest_counts_the_day_approvals_held_funds_and_alarms(
    stack: LocalStack,
    merchant: MerchantCreds,
    payout_settings: None,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = digest.build(today())
    # Given a paid payment of 30 USDT, a payout of it waiting for a second admin (above
    # the 20 USDT threshold), 7 USDT held from a listed sender, and an alarm firing
    paid(stack, merchant, "30")
    set_profile(merchant)
    payout = admin_call(
        "POST",
        f"/admin/merchants/{merchant.merchant_id}/payouts",
        {},
        authorizer=as_admin("digest-finance", ("finance",)),
    )
    assert payout.body["status"] == "pending_approval", payout.body
    sender = _new_sender(stack)
    assert _list(sender.address, "digest-lister", LISTER).status == 201
    held_payment = create_payment(merchant, "7")
    _pay_final(stack, sender, held_payment["address"], 7)
    cloudwatch = aws.client("cloudwatch")
    alarm = f"{config.aws().prefix}-digest-test-alarm"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test")
    try:
        # When today's digest is built
        after = digest.build(today())
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm])

    # Then the day's volumes moved by this history
    v0, v1 = before["volumes"], after["volumes"]
    assert v1["payments_created"] - v0["payments_created"] == 2
    assert v1["payments_paid"] - v0["payments_paid"] == 1
    assert v1["payments_held"] - v0["payments_held"] == 1
    # received: the paid 30 and the held 7 (held funds arrived, they are not available)
    assert Decimal(v1["gross_received"]) - Decimal(v0["gross_received"]) == Decimal("37")
    # the payout waits for approval, listed with its amount
    pending = after["pending_approvals"]
    assert payout.body["id"] in [i["id"] for i in pending["items"]] or pending["count"] > 10
    assert pending["count"] >= 1
    # the held funds, per merchant
    mine = [m for m in after["held"]["merchants"] if m["merchant_id"] == merchant.merchant_id]
    assert [Decimal(m["held"]) for m in mine] == [Decimal("7")]
    assert Decimal(after["held"]["funds_held"]) >= 7
    # the alarm
    assert after["alarms"]["available"] is True
    assert alarm in after["alarms"]["in_alarm"]
    assert alarm in [c["name"] for c in after["alarms"]["changed"]]

    # and locally it is printed and written as JSON
    path = digest.run_local(tmp_path / "digests", today(), publish_too=False)
    assert path == tmp_path / "digests" / f"{today().isoformat()}.json"
    written = json.loads(path.read_text())
    assert written["day"] == today().isoformat()
    assert set(written) >= {"volumes", "pending_approvals", "held", "alarms"}
    out = capsys.readouterr().out
    assert f"bscpay daily digest for {today().isoformat()}" in out
    assert "Waiting for approval" in out and "Held for AML review" in out


def test_the_digest_is_published_once_per_day(stack: LocalStack, topic_inbox: str) -> None:
    day = today() - timedelta(days=3)
    built = digest.build(day)
    assert digest.publish(built) is True
    assert digest.publish(built) is False  # a second invocation the same day
    [message] = digests(topic_inbox)
    assert message["Subject"] == f"bscpay: daily digest {day.isoformat()}"
    assert message["Message"].startswith(f"bscpay daily digest for {day.isoformat()}")
    line = digest.sms(built)
    assert len(line) <= digest.SMS_LIMIT and day.isoformat() in line


def test_the_scheduled_function_digests_the_day_before_its_event(
    stack: LocalStack, topic_inbox: str
) -> None:
    from functions.digest.handler import lambda_handler

    event = load("digest_schedule")
    moment = datetime.now(UTC) - timedelta(days=9)
    event["time"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = (moment - timedelta(days=1)).date().isoformat()
    first, again = lambda_handler(event, Context()), lambda_handler(event, Context())
    assert (first["day"], first["published"]) == (expected, True)
    assert (again["day"], again["published"]) == (expected, False)
    assert isinstance(first["days_folded"], int)  # it also folds finished report days
    assert [m["Subject"] for m in digests(topic_inbox)] == [f"bscpay: daily digest {expected}"]
    # an unreadable time digests yesterday
    event["time"] = "not a time"
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert lambda_handler(event, Context())["day"] == yesterday


def test_the_digest_command_writes_the_file(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d"
    assert digest.main(["--date", "2026-01-02", "--out", str(out), "--no-publish"]) == 0
    assert json.loads((out / "2026-01-02.json").read_text())["day"] == "2026-01-02"
    with pytest.raises(SystemExit):
        digest.main(["--date", "yesterday"])


def test_a_digest_that_could_not_be_sent_is_sent_by_the_next_run(
    stack: LocalStack, topic_inbox: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = digest.build(today() - timedelta(days=5))

    def unreachable(**_: Any) -> None:
        raise RuntimeError("SNS unreachable")

    monkeypatch.setattr(aws.client("sns"), "publish", unreachable)
    with pytest.raises(RuntimeError):
        digest.publish(built)
    monkeypatch.undo()
    assert digest.publish(built) is True
    assert len(digests(topic_inbox)) == 1
