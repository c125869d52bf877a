"""The web faces in AWS (docs/adr/0025): a private bucket behind CloudFront (OAC), the
API behind the same distribution, security headers, access logs, the console's
config.json, and the public checkout status route (no authorizer, throttled)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito

from infra.cdk.config import ConfigError, from_context
from infra.cdk.constants import (
    API_STAGE,
    CHECKOUT_STATUS_THROTTLE_BURST,
    CHECKOUT_STATUS_THROTTLE_RATE_RPS,
)
from infra.cdk.constructs.web import Web
from tests.infra import cfn
from tests.infra.conftest import cdk_context

Template = dict[str, Any]
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def _one(template: Template, type_: str, contains: str = "") -> tuple[str, dict[str, Any]]:
    found = {k: v for k, v in cfn.resources(template, type_).items() if contains in k}
    assert len(found) == 1, sorted(found)
    ((logical_id, resource),) = found.items()
    return logical_id, resource["Properties"]


def _distribution(template: Template) -> dict[str, Any]:
    _, props = _one(template, "AWS::CloudFront::Distribution")
    config: dict[str, Any] = props["DistributionConfig"]
    return config


def _origins(template: Template) -> dict[str, dict[str, Any]]:
    return {o["Id"]: o for o in _distribution(template)["Origins"]}


def _behaviours(template: Template) -> dict[str, dict[str, Any]]:
    return {b["PathPattern"]: b for b in _distribution(template)["CacheBehaviors"]}


def _joined(value: Any) -> str:
    """A Fn::Join of strings and pseudo parameters as text (``${AWS::Region}``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return str(sep).join(_joined(p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return "${" + value["Ref"] + "}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    return json.dumps(value)


# ---- bucket and origin access ---------------------------------------------------------


def test_web_bucket_is_private_encrypted_logged_and_read_only_by_cloudfront_with_oac(
    template: Template,
) -> None:
    bucket_id, bucket = _one(template, "AWS::S3::Bucket", "WebAssets")
    block = bucket["PublicAccessBlockConfiguration"]
    assert all(block[k] for k in block) and len(block) == 4
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    log_id, _ = _one(template, "AWS::S3::Bucket", "WebAccessLogs")
    assert cfn.refs(bucket["LoggingConfiguration"]["DestinationBucketName"]) == {log_id}
    assert "WebsiteConfiguration" not in bucket  # a REST origin, never a website endpoint

    oac_id, oac = _one(template, "AWS::CloudFront::OriginAccessControl")
    config = oac["OriginAccessControlConfig"]
    assert config["OriginAccessControlOriginType"] == "s3"
    assert config["SigningBehavior"] == "always" and config["SigningProtocol"] == "sigv4"
    (s3_origin,) = [o for o in _origins(template).values() if "S3OriginConfig" in o]
    assert cfn.refs(s3_origin["OriginAccessControlId"]) == {oac_id}
    assert s3_origin["S3OriginConfig"].get("OriginAccessIdentity", "") == ""  # no OAI
    assert not cfn.resources(template, "AWS::CloudFront::CloudFrontOriginAccessIdentity")

    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in cfn.resources(template, "AWS::S3::BucketPolicy").values()
        if bucket_id in cfn.refs(p["Properties"]["Bucket"])
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy
    )
    (grant,) = [s for s in policy if s["Effect"] == "Allow"]
    assert grant["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert cfn.as_list(grant["Action"]) == ["s3:GetObject"]
    (distribution_id, _) = _one(template, "AWS::CloudFront::Distribution")
    assert distribution_id in cfn.refs(grant["Condition"])  # this distribution only


# ---- behaviours -----------------------------------------------------------------------


def test_api_paths_go_to_the_stage_uncached_with_every_viewer_header_but_host(
    template: Template,
) -> None:
    behaviours = _behaviours(template)
    origins = _origins(template)
    (api_origin,) = [o for o in origins.values() if "CustomOriginConfig" in o]
    assert api_origin["OriginPath"] == f"/{API_STAGE}"
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert api_origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
    (rest_api_id,) = cfn.resources(template, "AWS::ApiGateway::RestApi")
    domain = _joined(api_origin["DomainName"])
    assert domain.startswith("${" + rest_api_id + "}.execute-api.${AWS::Region}.")
    # the API's id only: never its stage or deployment (the functions depend on us)
    assert cfn.refs(api_origin["DomainName"]) == {rest_api_id, "AWS::Region", "AWS::URLSuffix"}

    for path in ("/v1/*", "/admin/*", "/kyc/*"):
        b = behaviours[path]
        assert b["TargetOriginId"] == api_origin["Id"], path
        assert b["CachePolicyId"] == CACHING_DISABLED, path
        assert b["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST, path
        assert set(b["AllowedMethods"]) >= {"GET", "POST", "DELETE", "PATCH", "PUT"}, path
        assert b["ViewerProtocolPolicy"] == "https-only", path
        assert "FunctionAssociations" not in b or not b["FunctionAssociations"], path


def test_checkout_status_goes_to_the_api_before_the_page_rewrite(template: Template) -> None:
    order = [b["PathPattern"] for b in _distribution(template)["CacheBehaviors"]]
    assert order.index("/pay/*/status") < order.index("/pay/*")  # first match wins
    status = _behaviours(template)["/pay/*/status"]
    (api_origin,) = [o for o in _origins(template).values() if "CustomOriginConfig" in o]
    assert status["TargetOriginId"] == api_origin["Id"]
    assert status["CachePolicyId"] == CACHING_DISABLED
    assert status["AllowedMethods"] == ["GET", "HEAD"]
    (policy_id,) = cfn.refs(status["OriginRequestPolicyId"])
    config = cfn.props(template, policy_id)["OriginRequestPolicyConfig"]
    headers = config["HeadersConfig"]
    assert headers["HeaderBehavior"] == "whitelist"
    assert "CloudFront-Viewer-Address" in headers["Headers"] and "Host" not in headers["Headers"]
    assert config["CookiesConfig"]["CookieBehavior"] == "none"


def test_pages_come_from_s3_with_spa_fallbacks(template: Template) -> None:
    behaviours = _behaviours(template)
    (s3_origin,) = [o for o in _origins(template).values() if "S3OriginConfig" in o]
    function_id, function = _one(template, "AWS::CloudFront::Function")
    code = function["FunctionCode"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert "'/checkout/index.html'" in code and "'/console/index.html'" in code
    default = _distribution(template)["DefaultCacheBehavior"]
    for name, b in {**behaviours, "default": default}.items():
        if name in ("/pay/*/status", "/v1/*", "/admin/*", "/kyc/*"):
            continue
        assert b["TargetOriginId"] == s3_origin["Id"], name
        assert b["AllowedMethods"] == ["GET", "HEAD"], name
        assert b["ViewerProtocolPolicy"] == "redirect-to-https", name
        rewrites = {
            f["EventType"]: cfn.refs(f["FunctionARN"]) for f in b.get("FunctionAssociations", [])
        }
        if name == "/assets/*":
            assert rewrites == {}, name  # hashed files, served as they are
        else:
            assert rewrites == {"viewer-request": {function_id}}, name


def _run_rewrite(code: str, uri: str) -> dict[str, Any]:
    """The CloudFront Function's JS is tiny ES5: run it with node when present."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = code + f"\nconsole.log(JSON.stringify(handler({{request: {{uri: {uri!r}}}}})));"
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@pytest.mark.parametrize(
    ("uri", "rewritten"),
    [
        ("/pay/pay_01HZX", "/checkout/index.html"),
        ("/pay/pay_01HZX/", "/checkout/index.html"),
        ("/console/", "/console/index.html"),
        ("/console/payments/pay_1", "/console/index.html"),
        ("/console/config.json", "/console/config.json"),  # a real file passes through
        ("/checkout/index.html", "/checkout/index.html"),
    ],
)
def test_the_rewrite_function_maps_pages_to_their_spa(
    template: Template, uri: str, rewritten: str
) -> None:
    _, function = _one(template, "AWS::CloudFront::Function")
    assert _run_rewrite(function["FunctionCode"], uri)["uri"] == rewritten


@pytest.mark.parametrize("uri", ["/", "/console"])
def test_the_root_redirects_to_the_console(template: Template, uri: str) -> None:
    _, function = _one(template, "AWS::CloudFront::Function")
    answer = _run_rewrite(function["FunctionCode"], uri)
    assert answer["statusCode"] == 302
    assert answer["headers"]["location"]["value"] == "/console/"


# ---- headers, TLS, logging ------------------------------------------------------------


def test_every_behaviour_sends_the_security_headers(template: Template) -> None:
    policy_id, policy = _one(template, "AWS::CloudFront::ResponseHeadersPolicy")
    config = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = _joined(config["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    directives = dict([*d.split(" ", 1), ""][:2] for d in (x.strip() for x in csp.split(";")) if d)
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["connect-src"] == "'self' https://cognito-idp.${AWS::Region}.amazonaws.com"
    assert directives["img-src"] == "'self' data:"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert config["ContentSecurityPolicy"]["Override"] is True
    hsts = config["StrictTransportSecurity"]
    assert hsts["AccessControlMaxAgeSec"] >= 2 * 365 * 24 * 3600
    assert hsts["IncludeSubdomains"] is True and hsts["Preload"] is True
    assert config["ContentTypeOptions"]["Override"] is True
    assert config["FrameOptions"]["FrameOption"] == "DENY"
    assert config["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"

    distribution = _distribution(template)
    for b in [distribution["DefaultCacheBehavior"], *distribution["CacheBehaviors"]]:
        assert cfn.refs(b["ResponseHeadersPolicyId"]) == {policy_id}, b.get("PathPattern")


def test_distribution_logs_to_the_log_bucket_and_uses_the_default_certificate(
    template: Template,
) -> None:
    distribution = _distribution(template)
    log_id, log_bucket = _one(template, "AWS::S3::Bucket", "WebAccessLogs")
    assert cfn.refs(distribution["Logging"]["Bucket"]) == {log_id}
    assert log_bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] > 0
    assert all(log_bucket["PublicAccessBlockConfiguration"].values())
    # no custom domain in cdk.json: the *.cloudfront.net certificate (docs/adr/0025)
    assert "Aliases" not in distribution
    assert distribution.get("ViewerCertificate", {}).get("CloudFrontDefaultCertificate", True)
    assert distribution["HttpVersion"] == "http2and3"


def test_a_cloudfront_web_acl_from_us_east_1_can_be_attached(tmp_path: Path) -> None:
    acl = (
        "arn:aws:wafv2:us-east-1:123456789012:global/webacl/bscpay-edge/"
        "0a1b2c3d-0000-4000-8000-000000000000"
    )
    assert from_context({**cdk_context(), "web_acl_arn": acl}).web_acl_arn == acl
    with pytest.raises(ConfigError, match="CLOUDFRONT"):
        from_context({**cdk_context(), "web_acl_arn": acl.replace("us-east-1", "eu-west-1")})
    template = _web_template(tmp_path, web_acl=acl)
    (distribution,) = cfn.resources(template, "AWS::CloudFront::Distribution").values()
    assert distribution["Properties"]["DistributionConfig"]["WebACLId"] == acl


def test_a_custom_domain_requires_tls12_2021_and_a_us_east_1_certificate() -> None:
    base = cdk_context()
    cert = (
        "arn:aws:acm:us-east-1:123456789012:certificate/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12
    )
    config = from_context({**base, "web_domain": "Pay.Example.com", "web_certificate_arn": cert})
    assert (config.web_domain, config.web_certificate_arn) == ("pay.example.com", cert)
    with pytest.raises(ConfigError, match="both"):
        from_context({**base, "web_domain": "pay.example.com"})
    with pytest.raises(ConfigError, match="us-east-1"):
        from_context(
            {
                **base,
                "web_domain": "pay.example.com",
                "web_certificate_arn": cert.replace("us-east-1", "eu-west-1"),
            }
        )
    template = _web_template(Path("/nonexistent"), domain="pay.example.com", certificate=cert)
    (distribution,) = cfn.resources(template, "AWS::CloudFront::Distribution").values()
    config_ = distribution["Properties"]["DistributionConfig"]
    assert config_["Aliases"] == ["pay.example.com"]
    assert config_["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert config_["ViewerCertificate"]["AcmCertificateArn"] == cert
    assert config_["ViewerCertificate"]["SslSupportMethod"] == "sni-only"


# ---- functions, config.json, build ----------------------------------------------------


def test_functions_learn_the_checkout_base_url_from_the_distribution(template: Template) -> None:
    distribution_id, _ = _one(template, "AWS::CloudFront::Distribution")
    for name, function_id in cfn.function_ids(template, "bscpay").items():
        env = cfn.props(template, function_id)["Environment"]["Variables"]
        url = _joined(env["BSCPAY_CHECKOUT_BASE_URL"])
        assert url == "https://${" + distribution_id + ".DomainName}", name
    functions = cfn.function_ids(template, "bscpay")
    if "checkout_api" in functions:
        env = cfn.props(template, functions["checkout_api"])["Environment"]["Variables"]
        assert env["BSCPAY_CHECKOUT_CLIENT_IP_HEADER"] == "CloudFront-Viewer-Address"


def test_console_config_json_names_the_pool_and_its_client(template: Template) -> None:
    deployments = cfn.resources(template, "Custom::CDKBucketDeployment")
    (pages,) = [d["Properties"] for k, d in deployments.items() if "PublishPages" in k]
    (bucket_id, _) = _one(template, "AWS::S3::Bucket", "WebAssets")
    assert cfn.refs(pages["DestinationBucketName"]) == {bucket_id}
    assert pages["Prune"] is False
    assert pages["DistributionPaths"] == ["/*"]
    assert "no-cache" in json.dumps(pages.get("SystemMetadata", {}))
    markers = json.dumps(pages["SourceMarkers"])
    pool_id, _ = _one(template, "AWS::Cognito::UserPool")
    client_id, client = _one(template, "AWS::Cognito::UserPoolClient")
    assert pool_id in markers and client_id in markers and "AWS::Region" in markers
    # the console signs in with a password (+ TOTP) or SRP, without a client secret
    assert {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"} <= set(client["ExplicitAuthFlows"])
    assert not client.get("GenerateSecret", False)


def _web_template(
    dist: Path,
    domain: str | None = None,
    certificate: str | None = None,
    web_acl: str | None = None,
) -> Template:
    """A small stack holding only the Web construct (a RestApi stand-in, a pool)."""
    app = App(builtin_cloud_formation_validation=False)
    stack = Stack(app, "WebOnly")
    api = apigw.RestApi(stack, "Api", deploy_options=apigw.StageOptions(stage_name=API_STAGE))
    api.root.add_method("GET", apigw.MockIntegration())
    pool = cognito.UserPool(stack, "Pool")
    client = pool.add_client("Client", auth_flows=cognito.AuthFlow(user_password=True))
    web = Web(
        stack,
        "Web",
        prefix="probe",
        rest_api=api,
        user_pool=pool,
        console_client=client,
        domain_name=domain,
        certificate_arn=certificate,
        web_acl_arn=web_acl,
        dist=dist,
    )
    assembly = app.synth()
    template: Template = assembly.get_stack_by_name("WebOnly").template
    template["_built"] = web.built
    # Annotations from the assembly's manifest: jsii cannot always hand back the
    # artifact's message objects (an unregistered MetadataEntry interface).
    directory = Path(assembly.directory)
    stack_entry = json.loads((directory / "manifest.json").read_text())["artifacts"]["WebOnly"]
    metadata = dict(stack_entry.get("metadata", {}))
    extra = stack_entry.get("additionalMetadataFile")  # newer CDK writes it beside the manifest
    if extra:
        metadata.update(json.loads((directory / extra).read_text()))
    template["_messages"] = [
        str(entry.get("data"))
        for entries in metadata.values()
        for entry in entries
        if str(entry.get("type", "")).startswith("aws:cdk:") and "data" in entry
    ]
    return template


def test_without_a_build_the_bucket_gets_only_config_json_and_synth_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = _web_template(tmp_path / "dist")  # nothing built
    assert template["_built"] is False
    assert "warning" in capsys.readouterr().err and "make web" in str(template["_messages"])
    deployments = cfn.resources(template, "Custom::CDKBucketDeployment")
    (pages,) = deployments.values()  # no assets deployment
    assert len(pages["Properties"]["SourceObjectKeys"]) == 1  # config.json alone
    assert cfn.resources(template, "AWS::CloudFront::Distribution")
    assert cfn.resources(template, "AWS::S3::Bucket")


def test_with_a_build_assets_are_immutable_and_pages_revalidated(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    for page in ("checkout/index.html", "console/index.html", "assets/app-1a2b.js"):
        (dist / page).parent.mkdir(parents=True, exist_ok=True)
        (dist / page).write_text("x")
    template = _web_template(dist)
    assert template["_built"] is True
    deployments = {
        k: d["Properties"]
        for k, d in cfn.resources(template, "Custom::CDKBucketDeployment").items()
    }
    (assets,) = [d for k, d in deployments.items() if "PublishAssets" in k]
    (pages,) = [d for k, d in deployments.items() if "PublishPages" in k]
    assert assets["DestinationBucketKeyPrefix"] == "assets/"
    assert "immutable" in json.dumps(assets["SystemMetadata"])
    assert "no-cache" in json.dumps(pages["SystemMetadata"])
    assert len(pages["SourceObjectKeys"]) == 2  # the pages + config.json
    assert assets["Prune"] is False and pages["Prune"] is False


# ---- the public status route ----------------------------------------------------------


def _status_method(template: Template) -> dict[str, Any] | None:
    resources = cfn.resources(template, "AWS::ApiGateway::Resource")
    status = [k for k, r in resources.items() if r["Properties"]["PathPart"] == "status"]
    if not status:
        return None
    (status_id,) = status
    (method,) = [
        m["Properties"]
        for m in cfn.resources(template, "AWS::ApiGateway::Method").values()
        if status_id in cfn.refs(m["Properties"]["ResourceId"])
    ]
    return method


def test_checkout_status_route_is_public_throttled_and_served_by_checkout_api(
    template: Template,
) -> None:
    functions = cfn.function_ids(template, "bscpay")
    method = _status_method(template)
    if "checkout_api" not in functions:
        assert method is None
        pytest.skip("checkout_api is not in shared.resources.FUNCTIONS yet")
    assert method is not None
    assert method["HttpMethod"] == "GET"
    assert method["AuthorizationType"] == "NONE" and "AuthorizerId" not in method
    assert method["Integration"]["Type"] == "AWS_PROXY"
    assert functions["checkout_api"] in cfn.refs(method["Integration"]["Uri"])
    (stage,) = cfn.resources(template, "AWS::ApiGateway::Stage").values()
    settings = {
        (m["ResourcePath"], m["HttpMethod"]): m for m in stage["Properties"]["MethodSettings"]
    }
    status = settings[("/~1pay~1{id}~1status", "GET")]
    assert status["ThrottlingRateLimit"] == CHECKOUT_STATUS_THROTTLE_RATE_RPS
    assert status["ThrottlingBurstLimit"] == CHECKOUT_STATUS_THROTTLE_BURST
    stage_wide = settings[("/*", "*")]
    assert status["ThrottlingRateLimit"] < stage_wide["ThrottlingRateLimit"]
    assert status["ThrottlingBurstLimit"] < stage_wide["ThrottlingBurstLimit"]


# ---- `cdk synth` / `cdk deploy` with a resolved environment -----------------------------


def test_cdk_nag_passes_when_the_cli_resolved_account_and_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI sets CDK_DEFAULT_REGION (and the account with credentials): cdk-nag then
    prints resolved ARNs in finding ids, so acknowledgments must follow (nag.pseudo)."""
    from infra.cdk.app import create_app

    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "123456789012")
    app, _ = create_app(cdk_context(), outdir=str(tmp_path), builtin_validation=False)
    app.synth()  # raises on any unacknowledged finding
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert [v for r in report.get("pluginReports", []) for v in r.get("violations", [])] == []
