"""Create the synthesized template in moto's CloudFormation (issue 16 §1): a deploy smoke
test that needs no AWS account.

moto implements CloudFormation for many resource types, not all. What it cannot create
is taken out of the copy sent to it and reported: references to those resources become
placeholder ARNs (``arn:aws:unsupported:…:<LogicalId>``), ``DependsOn`` on them is
dropped. Two known moto quirks are adapted in the copy only (KMS key tags spelled
``TagKey``/``TagValue``). The template itself is never changed. Before the stack, the
assets are published to the bootstrap bucket, as ``cdk deploy`` does (placeholder zips:
the test is about the stack, not the code)."""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from typing import Any

REGION = "us-east-1"
BOOTSTRAP_QUALIFIER = "hnb659fds"


@dataclass
class MotoDeploy:
    status: str
    created: dict[str, str]  # logical id -> resource type, CREATE_COMPLETE in moto
    unsupported: Counter[str]  # resource type -> count, left out of the moto copy
    physical: dict[str, str]  # logical id -> physical id


def moto_copy(
    template: dict[str, Any], supported: set[str], account: str
) -> tuple[dict[str, Any], set[str]]:
    t = copy.deepcopy(template)
    gone = {
        name
        for name, r in t["Resources"].items()
        # Custom resources run a Lambda (moto would need Docker to run it)
        if r["Type"] not in supported or r["Type"].startswith("Custom::")
    }

    def placeholder(name: str) -> str:
        return f"arn:aws:unsupported:{REGION}:{account}:{name}"

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in gone:
                return placeholder(node["Ref"])
            if set(node) == {"Fn::GetAtt"}:
                target = node["Fn::GetAtt"]
                name = target[0] if isinstance(target, list) else str(target).split(".")[0]
                if name in gone:
                    return placeholder(name)
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    for name in gone:
        del t["Resources"][name]
    for resource in t["Resources"].values():
        depends = resource.get("DependsOn")
        if isinstance(depends, list):
            resource["DependsOn"] = [d for d in depends if d not in gone]
        elif depends in gone:
            del resource["DependsOn"]
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::KMS::Key" and "Tags" in props:
            props["Tags"] = [{"TagKey": x["Key"], "TagValue": x["Value"]} for x in props["Tags"]]
    return walk(t), gone


def client(endpoint: str, service: str) -> Any:
    import boto3

    return boto3.client(  # type: ignore[call-overload]  # the service is a variable
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",  # moto's dummy credentials
        aws_secret_access_key="testing",
    )


def deploy(template: dict[str, Any], endpoint: str) -> MotoDeploy:
    """Against a moto server at ``endpoint``: publish the assets, create the stack,
    report. (A server, not ``mock_aws``: nothing else in the process is patched.)"""
    from moto.cloudformation import parsing
    from moto.core import DEFAULT_ACCOUNT_ID

    account = DEFAULT_ACCOUNT_ID
    client(endpoint, "ssm").put_parameter(
        Name=f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version", Value="25", Type="String"
    )
    s3 = client(endpoint, "s3")
    bucket = f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{account}-{REGION}"
    s3.create_bucket(Bucket=bucket)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return None\n")
    for key in set(re.findall(r'"S3Key": "([^"]+)"', json.dumps(template))):
        s3.put_object(Bucket=bucket, Key=key, Body=archive.getvalue())

    ready, gone = moto_copy(template, set(parsing.get_model_map()), account)
    cfn = client(endpoint, "cloudformation")
    cfn.create_stack(
        StackName="bscpay-smoke",
        TemplateBody=json.dumps(ready),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    stack = cfn.describe_stacks(StackName="bscpay-smoke")["Stacks"][0]
    listed = cfn.get_paginator("list_stack_resources").paginate(StackName="bscpay-smoke")
    summaries = [s for page in listed for s in page["StackResourceSummaries"]]
    return MotoDeploy(
        status=stack["StackStatus"],
        created={
            s["LogicalResourceId"]: s["ResourceType"]
            for s in summaries
            if s["ResourceStatus"] == "CREATE_COMPLETE"
        },
        unsupported=Counter(template["Resources"][name]["Type"] for name in gone),
        physical={s["LogicalResourceId"]: s.get("PhysicalResourceId", "") for s in summaries},
    )
