"""The two web faces (docs/adr/0025): the hosted checkout (``/pay/<id>``) and the admin
console (``/console/``), built by ``make web`` into ``web/dist``, served from a private
S3 bucket through CloudFront (Origin Access Control), with the API behind the same
distribution so both pages talk to their own origin (CSP ``connect-src 'self'``).

Paths (first match wins):

- ``/pay/*/status``, ``/v1/*``, ``/admin/*``, ``/kyc/*`` -> the REST API's stage
  (origin path ``/<stage>``; no cache; every viewer header but Host forwarded, so the
  merchant HMAC over ``{t}\\n{METHOD}\\n{path}\\n{body}`` and Cognito tokens still verify;
  the public status gets only ``CloudFront-Viewer-Address`` for its per-client limit)
- ``/assets/*`` -> S3 as is (hashed file names, cached a year)
- ``/pay/*`` -> ``/checkout/index.html``, ``/console/*`` -> ``/console/index.html``
  (SPA fallbacks, a CloudFront Function on the viewer request)
- anything else -> S3 (``/`` redirects to ``/console/``)
"""

from __future__ import annotations

import sys
from pathlib import Path

from aws_cdk import Annotations, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.cdk.constants import API_STAGE, REPO_ROOT
from infra.cdk.nag import acknowledge, logical_ref, pseudo

WEB_DIST = REPO_ROOT / "web" / "dist"
# Served by the API origin, in this order before the page behaviours.
STATUS_PATH = "/pay/*/status"
API_PATHS = (STATUS_PATH, "/v1/*", "/admin/*", "/kyc/*")
# Page paths rewritten by the viewer-request function (see _SPA_FUNCTION).
PAGE_PATHS = ("/pay/*", "/console/*")
ACCESS_LOG_DAYS = 90
HSTS_SECONDS = 2 * 365 * 24 * 3600  # two years, as the HSTS preload list asks
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"  # names carry a content hash
PAGE_CACHE_CONTROL = "no-cache"

# cloudfront-js-2.0. /pay/<id> is the checkout page (it reads the id from the path);
# /console/<view> is the console SPA; real files (a dot in the last segment, e.g.
# /console/config.json) pass through. /pay/<id>/status never gets here: its behaviour
# goes to the API.
_SPA_FUNCTION = """\
function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri === '/' || uri === '/console') {
    return {statusCode: 302, statusDescription: 'Found',
            headers: {location: {value: '/console/'}, 'cache-control': {value: 'no-store'}}};
  }
  var last = uri.substring(uri.lastIndexOf('/') + 1);
  if (uri.indexOf('/pay/') === 0) {
    request.uri = '/checkout/index.html';
  } else if (uri.indexOf('/console/') === 0 && last.indexOf('.') === -1) {
    request.uri = '/console/index.html';
  }
  return request;
}
"""


def content_security_policy(region: str) -> str:
    """No inline script or style, no third party: the pages load only their own
    bundle and talk to their own origin (and Cognito, for the console's sign-in)."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            f"connect-src 'self' https://cognito-idp.{region}.amazonaws.com",
            "img-src 'self' data:",
            "style-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class Web(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        rest_api: apigw.RestApi,
        user_pool: cognito.IUserPool,
        console_client: cognito.IUserPoolClient,
        domain_name: str | None = None,
        certificate_arn: str | None = None,
        web_acl_arn: str | None = None,
        dist: Path = WEB_DIST,
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region

        self.log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # CloudFront standard logging writes with the awslogsdelivery account's ACL.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            enforce_ssl=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=Duration.days(ACCESS_LOG_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.log_bucket,
            "AwsSolutions-S1",
            "This is the access-log bucket of the web bucket and the distribution; logging "
            "its own access would log into itself.",
        )
        self.bucket = s3.Bucket(
            self,
            "Assets",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=False,  # rebuilt from the repository by `make web` + deploy
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="s3/",
            removal_policy=RemovalPolicy.RETAIN,
        )

        s3_origin = origins.S3BucketOrigin.with_origin_access_control(
            self.bucket,
            origin_access_levels=[cloudfront.AccessLevel.READ],
        )
        # The stage's domain from the API id alone: rest_api.url would make the
        # distribution depend on the deployment, whose methods depend on the functions,
        # which get the distribution's domain as BSCPAY_CHECKOUT_BASE_URL (a cycle).
        # CloudFront proves itself to the API with a secret header (docs/adr/0026): the
        # checkout's per-viewer rate limit believes CloudFront-Viewer-Address only on
        # requests that carry it, so a caller going straight to execute-api is counted
        # by its own address. The template holds a dynamic reference, not the value.
        self.origin_secret = secretsmanager.Secret(
            self,
            "OriginVerifySecret",
            secret_name=f"{prefix}/cloudfront-origin-verify",
            description="X-Origin-Verify: CloudFront's proof to the API (checkout rate limit)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        acknowledge(
            self.origin_secret,
            "AwsSolutions-SMG4",
            "Sent by CloudFront as an origin header: a rotation changes the distribution "
            "and the API's reader together, done by an operator with a redeploy.",
        )
        api_origin = origins.HttpOrigin(
            f"{rest_api.rest_api_id}.execute-api.{region}.{Aws.URL_SUFFIX}",
            origin_path=f"/{API_STAGE}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            custom_headers={"X-Origin-Verify": self.origin_secret.secret_value.unsafe_unwrap()},
        )

        self.headers_policy = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            response_headers_policy_name=f"{prefix}-web-security-headers",
            comment="bscpay checkout and console: CSP, HSTS, no framing, no sniffing",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(region), override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.seconds(HSTS_SECONDS),
                    include_subdomains=True,
                    preload=True,
                    override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                # The checkout URL carries the payment id: never send it on (wallet
                # links, the merchant's success_url).
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
            custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(
                        header="Permissions-Policy",
                        value="camera=(), microphone=(), geolocation=(), payment=()",
                        override=True,
                    )
                ]
            ),
        )
        spa = cloudfront.Function(
            self,
            "SpaRewrite",
            function_name=f"{prefix}-web-spa-rewrite",
            comment="/pay/<id> -> checkout page, /console/* -> console page",
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            code=cloudfront.FunctionCode.from_inline(_SPA_FUNCTION),
        )
        rewrite = [
            cloudfront.FunctionAssociation(
                function=spa, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
            )
        ]

        def page(functions: list[cloudfront.FunctionAssociation]) -> cloudfront.BehaviorOptions:
            return cloudfront.BehaviorOptions(
                origin=s3_origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.headers_policy,
                function_associations=functions,
                compress=True,
            )

        api = cloudfront.BehaviorOptions(
            origin=api_origin,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            response_headers_policy=self.headers_policy,
            compress=True,
        )
        # The public status needs no viewer header but the viewer's address (its
        # per-client rate limit); nothing else of the viewer's reaches checkout_api.
        status_policy = cloudfront.OriginRequestPolicy(
            self,
            "StatusRequests",
            origin_request_policy_name=f"{prefix}-checkout-status",
            comment="GET /pay/<id>/status: the viewer's address only",
            header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list(
                "CloudFront-Viewer-Address", "Accept-Language"
            ),
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.none(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
        )
        behaviors: dict[str, cloudfront.BehaviorOptions] = {
            path: api for path in API_PATHS if path != STATUS_PATH
        }
        behaviors = {
            STATUS_PATH: cloudfront.BehaviorOptions(
                origin=api_origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=status_policy,
                response_headers_policy=self.headers_policy,
                compress=True,
            ),
            **behaviors,
        }
        behaviors["/assets/*"] = page([])
        for path in PAGE_PATHS:
            behaviors[path] = page(rewrite)

        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", certificate_arn)
            if certificate_arn
            else None
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"{prefix}: hosted checkout, admin console and API",
            default_behavior=page(rewrite),
            additional_behaviors=behaviors,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_ipv6=True,
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
            domain_names=[domain_name] if domain_name and certificate else None,
            certificate=certificate,
            minimum_protocol_version=(
                cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None
            ),
            # A CLOUDFRONT-scope WebACL lives in us-east-1: made there, passed in by ARN.
            web_acl_id=web_acl_arn,
        )
        host = domain_name if domain_name and certificate else None
        self.base_url = f"https://{host or self.distribution.distribution_domain_name}"
        self._acknowledge(has_certificate=certificate is not None, has_waf=bool(web_acl_arn))

        # /console/config.json: what the console needs to sign in against the pool.
        config = {
            "mode": "cognito",
            "region": region,
            "user_pool_id": user_pool.user_pool_id,
            "client_id": console_client.user_pool_client_id,
            "api_base": "",
        }
        self.built = (dist / "checkout" / "index.html").is_file() and (
            dist / "console" / "index.html"
        ).is_file()
        pages = [s3deploy.Source.json_data("console/config.json", config)]
        if self.built:
            pages.insert(0, s3deploy.Source.asset(str(dist), exclude=["assets", "assets/*"]))
        else:
            # On stderr, not as a CDK warning: the validation report counts warnings as
            # findings, and the infra tests synthesize without a build on purpose.
            message = (
                f"{dist} has no build: the web bucket gets only console/config.json. Run "
                "`make web` before `cdk deploy` to publish the checkout and console."
            )
            print(f"bscpay: warning: {message}", file=sys.stderr)
            Annotations.of(self).add_info(message)
        # Hashed bundles first, then the pages that name them. Neither prunes: a page
        # loaded just before a deploy still finds the previous build's /assets/*.js.
        self.deployments: list[s3deploy.BucketDeployment] = []
        if self.built and (dist / "assets").is_dir():
            self.deployments.append(
                s3deploy.BucketDeployment(
                    self,
                    "PublishAssets",
                    sources=[s3deploy.Source.asset(str(dist / "assets"))],
                    destination_bucket=self.bucket,
                    destination_key_prefix="assets/",
                    prune=False,
                    cache_control=[
                        s3deploy.CacheControl.from_string(ASSET_CACHE_CONTROL),
                    ],
                    memory_limit=512,
                )
            )
        pages_deployment = s3deploy.BucketDeployment(
            self,
            "PublishPages",
            sources=pages,
            destination_bucket=self.bucket,
            prune=False,
            # Pages and config.json are revalidated on every load; the invalidation
            # clears CloudFront's copies on each deploy.
            cache_control=[s3deploy.CacheControl.from_string(PAGE_CACHE_CONTROL)],
            distribution=self.distribution,
            distribution_paths=["/*"],
            memory_limit=512,
        )
        for earlier in self.deployments:
            pages_deployment.node.add_dependency(earlier)
        self.deployments.append(pages_deployment)
        self._acknowledge_publisher()

    def _acknowledge_publisher(self) -> None:
        """BucketDeployment's handler is a CDK singleton at the stack's root (one per
        memory size); its role and runtime are CDK's, not ours to narrow."""
        stack = Stack.of(self)
        handlers = [
            child
            for child in stack.node.children
            if child.node.id.startswith("Custom::CDKBucketDeployment")
        ]
        bucket = logical_ref(self.bucket)
        partition, account, region = (pseudo(self, n) for n in ("Partition", "AccountId", "Region"))
        reasons = {
            "AwsSolutions-L1": "CDK's BucketDeployment handler: CDK picks and updates its runtime.",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]": "CDK's BucketDeployment handler writes only its "
            "own CloudWatch logs with this managed policy.",
            "AwsSolutions-IAM5[Resource::*]": "CDK's BucketDeployment handler: CloudFront "
            "CreateInvalidation/GetInvalidation have no resource-level permissions.",
            f"AwsSolutions-IAM5[Resource::arn:{partition}:s3:::cdk-hnb659fds-assets-"
            f"{account}-{region}/*]": "CDK's BucketDeployment handler reads the zipped web "
            "build from the CDK bootstrap asset bucket.",
            f"AwsSolutions-IAM5[Resource::{bucket}/*]": "CDK's BucketDeployment handler "
            "copies the web build into the web bucket (any key of the build).",
        }
        for action in ("s3:GetBucket*", "s3:GetObject*", "s3:List*", "s3:Abort*"):
            reasons[f"AwsSolutions-IAM5[Action::{action}]"] = (
                "CDK's BucketDeployment grant: read the asset bucket and write the web bucket only."
            )
        reasons["AwsSolutions-IAM5[Action::s3:DeleteObject*]"] = (
            "CDK's BucketDeployment grant on the web bucket (prune is off: nothing is "
            "deleted by a deploy)."
        )
        for handler in handlers:
            for rule, reason in reasons.items():
                acknowledge(handler, rule, reason)

    def _acknowledge(self, *, has_certificate: bool, has_waf: bool) -> None:
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR1",
            "Customers pay from anywhere; sanctions screening happens on the chain side "
            "(docs/adr/0020), not by the viewer's country.",
        )
        if not has_waf:
            acknowledge(
                self.distribution,
                "AwsSolutions-CFR2",
                "A CLOUDFRONT-scope WebACL must live in us-east-1 and this stack deploys to "
                "one region: pass one with -c web_acl_arn; the API origin stays behind the "
                "regional WebACL either way (docs/adr/0025).",
            )
        if not has_certificate:
            acknowledge(
                self.distribution,
                "AwsSolutions-CFR4",
                "No custom domain configured: the *.cloudfront.net default certificate's "
                "policy is fixed by AWS; with -c web_domain/web_certificate_arn the "
                "distribution requires TLSv1.2_2021 (docs/adr/0025).",
            )
