"""``BscpayStack``: the whole deployment, one construct per area."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, CfnRule, CfnRuleAssertion, Fn, Stack
from constructs import Construct

from infra.cdk.config import DeploymentConfig
from infra.cdk.constants import CUSTODY_DECRYPTERS
from infra.cdk.constructs.api import Api
from infra.cdk.constructs.auth import Auth
from infra.cdk.constructs.chain import Chain
from infra.cdk.constructs.data import Data
from infra.cdk.constructs.functions import Functions
from infra.cdk.constructs.monitoring import Monitoring
from infra.cdk.constructs.webhooks import Webhooks


class BscpayStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        prefix = config.prefix

        self.data = Data(self, "Data", prefix=prefix)
        self.auth = Auth(self, "Auth", prefix=prefix)
        self.webhooks = Webhooks(self, "Webhooks", prefix=prefix, key=self.data.data_key)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            prefix=prefix,
            key=self.data.data_key,
            alarm_email=config.alarm_email,
        )
        self.functions = Functions(
            self,
            "Functions",
            config=config,
            data=self.data,
            queues=self.webhooks.queues,
            user_pool=self.auth.user_pool,
            alerts_topic=self.monitoring.topic,
        )
        fns = self.functions.functions
        self.data.restrict_custody_decrypt([self.functions.roles[n] for n in CUSTODY_DECRYPTERS])
        self.webhooks.connect_consumers(fns)
        self.chain = Chain(self, "Chain", prefix=prefix, functions=fns)
        self.api = Api(
            self,
            "Api",
            prefix=prefix,
            merchant_api=fns["merchant_api"],
            admin_api=fns["admin_api"],
            user_pool=self.auth.user_pool,
        )

        for name, function in fns.items():
            self.monitoring.watch_function(name, function)
        for name, dlq in self.webhooks.dead_letter_queues.items():
            self.monitoring.watch_dead_letter_queue(name, dlq)
        self.monitoring.watch_scanner_lag(service="chain_scanner")
        self.monitoring.watch_finality(service="chain_scanner")
        self.monitoring.watch_hot_wallet(service="settlement")
        self.monitoring.watch_api(self.api.rest_api)

        if not config.bundle:
            self._refuse_deployment()

        outputs = {
            "ApiUrl": self.api.rest_api.url,
            "UserPoolId": self.auth.user_pool.user_pool_id,
            "ConsoleClientId": self.auth.console_client.user_pool_client_id,
            "AlertsTopicArn": self.monitoring.topic.topic_arn,
            "CustodyKeyId": self.data.keys["custody"].key_id,
            "WebhookDlqUrl": self.webhooks.dead_letter_queues["webhooks"].queue_url,
        }
        for output_id, value in outputs.items():
            CfnOutput(self, output_id, value=value)

    def _refuse_deployment(self) -> None:
        """Synthesized with ``-c bundle=false``: the assets were not built, so the
        template must never reach CloudFormation. The rule fails any change set."""
        CfnRule(
            self,
            "AssetsNotBundled",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_equals("bundled", "not-bundled"),
                    assert_description=(
                        "This template was synthesized with -c bundle=false (assets not "
                        "built). Run `make layers`, then `cdk deploy` without bundle=false."
                    ),
                )
            ],
        )
