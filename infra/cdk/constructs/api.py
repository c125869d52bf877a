"""API Gateway REST API: ``/v1`` (merchant API, HMAC verified in the Lambda) and
``/admin`` (admin API behind a Cognito user pool authorizer), with a WAF in front."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.cdk.constants import (
    API_STAGE,
    API_THROTTLE_BURST,
    API_THROTTLE_RATE_RPS,
    AUTHORIZER_CACHE_S,
    CHECKOUT_STATUS_PATH,
    CHECKOUT_STATUS_THROTTLE_BURST,
    CHECKOUT_STATUS_THROTTLE_RATE_RPS,
    WAF_RATE_LIMIT_PER_API_KEY_5MIN,
    WAF_RATE_LIMIT_PER_IP_5MIN,
)
from infra.cdk.nag import acknowledge

_ACCESS_LOG = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "time": "$context.requestTime",
    "method": "$context.httpMethod",
    "resource": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "admin": "$context.authorizer.claims.sub",
    "error": "$context.error.message",
    "waf": "$context.wafResponseCode",
}


def _error(error_type: str, code: str, message: str) -> dict[str, str]:
    """Gateway-made errors in the API's own error shape (DESIGN.md §3)."""
    body = {"error": {"type": error_type, "code": code, "message": "__MESSAGE__"}}
    quoted = json.dumps(body).replace('"__MESSAGE__"', message)
    return {"application/json": quoted}


_GATEWAY_RESPONSES = {
    apigw.ResponseType.UNAUTHORIZED: (
        "401",
        _error("authentication_error", "unauthenticated", '"an admin token is required"'),
    ),
    apigw.ResponseType.ACCESS_DENIED: (
        "403",
        _error("authentication_error", "forbidden", "$context.error.messageString"),
    ),
    # REST APIs answer unknown routes with "Missing Authentication Token" (403).
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: (
        "404",
        _error("invalid_request_error", "resource_missing", '"no such route"'),
    ),
    apigw.ResponseType.THROTTLED: (
        "429",
        _error("rate_limit_error", "throttled", '"too many requests; retry with backoff"'),
    ),
    apigw.ResponseType.WAF_FILTERED: (
        "403",
        _error("authentication_error", "forbidden", '"request blocked"'),
    ),
    apigw.ResponseType.DEFAULT_4_XX: (
        None,
        _error("invalid_request_error", "bad_request", "$context.error.messageString"),
    ),
    apigw.ResponseType.DEFAULT_5_XX: (
        None,
        _error("api_error", "internal_error", '"internal error"'),
    ),
}


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        merchant_api: lambda_.IFunction,
        admin_api: lambda_.IFunction,
        user_pool: cognito.IUserPool,
        checkout_api: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            log_group_name=f"/aws/apigateway/{prefix}-api/access",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{prefix}-api",
            description="bscpay: merchant API (/v1, HMAC) and admin API (/admin, Cognito)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Execution and access logging need API Gateway's account-level CloudWatch
            # role; kept on stack deletion because other APIs in the account share it.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=API_STAGE,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(_ACCESS_LOG)),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # would log bodies: amounts, metadata, secrets
                tracing_enabled=True,
                throttling_rate_limit=API_THROTTLE_RATE_RPS,
                throttling_burst_limit=API_THROTTLE_BURST,
                # The public checkout status (polled by every open checkout page) may
                # never eat the stage's shared budget of the merchant and admin APIs.
                method_options={
                    f"{CHECKOUT_STATUS_PATH}/GET": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=CHECKOUT_STATUS_THROTTLE_RATE_RPS,
                        throttling_burst_limit=CHECKOUT_STATUS_THROTTLE_BURST,
                    )
                },
            ),
        )
        for response_type, (status, templates) in _GATEWAY_RESPONSES.items():
            self.rest_api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                status_code=status,
                templates=templates,
            )

        # /v1: the merchant API verifies the HMAC signature itself (it needs the raw
        # body, which no API Gateway authorizer sees).
        merchant = apigw.LambdaIntegration(merchant_api, proxy=True, allow_test_invoke=False)
        v1 = self.rest_api.root.add_resource("v1")
        public = apigw.MethodOptions(authorization_type=apigw.AuthorizationType.NONE)
        self.v1_methods = [
            v1.add_method("ANY", merchant, authorization_type=apigw.AuthorizationType.NONE),
            v1.add_proxy(
                any_method=True, default_integration=merchant, default_method_options=public
            ).any_method,
        ]
        for method in self.v1_methods:
            if method is None:
                continue
            for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
                acknowledge(
                    method,
                    rule,
                    "Merchant routes authenticate with per-merchant HMAC signatures over the "
                    "raw body, verified in merchant_api (ADR 0004); authorizers never see "
                    "the body.",
                )

        # /kyc/callback: the KYC provider's signed callback (docs/adr/0021), served by
        # merchant_api, which checks the HMAC over timestamp and raw body itself.
        kyc_callback = (
            self.rest_api.root.add_resource("kyc")
            .add_resource("callback")
            .add_method("POST", merchant, authorization_type=apigw.AuthorizationType.NONE)
        )
        for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
            acknowledge(
                kyc_callback,
                rule,
                "The KYC provider signs each callback (HMAC-SHA256 over timestamp and raw "
                "body with a shared secret, replay-protected), verified in merchant_api "
                "(ADR 0021); authorizers never see the body.",
            )

        if checkout_api is not None:
            self.checkout_status = self._checkout_status(checkout_api)

        # /admin: Cognito ID tokens of the admin pool, checked by API Gateway.
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self,
            "AdminAuthorizer",
            authorizer_name=f"{prefix}-admins",
            cognito_user_pools=[user_pool],
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=Duration.seconds(AUTHORIZER_CACHE_S),
        )
        admin_options = apigw.MethodOptions(
            authorizer=authorizer, authorization_type=apigw.AuthorizationType.COGNITO
        )
        admin_integration = apigw.LambdaIntegration(admin_api, proxy=True, allow_test_invoke=False)
        admin = self.rest_api.root.add_resource("admin", default_method_options=admin_options)
        admin.add_method("ANY", admin_integration)
        admin.add_proxy(
            any_method=True,
            default_integration=admin_integration,
            default_method_options=admin_options,
        )

        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG2",
            "Both APIs validate requests in the Lambda (Powertools resolvers with pydantic) "
            "and answer in the API's error shape (400/422); an API Gateway validator would "
            "answer differently.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role: AWS's managed policy is the documented "
            "one for this service role and only writes CloudWatch Logs.",
        )
        self.web_acl = self._waf(prefix)

    def _checkout_status(self, checkout_api: lambda_.IFunction) -> apigw.Method:
        """GET /pay/{id}/status (issue 13): the hosted checkout page's public status.
        Anyone holding the unguessable payment id may read it; it shows nothing
        merchant-private. Throttled per method above, per client in checkout_api."""
        integration = apigw.LambdaIntegration(checkout_api, proxy=True, allow_test_invoke=False)
        method = (
            self.rest_api.root.add_resource("pay")
            .add_resource("{id}")
            .add_resource("status")
            .add_method("GET", integration, authorization_type=apigw.AuthorizationType.NONE)
        )
        for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
            acknowledge(
                method,
                rule,
                "The hosted checkout's public status, read by the paying customer's "
                "browser: the unguessable payment id is the capability, the answer holds "
                "nothing merchant-private; throttled per method and per client IP.",
            )
        return method

    def _waf(self, prefix: str) -> wafv2.CfnWebACL:
        """Per-IP rate limit (the stage throttle is shared by every merchant), the IP
        reputation list and known-bad-input signatures. Low false-positive rule sets
        only: merchant metadata is free text, so no generic XSS/SQLi body rules."""

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"{prefix}-{name}",
                sampled_requests_enabled=True,
            )

        def managed(name: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=name
                    )
                ),
                visibility_config=visibility(name),
            )

        throttled = json.dumps(
            {
                "error": {
                    "type": "rate_limit_error",
                    "code": "throttled",
                    "message": "too many requests from this address; retry with backoff",
                }
            }
        )
        rate_limited = json.dumps(
            {
                "error": {
                    "type": "rate_limit_error",
                    "code": "rate_limited",
                    "message": "this API key sends too many requests; retry with backoff",
                }
            }
        )
        web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=f"{prefix}-api",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("api"),
            custom_response_bodies={
                "throttled": wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON", content=throttled
                ),
                "rate_limited": wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON", content=rate_limited
                ),
            },
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="RateLimitPerIp",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(
                        block=wafv2.CfnWebACL.BlockActionProperty(
                            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                                response_code=429, custom_response_body_key="throttled"
                            )
                        )
                    ),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP",
                            limit=WAF_RATE_LIMIT_PER_IP_5MIN,
                            evaluation_window_sec=300,
                        )
                    ),
                    visibility_config=visibility("rate-limit-per-ip"),
                ),
                # Per API key (issue 15): requests without the header are not counted
                # here (the per-IP rule covers them); the exact budget is the API's.
                wafv2.CfnWebACL.RuleProperty(
                    name="RateLimitPerApiKey",
                    priority=3,
                    action=wafv2.CfnWebACL.RuleActionProperty(
                        block=wafv2.CfnWebACL.BlockActionProperty(
                            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                                response_code=429,
                                custom_response_body_key="rate_limited",
                                response_headers=[
                                    wafv2.CfnWebACL.CustomHTTPHeaderProperty(
                                        name="Retry-After", value="60"
                                    )
                                ],
                            )
                        )
                    ),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="CUSTOM_KEYS",
                            custom_keys=[
                                wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
                                    header=wafv2.CfnWebACL.RateLimitHeaderProperty(
                                        name="x-api-key",
                                        text_transformations=[
                                            wafv2.CfnWebACL.TextTransformationProperty(
                                                priority=0, type="NONE"
                                            )
                                        ],
                                    )
                                )
                            ],
                            limit=WAF_RATE_LIMIT_PER_API_KEY_5MIN,
                            evaluation_window_sec=300,
                        )
                    ),
                    visibility_config=visibility("rate-limit-per-api-key"),
                ),
                managed("AWSManagedRulesAmazonIpReputationList", 1),
                managed("AWSManagedRulesKnownBadInputsRuleSet", 2),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.rest_api.deployment_stage.stage_arn,
            web_acl_arn=web_acl.attr_arn,
        )
        return web_acl
