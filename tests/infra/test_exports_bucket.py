"""The exports bucket (docs/reports.md): private, encrypted, HTTPS only, objects gone
after a day, and only the two API roles may put and read exports in it."""

from __future__ import annotations

from typing import Any

from infra.cdk.constants import EXPORTS_WRITERS
from shared import resources
from tests.infra import cfn


def _statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """The role's statements, also those CDK moved to an overflow managed policy."""
    found = list(cfn.role_statements(template, role_id))
    for policy in cfn.resources(template, "AWS::IAM::ManagedPolicy").values():
        if role_id in cfn.refs(policy["Properties"].get("Roles", [])):
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def _bucket(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    buckets = {
        k: v for k, v in cfn.resources(template, "AWS::S3::Bucket").items() if "Exports" in k
    }
    assert len(buckets) == 1, buckets
    ((logical_id, bucket),) = buckets.items()
    return logical_id, bucket["Properties"]


def test_exports_bucket_is_private_encrypted_and_expires_objects(template: dict[str, Any]) -> None:
    logical_id, props = _bucket(template)
    block = props["PublicAccessBlockConfiguration"]
    assert all(
        block[k]
        for k in (
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        )
    )
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = props["LifecycleConfiguration"]["Rules"]
    assert any(
        r["Status"] == "Enabled" and r["ExpirationInDays"] == resources.EXPORTS_EXPIRE_DAYS
        for r in rules
    )
    # and a bucket policy refuses anything but HTTPS
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in cfn.resources(template, "AWS::S3::BucketPolicy").values()
        if logical_id in cfn.refs(p["Properties"]["Bucket"])
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statements in policies
        for s in statements
    )


def test_only_the_api_functions_may_write_and_read_exports(template: dict[str, Any]) -> None:
    logical_id, _ = _bucket(template)
    functions = cfn.function_ids(template, "bscpay")
    allowed: set[str] = set()
    for name, function_id in functions.items():
        role = cfn.role_of(template, function_id)
        for statement in _statements(template, role):
            if logical_id in cfn.refs(statement.get("Resource")):
                actions = set(cfn.as_list(statement["Action"]))
                assert actions <= {"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"}
                allowed.add(name)
        env = template["Resources"][function_id]["Properties"]["Environment"]["Variables"]
        assert ("BSCPAY_EXPORTS_BUCKET" in env) == (name in EXPORTS_WRITERS), name
    assert allowed == set(EXPORTS_WRITERS)
