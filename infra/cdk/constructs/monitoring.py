"""Operator alerts: one SNS topic, the alarms that publish to it (each naming its
runbook in docs/runbooks/), and the operator's CloudWatch dashboard (issue 15 §6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.cdk.constants import (
    FINALITY_STALLED_METRIC,
    FINALITY_STALLED_MINUTES,
    HELD_USDT_METRIC,
    HOT_WALLET_BNB_METRIC,
    HOT_WALLET_BNB_MINIMUM,
    HOT_WALLET_USDT_METRIC,
    LEDGER_DRIFT_METRIC,
    METRICS_NAMESPACE,
    RUNBOOK_DIR,
    SCANNER_LAG_METRIC,
    SCANNER_LAG_MINUTES,
    SCANNER_LAG_THRESHOLD_BLOCKS,
)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        key: kms.IKey,
        alarm_emails: tuple[str, ...] = (),
        alarm_sms: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self._prefix = prefix
        self.topic = sns.Topic(
            self,
            "Alerts",
            topic_name=f"{prefix}-alerts",
            display_name="bscpay alerts",
            master_key=key,
            enforce_ssl=True,
        )
        # CloudWatch publishes alarm notifications to the encrypted topic.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToAlerts",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        # Operators reached by e-mail and SMS (CDK context alarm_email / alarm_sms): every
        # alarm, every alert the functions raise, and the daily digest (docs/adr/0021).
        # An e-mail subscription works once its owner confirms AWS's message.
        for email in alarm_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        for number in alarm_sms:
            self.topic.add_subscription(subscriptions.SmsSubscription(number))
        self.alarms: list[cloudwatch.Alarm] = []

    def _alarm(
        self,
        construct_id: str,
        *,
        name: str,
        description: str,
        runbook: str,
        metric: cloudwatch.IMetric,
        threshold: float = 0,
        periods: int = 1,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        ),
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{self._prefix}-{name}",
            # What it means is here; how to check and fix it is in the runbook.
            alarm_description=f"{description} Runbook: {RUNBOOK_DIR}/{runbook}.md",
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    def watch_dead_letter_queue(self, name: str, dlq: sqs.IQueue) -> None:
        self._alarm(
            f"{_camel(name)}DlqNotEmpty",
            name=f"{name}-dlq-not-empty",
            description=(
                f"Messages in the {name} DLQ: deliveries gave up after every retry. "
                "Inspect, fix the cause, then redrive."
            ),
            runbook="dlq-not-empty",
            metric=dlq.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
        )

    def watch_function(self, name: str, function: lambda_.IFunction) -> None:
        self._alarm(
            f"{_camel(name)}Errors",
            name=f"{name}-errors",
            description=f"{name} raised errors (see its log group and X-Ray traces).",
            runbook="function-errors",
            metric=function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
        )
        self._alarm(
            f"{_camel(name)}Throttles",
            name=f"{name}-throttles",
            description=f"{name} was throttled: the account's concurrency is exhausted.",
            runbook="function-throttles",
            metric=function.metric_throttles(period=Duration.minutes(5), statistic="Sum"),
        )

    def watch_scanner_lag(self, service: str) -> None:
        """Payments are detected late (or not at all) while the scanner trails the head.
        No data means the scanner is not reporting, which is just as bad."""
        self._alarm(
            "ScannerLag",
            name="scanner-lag",
            description=(
                f"chain_scanner is more than {SCANNER_LAG_THRESHOLD_BLOCKS} blocks behind the "
                f"head for {SCANNER_LAG_MINUTES} minutes, or not reporting at all."
            ),
            runbook="scanner-lag",
            metric=cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=SCANNER_LAG_METRIC,
                # Powertools Metrics adds the service dimension (POWERTOOLS_SERVICE_NAME).
                dimensions_map={"service": service},
                statistic="Maximum",
                period=Duration.minutes(1),
            ),
            threshold=SCANNER_LAG_THRESHOLD_BLOCKS,
            periods=SCANNER_LAG_MINUTES,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )

    def watch_finality(self, service: str) -> None:
        """The node's `finalized` tag stopped advancing: the scanner is on its depth
        fallback, which is weaker than BSC's fast finality. An operator should look."""
        self._alarm(
            "FinalityStalled",
            name="finality-stalled",
            description=(
                f"The `finalized` block has not advanced for {FINALITY_STALLED_MINUTES} "
                "minutes; payments are finalized by the configured depth fallback."
            ),
            runbook="finality-stalled",
            metric=cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=FINALITY_STALLED_METRIC,
                dimensions_map={"service": service},
                statistic="Maximum",
                period=Duration.minutes(1),
            ),
            threshold=0,
            periods=FINALITY_STALLED_MINUTES,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def watch_hot_wallet(self, service: str) -> None:
        """The hot wallet pays gas for sweeps: top it up before it runs dry."""
        self._alarm(
            "HotWalletBnbLow",
            name="hot-wallet-bnb-low",
            description=(
                f"The hot wallet holds less than {HOT_WALLET_BNB_MINIMUM} BNB for gas; "
                "sweeps will start failing. Top it up and record it in the ledger."
            ),
            runbook="hot-wallet-bnb-low",
            metric=cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=HOT_WALLET_BNB_METRIC,
                dimensions_map={"service": service},
                statistic="Minimum",
                period=Duration.minutes(5),
            ),
            threshold=HOT_WALLET_BNB_MINIMUM,
            periods=1,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        )

    def watch_api(self, api: apigw.RestApi) -> None:
        self._alarm(
            "Api5xx",
            name="api-5xx",
            description="API Gateway answered 5xx (Lambda errors, timeouts, limits).",
            runbook="api-5xx",
            metric=api.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
        )

    def watch_ledger(self, service: str) -> None:
        """The reconciler found the ledger and the chain apart (after its second look)."""
        self._alarm(
            "LedgerDrift",
            name="ledger-drift",
            description="The ledger and the chain disagree on an account after a re-check.",
            runbook="ledger-drift",
            metric=_metric(LEDGER_DRIFT_METRIC, service, "Maximum", minutes=5, label=None),
        )

    def watch_dynamodb(self) -> None:
        """Throttled requests and DynamoDB's own errors, over every table (issue 16 §2).
        One Metrics Insights query per alarm: a per-table alarm would cost 20x as much
        and the first thing an operator asks is which table, which the query's graph
        shows on the dashboard."""
        for metric_name, name, what in (
            ("ThrottledRequests", "dynamodb-throttles", "throttled requests"),
            ("SystemErrors", "dynamodb-errors", "internal server errors"),
        ):
            self._alarm(
                f"DynamoDb{metric_name}",
                name=name,
                description=f"DynamoDB answered {what} to this account's tables.",
                runbook=name,
                metric=cloudwatch.MathExpression(
                    # a CloudWatch Metrics Insights query over our own constants
                    expression=(
                        f'SELECT SUM({metric_name}) FROM SCHEMA("AWS/DynamoDB", '  # noqa: S608
                        "Operation, TableName)"
                    ),
                    period=Duration.minutes(5),
                    label=f"DynamoDB {what}",
                ),
            )

    def watch_queue_age(self, name: str, queue: sqs.IQueue, max_age_s: int) -> None:
        """Work waiting too long: consumers failing, throttled or too few."""
        self._alarm(
            f"{_camel(name)}QueueAge",
            name=f"{name}-queue-age",
            description=(
                f"The oldest message on the {name} queue is older than {max_age_s} s: "
                "work is backing up."
            ),
            runbook="queue-age",
            metric=queue.metric_approximate_age_of_oldest_message(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=max_age_s,
        )

    def dashboard(
        self,
        *,
        api: apigw.RestApi,
        functions: Mapping[str, lambda_.IFunction],
        queues: Mapping[str, sqs.IQueue],
        dead_letter_queues: Mapping[str, sqs.IQueue],
    ) -> cloudwatch.Dashboard:
        """The operator's one screen: money, chain, delivery, APIs, alarms."""
        board = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{self._prefix}-operations",
            default_interval=Duration.hours(6),
        )
        minute = Duration.minutes(1)
        five = Duration.minutes(5)

        def graph(title: str, metrics: list[cloudwatch.IMetric], **kwargs: Any) -> Any:
            return cloudwatch.GraphWidget(title=title, left=metrics, width=8, height=6, **kwargs)

        board.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms (runbooks in docs/runbooks/)", alarms=self.alarms, width=24, height=4
            )
        )
        board.add_widgets(
            graph(
                "API latency (p50, p95, p99)",
                [
                    api.metric_latency(statistic=s, period=five, label=s)
                    for s in ("p50", "p95", "p99")
                ],
            ),
            graph(
                "API errors (4xx, 5xx)",
                [
                    api.metric_client_error(statistic="Sum", period=five, label="4xx"),
                    api.metric_server_error(statistic="Sum", period=five, label="5xx"),
                ],
            ),
            graph(
                "Scanner lag (blocks) and finality stall",
                [
                    _metric(SCANNER_LAG_METRIC, "chain_scanner", "Maximum", minutes=1),
                    _metric(FINALITY_STALLED_METRIC, "chain_scanner", "Maximum", minutes=1),
                ],
            ),
        )
        board.add_widgets(
            graph(
                "Webhook backlog and DLQ",
                [
                    queues["webhooks"].metric_approximate_number_of_messages_visible(
                        period=minute, statistic="Maximum", label="waiting"
                    ),
                    queues["webhooks"].metric_approximate_age_of_oldest_message(
                        period=minute, statistic="Maximum", label="oldest (s)"
                    ),
                    dead_letter_queues["webhooks"].metric_approximate_number_of_messages_visible(
                        period=minute, statistic="Maximum", label="DLQ"
                    ),
                ],
            ),
            graph(
                "Settlement backlog",
                [
                    queues["settlement"].metric_approximate_number_of_messages_visible(
                        period=minute, statistic="Maximum", label="waiting"
                    ),
                    queues["settlement"].metric_approximate_age_of_oldest_message(
                        period=minute, statistic="Maximum", label="oldest (s)"
                    ),
                ],
            ),
            graph(
                "Hot wallet: BNB for gas and USDT",
                [_metric(HOT_WALLET_BNB_METRIC, "settlement", "Minimum", minutes=5)],
                right=[_metric(HOT_WALLET_USDT_METRIC, "settlement", "Minimum", minutes=5)],
            ),
        )
        board.add_widgets(
            graph(
                "Reconciler drift (accounts apart) and held USDT",
                [_metric(LEDGER_DRIFT_METRIC, "reconciler", "Maximum", minutes=5)],
                right=[_metric(HELD_USDT_METRIC, "digest", "Maximum", minutes=60)],
            ),
            graph(
                "Function errors",
                [
                    f.metric_errors(period=five, statistic="Sum", label=n)
                    for n, f in functions.items()
                ],
            ),
            graph(
                "Function throttles",
                [
                    f.metric_throttles(period=five, statistic="Sum", label=n)
                    for n, f in functions.items()
                ],
            ),
        )
        return board


def _metric(
    name: str, service: str, statistic: str, minutes: int, label: str | None = ""
) -> cloudwatch.Metric:
    """One of our metrics (Powertools adds the service dimension). ``label=None`` for an
    alarm: a labelled metric would render as metric math instead of a plain metric."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": service},
        statistic=statistic,
        period=Duration.minutes(minutes),
        label=(label or name) if label is not None else None,
    )


def _camel(logical: str) -> str:
    return "".join(part.capitalize() for part in logical.split("_"))
