"""``BscpayStack``: the whole deployment, one construct per area."""

from __future__ import annotations

import sys
from typing import Any

from aws_cdk import Annotations, ArnFormat, CfnOutput, CfnRule, CfnRuleAssertion, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.cdk.config import DeploymentConfig
from infra.cdk.constants import CUSTODY_DECRYPTERS, DIGEST_FUNCTION, QUEUE_AGE_ALARM_S
from infra.cdk.constructs.api import Api
from infra.cdk.constructs.auth import Auth
from infra.cdk.constructs.chain import Chain
from infra.cdk.constructs.data import Data
from infra.cdk.constructs.functions import Functions
from infra.cdk.constructs.monitoring import Monitoring
from infra.cdk.constructs.web import Web
from infra.cdk.constructs.webhooks import Webhooks
from infra.cdk.nag import acknowledge, pseudo


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
            alarm_emails=config.alarm_emails,
            alarm_sms=config.alarm_sms,
        )
        if not (config.alarm_emails or config.alarm_sms):
            # Alarms that reach nobody are a silent outage (issue 16): say it on every synth.
            message = (
                "NO ALARM SUBSCRIBERS: ledger drift, finality stalls and webhook DLQs will "
                "alert nobody. Deploy with -c alarm_email=ops@example.com (and/or "
                "-c alarm_sms=+14155550100), see README 'Deploying to AWS'."
            )
            Annotations.of(self).add_info(message)  # a warning would fail cdk-nag's report
            print(f"WARNING: {message}", file=sys.stderr)
        if not config.fiat_pricing:
            message = (
                "Fiat pricing is off: payments priced in EUR/USD/... answer 400 until "
                "price_feeds and price_rates_url (the second source) are set for this stage "
                "(docs/pricing.md)."
            )
            Annotations.of(self).add_info(message)
            print(f"NOTE: {message}", file=sys.stderr)
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
        self._kyc_and_digest(prefix)
        self._screening_provider(prefix)
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
            checkout_api=fns.get("checkout_api"),
        )
        self._web(prefix)

        for name, function in fns.items():
            self.monitoring.watch_function(name, function)
        for name, dlq in self.webhooks.dead_letter_queues.items():
            self.monitoring.watch_dead_letter_queue(name, dlq)
        self.monitoring.watch_scanner_lag(service="chain_scanner")
        self.monitoring.watch_finality(service="chain_scanner")
        self.monitoring.watch_hot_wallet(service="settlement")
        self.monitoring.watch_api(self.api.rest_api)
        self.monitoring.watch_ledger(service="reconciler")
        self.monitoring.watch_dynamodb()
        for name, queue in self.webhooks.queues.items():
            if name in QUEUE_AGE_ALARM_S:
                self.monitoring.watch_queue_age(name, queue, QUEUE_AGE_ALARM_S[name])
        self.dashboard = self.monitoring.dashboard(
            api=self.api.rest_api,
            functions=fns,
            queues=self.webhooks.queues,
            dead_letter_queues=self.webhooks.dead_letter_queues,
        )

        if not config.bundle:
            self._refuse_deployment()

        outputs = {
            "ApiUrl": self.api.rest_api.url,
            "UserPoolId": self.auth.user_pool.user_pool_id,
            "ConsoleClientId": self.auth.console_client.user_pool_client_id,
            "AlertsTopicArn": self.monitoring.topic.topic_arn,
            "CustodyKeyId": self.data.keys["custody"].key_id,
            "WebhookDlqUrl": self.webhooks.dead_letter_queues["webhooks"].queue_url,
            "WebUrl": self.web.base_url,
            "WebDistributionId": self.web.distribution.distribution_id,
        }
        for output_id, value in outputs.items():
            CfnOutput(self, output_id, value=value)

    def _web(self, prefix: str) -> None:
        """docs/adr/0025: checkout and console behind CloudFront with the API. Every
        payment object carries checkout_url = BSCPAY_CHECKOUT_BASE_URL + /pay/<id>; the
        distribution depends on the API's id only (not its stage), so the functions can
        depend on the distribution without a cycle."""
        self.web = Web(
            self,
            "Web",
            prefix=prefix,
            rest_api=self.api.rest_api,
            user_pool=self.auth.user_pool,
            console_client=self.auth.console_client,
            domain_name=self.config.web_domain,
            certificate_arn=self.config.web_certificate_arn,
            web_acl_arn=self.config.web_acl_arn,
        )
        for function in self.functions.functions.values():
            function.add_environment("BSCPAY_CHECKOUT_BASE_URL", self.web.base_url)
        checkout_api = self.functions.functions.get("checkout_api")
        if checkout_api is not None:
            # The viewer's address as CloudFront saw it, for the per-client rate limit.
            checkout_api.add_environment(
                "BSCPAY_CHECKOUT_CLIENT_IP_HEADER", "CloudFront-Viewer-Address"
            )
            # ... believed only with CloudFront's origin secret (read at run time)
            checkout_api.add_environment(
                "BSCPAY_CHECKOUT_ORIGIN_SECRET_ARN", self.web.origin_secret.secret_arn
            )
            self.web.origin_secret.grant_read(self.functions.roles["checkout_api"])

    def _kyc_and_digest(self, prefix: str) -> None:
        """docs/adr/0021: the KYC provider's callback secret (generated here; shared
        with the provider out of band), which merchant_api alone reads; the digest's
        read of this deployment's alarms."""
        self.kyc_callback_secret = secretsmanager.Secret(
            self,
            "KycCallbackSecret",
            secret_name=f"{prefix}/kyc-callback",
            description="HMAC secret of the KYC provider's callback (POST /kyc/callback)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        acknowledge(
            self.kyc_callback_secret,
            "AwsSolutions-SMG4",
            "Shared with the KYC provider out of band: rotating it is a coordinated change "
            "with the provider, done by an operator (docs/adr/0021).",
        )
        merchant_api = self.functions.functions["merchant_api"]
        self.kyc_callback_secret.grant_read(self.functions.roles["merchant_api"])
        merchant_api.add_environment(
            "BSCPAY_KYC_CALLBACK_SECRET_ARN", self.kyc_callback_secret.secret_arn
        )
        digest_role = self.functions.roles[DIGEST_FUNCTION]
        alarms = self.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{prefix}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        digest_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeOwnAlarms", actions=["cloudwatch:DescribeAlarms"], resources=[alarms]
            )
        )
        acknowledge(
            digest_role,
            f"AwsSolutions-IAM5[Resource::arn:{pseudo(self, 'Partition')}:cloudwatch:"
            f"{pseudo(self, 'Region')}:{pseudo(self, 'AccountId')}:alarm:{prefix}-*]",
            "The digest lists this deployment's own alarms, named by its prefix.",
        )

    def _screening_provider(self, prefix: str) -> None:
        """docs/adr/0020: with ``-c screening_provider_url=https://…`` the provider's HMAC
        secret (generated here, shared with the provider out of band), read by the
        scanner alone: it screens final transfers."""
        if "BSCPAY_SCREENING_PROVIDER_URL" not in self.config.settlement_env():
            return
        secret = secretsmanager.Secret(
            self,
            "ScreeningProviderSecret",
            secret_name=f"{prefix}/screening-provider",
            description="HMAC secret of the AML screening provider's requests",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "Shared with the screening provider out of band: rotating it is a coordinated "
            "change with the provider, done by an operator (docs/adr/0020).",
        )
        secret.grant_read(self.functions.roles["chain_scanner"])
        self.functions.functions["chain_scanner"].add_environment(
            "BSCPAY_SCREENING_PROVIDER_SECRET_ARN", secret.secret_arn
        )

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
