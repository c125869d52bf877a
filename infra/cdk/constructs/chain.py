"""EventBridge schedules for the functions of ``shared.resources.FUNCTIONS`` that have a
``schedule_rate_minutes``: chain_scanner (follows BSC, ~50 s per one-minute tick) and
expirer (expires payments, relays the event outbox)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.cdk.constants import SCHEDULED_MAX_EVENT_AGE_S
from shared import resources


class Chain(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        functions: dict[str, lambda_.Function],
    ) -> None:
        super().__init__(scope, construct_id)
        self.schedules: dict[str, events.Rule] = {}
        for spec in resources.FUNCTIONS:
            if spec.schedule_rate_minutes is None:
                continue
            name = "".join(part.capitalize() for part in spec.name.split("_"))
            self.schedules[spec.name] = events.Rule(
                self,
                f"{name}Schedule",
                rule_name=resources.physical_name(prefix, f"{spec.name}_schedule"),
                description=f"Invoke {spec.name} every {spec.schedule_rate_minutes} min",
                schedule=events.Schedule.rate(Duration.minutes(spec.schedule_rate_minutes)),
                targets=[
                    # A tick that cannot be delivered now is worthless later: the next
                    # tick does the same work.
                    targets.LambdaFunction(
                        functions[spec.name],
                        retry_attempts=0,
                        max_event_age=Duration.seconds(SCHEDULED_MAX_EVENT_AGE_S),
                    )
                ],
            )
