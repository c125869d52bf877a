"""Operator alerts: one SNS topic and the alarms that publish to it."""

from __future__ import annotations

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
    HOT_WALLET_BNB_METRIC,
    HOT_WALLET_BNB_MINIMUM,
    METRICS_NAMESPACE,
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
            alarm_description=description,
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
            metric=dlq.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
        )

    def watch_function(self, name: str, function: lambda_.IFunction) -> None:
        self._alarm(
            f"{_camel(name)}Errors",
            name=f"{name}-errors",
            description=f"{name} raised errors (see its log group and X-Ray traces).",
            metric=function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
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
            metric=api.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
        )


def _camel(logical: str) -> str:
    return "".join(part.capitalize() for part in logical.split("_"))
