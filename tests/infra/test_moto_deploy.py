"""The deploy smoke test (issue 16 §1): the synthesized template is created in moto's
CloudFormation as far as moto supports its resource types; the rest are listed (and
written to test-output/infra/moto-deploy.json for the reader)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from shared import resources
from shared.local.chain import free_port
from tests.conftest import fresh_output_dir
from tests.infra.moto_deploy import client, deploy

# What moto cannot create today. A type leaving this list (moto learned it) or joining
# it (the stack gained one) fails the test, so the list in the README stays true.
EXPECTED_UNSUPPORTED = {
    "AWS::ApiGateway::Account",
    "AWS::ApiGateway::Authorizer",
    "AWS::ApiGateway::GatewayResponse",
    "AWS::ApiGateway::Stage",
    "AWS::CloudFront::Distribution",
    "AWS::CloudFront::Function",
    "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::OriginRequestPolicy",
    "AWS::CloudFront::ResponseHeadersPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolGroup",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SecretsManager::Secret",
    "AWS::WAFv2::WebACL",
    "AWS::WAFv2::WebACLAssociation",
    "Custom::CDKBucketDeployment",  # runs a Lambda: moto would need Docker
}


@pytest.fixture
def moto_server() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_the_template_creates_in_moto_cloudformation(
    template: dict[str, Any], moto_server: str
) -> None:
    result = deploy(template, moto_server)
    # Then the stack is complete and every resource moto supports was created
    assert result.status == "CREATE_COMPLETE"
    supported = {
        name for name, r in template["Resources"].items() if r["Type"] not in result.unsupported
    }
    assert set(result.created) == supported
    assert set(result.unsupported) == EXPECTED_UNSUPPORTED
    # and the real things exist: every table, the queues, the functions, the keys
    tables = set(client(moto_server, "dynamodb").list_tables()["TableNames"])
    assert {resources.physical_name("bscpay", t.logical) for t in resources.TABLES} <= tables
    queues = client(moto_server, "sqs").list_queues()["QueueUrls"]
    assert any(q.endswith("settlement.fifo") for q in queues)
    functions = client(moto_server, "lambda").list_functions()["Functions"]
    names = {f["FunctionName"] for f in functions}
    assert {resources.physical_name("bscpay", spec.name) for spec in resources.FUNCTIONS} <= names
    # and no function's environment carries RPC URLs (only the secret's name)
    for f in functions:
        env = f.get("Environment", {}).get("Variables", {})
        assert "BSCPAY_RPC_URLS" not in env, f["FunctionName"]
    out = fresh_output_dir("infra-moto") / "moto-deploy.json"
    out.write_text(
        json.dumps(
            {
                "status": result.status,
                "created": len(result.created),
                "unsupported": dict(sorted(result.unsupported.items())),
            },
            indent=2,
        )
    )
