"""The operators' daily digest (docs/adr/0021): yesterday's volumes, what waits for a
second pair of eyes, held funds, and the alarms, published to the alerts topic (e-mail
and SMS subscribers from CDK context ``alarm_email`` / ``alarm_sms``).

EventBridge invokes ``functions/digest`` once a day; the digest always covers the last
whole UTC day before the invocation, so the hour it runs at does not matter, and a day
is published once (a duplicate invocation finds its record in the idempotency table).
Every figure is read from what is already kept small: the report counters (the lead's
``shared.reports.summary``), the ``by_status`` index of disbursements, one held-funds
ledger balance per merchant (merchants are few), and CloudWatch's alarm list. Nothing
scans a table of payments.

Locally the stack runs it every ``digest_interval_s`` and it is printed and written to
``.local/digests/YYYY-MM-DD.json``; by hand::

    python -m shared.jobs.digest [--date YYYY-MM-DD] [--out .local/digests] [--no-publish]
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from shared import aws, config, ids, ledger
from shared.dal import disbursements as store
from shared.dal import merchants as merchant_repo
from shared.dal import replay
from shared.models.amounts import format_amount
from shared.models.domain import DisbursementStatus
from shared.reports import summary as reports
from shared.reports.period import Period

logger = Logger(child=True)
metrics = Metrics(namespace="bscpay")

DAY_S = 86_400
PENDING_LIMIT = 200  # pending approvals listed (counted up to this many)
PENDING_SHOWN = 10
MERCHANT_PAGE = 100
MAX_MERCHANTS = 5000
SMS_LIMIT = 140
ONCE_KEY = "daily-digest"  # the idempotency record's namespace (shared.dal.replay)
VOLUME_FIELDS = (
    "payments_created",
    "payments_paid",
    "payments_expired",
    "payments_underpaid",
    "payments_overpaid",
    "payments_held",
    "conversion_rate",
    "gross_received",
    "late_funds",
    "fees_earned",
    "refunded",
    "paid_out",
)


@dataclass(frozen=True)
class Published:
    day: str
    digest: dict[str, Any]
    published: bool  # False: this day's digest had been published already, or no topic


def day_before(moment: datetime) -> date:
    return (moment.astimezone(UTC) - timedelta(days=1)).date()


def _fmt(units: int) -> str:
    return format_amount(units, config.chain().token_decimals)


def _volumes(day: date) -> dict[str, Any]:
    """The platform's totals for the day, from the report counters (ADR 0022)."""
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    totals = reports.summary(None, Period(start, start + DAY_S), "day")["totals"]
    return {name: totals.get(name) for name in VOLUME_FIELDS if name in totals}


def _pending_approvals(now: int) -> dict[str, Any]:
    items, more = store.list_by_status(DisbursementStatus.PENDING_APPROVAL, PENDING_LIMIT, None)
    oldest = min((d.created_at for d in items), default=None)
    return {
        "count": len(items),
        "more": more,
        "total": _fmt(sum(d.gross for d in items)),
        "oldest_age_s": now - oldest if oldest is not None else None,
        "items": [
            {
                "id": d.disbursement_id,
                "kind": d.kind.value,
                "merchant_id": d.merchant_id,
                "gross": _fmt(d.gross),
                "created_at": d.created_at,
            }
            for d in sorted(items, key=lambda d: d.created_at)[:PENDING_SHOWN]
        ],
    }


def _held(newly_held: Any) -> dict[str, Any]:
    """Funds held for AML review now (one ledger balance per merchant) and payments
    held during the day (the report counters)."""
    book = ledger.default()
    merchants: list[dict[str, str]] = []
    total = 0
    after: int | None = None
    seen = 0
    while seen < MAX_MERCHANTS:
        page, more = merchant_repo.list_merchants(MERCHANT_PAGE, after)
        for merchant in page:
            held = int(getattr(book.merchant_balance(merchant.merchant_id), "held", 0))
            if held:
                total += held
                merchants.append({"merchant_id": merchant.merchant_id, "held": _fmt(held)})
        seen += len(page)
        if not more or not page:
            break
        after = page[-1].created_at
    # The operator's dashboard plots it (issue 15): held funds waiting for a decision.
    metrics.add_metric(name="HeldUsdt", unit=MetricUnit.Count, value=total / 10**18)
    return {
        "payments_held_in_period": newly_held,
        "funds_held": _fmt(total),
        "merchants": merchants,
    }


def _alarms(start: int) -> dict[str, Any]:
    """This deployment's CloudWatch alarms in ALARM now, and those whose state changed
    since ``start``. Unavailable (moto, no permission) is said, never fatal."""
    prefix = f"{config.aws().prefix}-"
    try:
        pages = aws.client("cloudwatch").get_paginator("describe_alarms")
        alarms = [
            a
            for page in pages.paginate(AlarmNamePrefix=prefix, PaginationConfig={"MaxItems": 500})
            for a in page.get("MetricAlarms", [])
        ]
    except Exception as exc:  # the digest still goes out without this part
        logger.warning("alarms unavailable for the digest", extra={"error": type(exc).__name__})
        return {"available": False, "in_alarm": [], "changed": []}
    changed = []
    for alarm in alarms:
        at = alarm.get("StateUpdatedTimestamp")
        if isinstance(at, datetime) and at.timestamp() >= start:
            changed.append(
                {
                    "name": alarm["AlarmName"],
                    "state": alarm.get("StateValue"),
                    "at": int(at.timestamp()),
                }
            )
    return {
        "available": True,
        "in_alarm": sorted(a["AlarmName"] for a in alarms if a.get("StateValue") == "ALARM"),
        "changed": sorted(changed, key=lambda c: c["at"]),
    }


def build(day: date, now: int | None = None) -> dict[str, Any]:
    """The digest of UTC day ``day``."""
    now = ids.now() if now is None else now
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    end = start + DAY_S
    volumes = _volumes(day)
    return {
        "object": "digest",
        "day": day.isoformat(),
        "period": {"start": start, "end": end},
        "generated_at": now,
        "volumes": volumes,
        "pending_approvals": _pending_approvals(now),
        "held": _held(volumes.get("payments_held")),
        "alarms": _alarms(start),
    }


def text(digest: dict[str, Any]) -> str:
    """The e-mail body: one screen, amounts in USDT."""
    v, p, h, a = (
        digest["volumes"],
        digest["pending_approvals"],
        digest["held"],
        digest["alarms"],
    )
    lines = [
        f"bscpay daily digest for {digest['day']} (UTC)",
        "",
        "Volumes",
        f"  payments created {v.get('payments_created')}, paid {v.get('payments_paid')}, "
        f"expired {v.get('payments_expired')}, underpaid {v.get('payments_underpaid')}, "
        f"held {v.get('payments_held')}",
        f"  received {v.get('gross_received')} USDT, fees {v.get('fees_earned')}, "
        f"paid out {v.get('paid_out')}, refunded {v.get('refunded')}, "
        f"late funds {v.get('late_funds')}",
        "",
        f"Waiting for approval: {p['count']}{'+' if p['more'] else ''} ({p['total']} USDT)",
    ]
    lines += [
        f"  {i['id']} {i['kind']} {i['gross']} USDT merchant {i['merchant_id']}" for i in p["items"]
    ]
    lines += ["", f"Held for AML review: {h['funds_held']} USDT"]
    lines += [f"  {m['merchant_id']}: {m['held']} USDT" for m in h["merchants"]]
    lines += [""]
    if not a["available"]:
        lines.append("Alarms: not available (see CloudWatch)")
    else:
        lines.append(f"Alarms in ALARM now: {', '.join(a['in_alarm']) or 'none'}")
        lines += [
            f"  {c['name']} -> {c['state']} at "
            f"{datetime.fromtimestamp(c['at'], UTC):%Y-%m-%d %H:%M}Z"
            for c in a["changed"]
        ]
    return "\n".join(lines) + "\n"


def sms(digest: dict[str, Any]) -> str:
    v, p, h, a = (
        digest["volumes"],
        digest["pending_approvals"],
        digest["held"],
        digest["alarms"],
    )
    line = (
        f"bscpay {digest['day']}: {v.get('payments_paid')} paid, {v.get('gross_received')} "
        f"USDT in; {p['count']} to approve; {h['funds_held']} USDT held; "
        f"{len(a['in_alarm'])} alarms"
    )
    return line[:SMS_LIMIT]


def publish(digest: dict[str, Any]) -> bool:
    """To the alerts topic, once per day; False when there is no topic or the day's
    digest was published already."""
    topic = config.aws().alerts_topic_arn
    if not topic:
        return False
    now = ids.now()
    if not replay.first_use(ONCE_KEY, digest["day"], now, now + 3 * DAY_S):
        logger.info("digest published already", extra={"day": digest["day"]})
        return False
    body = text(digest)
    message = {"default": body, "email": body, "sms": sms(digest)}
    try:
        aws.client("sns").publish(
            TopicArn=topic,
            Subject=f"bscpay: daily digest {digest['day']}"[:100],
            Message=json.dumps(message),
            MessageStructure="json",
        )
    except Exception:
        # Not sent: the next invocation (or `python -m shared.jobs.digest`) may send it.
        replay.forget(ONCE_KEY, digest["day"])
        raise
    return True


def run(moment: datetime | None = None) -> Published:
    """The scheduled function's work: the digest of the day before ``moment``."""
    moment = moment or datetime.now(UTC)
    day = day_before(moment)
    digest = build(day)
    published = publish(digest)
    logger.info(
        "daily digest",
        extra={"day": day.isoformat(), "published": published, "volumes": digest["volumes"]},
    )
    return Published(day.isoformat(), digest, published)


def write(digest: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{digest['day']}.json"
    path.write_text(json.dumps(digest, indent=2) + "\n")
    return path


def run_local(directory: Path, day: date | None = None, publish_too: bool = True) -> Path:
    """The local stack's digest: printed, written under ``directory``, and published to
    the local alerts topic."""
    digest = build(day or day_before(datetime.now(UTC)))
    path = write(digest, directory)
    print(text(digest), flush=True)
    print(f"[digest] written to {path}", flush=True)
    if publish_too:
        publish(digest)
    return path


def _local_environment() -> None:
    """Point at the running local stack (``make run``) unless the environment does."""
    state = Path(".local/stack.json")
    if os.environ.get("AWS_ENDPOINT_URL") or not state.exists():
        return
    stack = json.loads(state.read_text())
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": stack["aws_endpoint_url"],
            "AWS_DEFAULT_REGION": stack["region"],
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # moto's dummy credentials
            "BSCPAY_PREFIX": stack.get("prefix", "bscpay-local"),
            "BSCPAY_ALERTS_TOPIC_ARN": stack.get("alerts_topic_arn", ""),
            "BSCPAY_TOKEN_DECIMALS": "18",
        }
    )
    config.reset()
    aws.reset()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build (and publish) the daily digest.")
    parser.add_argument("--date", help="the UTC day, YYYY-MM-DD (default: yesterday)")
    parser.add_argument("--out", default=".local/digests", help="directory for the JSON")
    parser.add_argument("--no-publish", action="store_true", help="do not publish to SNS")
    args = parser.parse_args(argv)
    try:
        day = date.fromisoformat(args.date) if args.date else None
    except ValueError:
        parser.error(f"--date must be YYYY-MM-DD, not {args.date!r}")
    _local_environment()
    run_local(Path(args.out), day, publish_too=not args.no_publish)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
