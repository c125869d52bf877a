"""Provision the local stack's AWS resources on moto from ``shared.resources`` —
the same definitions the CDK stack is built from."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

import boto3

from shared import resources


@dataclass
class Provisioned:
    webhook_queue_url: str
    webhook_dlq_url: str
    secrets_key_id: str
    custody_key_id: str
    user_pool_id: str
    client_id: str
    alerts_topic_arn: str
    settlement_queue_url: str = ""
    exports_bucket: str = ""

    def env(self) -> dict[str, str]:
        return {
            "BSCPAY_WEBHOOK_QUEUE_URL": self.webhook_queue_url,
            "BSCPAY_SECRETS_KEY_ID": self.secrets_key_id,
            "BSCPAY_CUSTODY_KEY_ID": self.custody_key_id,
            "BSCPAY_USER_POOL_ID": self.user_pool_id,
            "BSCPAY_ALERTS_TOPIC_ARN": self.alerts_topic_arn,
            "BSCPAY_SETTLEMENT_QUEUE_URL": self.settlement_queue_url,
            "BSCPAY_EXPORTS_BUCKET": self.exports_bucket,
        }


def _client(service: str, endpoint: str, region: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create_tables(endpoint: str, region: str, prefix: str) -> None:
    ddb = _client("dynamodb", endpoint, region)
    existing = set(ddb.list_tables()["TableNames"])
    for table in resources.TABLES:
        name = resources.physical_name(prefix, table.logical)
        if name in existing:
            _add_missing_indexes(ddb, name, table)
            continue
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **table.definition())
        if table.ttl_attribute:
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )


def _add_missing_indexes(ddb: Any, name: str, table: resources.Table) -> None:
    """A table kept from an earlier run (.local/) gets the indexes added since."""
    have = {
        i["IndexName"]
        for i in ddb.describe_table(TableName=name)["Table"].get("GlobalSecondaryIndexes", [])
    }
    for index in table.indexes:
        if index.name in have:
            continue
        attrs = [{"AttributeName": index.partition_key, "AttributeType": "S"}]
        schema = [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
        if index.sort_key:
            attrs.append({"AttributeName": index.sort_key, "AttributeType": index.sort_key_type})
            schema.append({"AttributeName": index.sort_key, "KeyType": "RANGE"})
        ddb.update_table(
            TableName=name,
            AttributeDefinitions=attrs,
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": index.name,
                        "KeySchema": schema,
                        "Projection": index.projection_spec(),
                    }
                }
            ],
        )


def create_queues(endpoint: str, region: str, prefix: str) -> dict[str, tuple[str, str]]:
    sqs = _client("sqs", endpoint, region)
    urls: dict[str, tuple[str, str]] = {}
    for queue in resources.QUEUES:
        fifo_attrs = {"FifoQueue": "true"} if queue.fifo else {}
        dlq_name = resources.physical_name(prefix, f"{queue.logical}_dlq", queue.fifo)
        dlq_url = sqs.create_queue(QueueName=dlq_name, Attributes=fifo_attrs)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        url = sqs.create_queue(
            QueueName=resources.physical_name(prefix, queue.logical, queue.fifo),
            Attributes={
                **fifo_attrs,
                "VisibilityTimeout": str(queue.visibility_timeout_s),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}
                ),
            },
        )["QueueUrl"]
        urls[queue.logical] = (url, dlq_url)
    return urls


def create_keys(endpoint: str, region: str, prefix: str) -> dict[str, str]:
    kms = _client("kms", endpoint, region)
    keys: dict[str, str] = {}
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    for logical in resources.KMS_KEYS:
        alias = f"alias/{prefix}-{logical}"
        if aliases.get(alias):
            keys[logical] = str(aliases[alias])
            continue
        key_id = kms.create_key(Description=f"bscpay {logical} key")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        keys[logical] = key_id
    return keys


def create_user_pool(endpoint: str, region: str, prefix: str) -> tuple[str, str]:
    idp = _client("cognito-idp", endpoint, region)
    name = resources.physical_name(prefix, resources.USER_POOL_LOGICAL)
    for pool in idp.list_user_pools(MaxResults=60)["UserPools"]:
        if pool["Name"] == name:
            pool_id = pool["Id"]
            clients = idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=10)
            return pool_id, clients["UserPoolClients"][0]["ClientId"]
    pool_id = idp.create_user_pool(PoolName=name)["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=f"{prefix}-console",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return pool_id, client_id


ROLES = ("viewer", "support", "finance", "admin")  # the pool's groups (docs/adr/0019)


def create_groups(endpoint: str, region: str, pool_id: str) -> None:
    idp = _client("cognito-idp", endpoint, region)
    for role in ROLES:
        with contextlib.suppress(idp.exceptions.GroupExistsException):
            idp.create_group(UserPoolId=pool_id, GroupName=role, Description=f"bscpay {role}")


def create_admin(
    endpoint: str,
    region: str,
    pool_id: str,
    username: str,
    password: str,
    roles: tuple[str, ...] = ("admin",),
) -> None:
    """A console user in ``roles`` (Cognito groups), with a permanent password."""
    idp = _client("cognito-idp", endpoint, region)
    with contextlib.suppress(idp.exceptions.UsernameExistsException):
        idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=password, Permanent=True
    )
    for role in roles:
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=role)


def create_alerts_topic(endpoint: str, region: str, prefix: str) -> str:
    sns = _client("sns", endpoint, region)
    return str(sns.create_topic(Name=f"{prefix}-alerts")["TopicArn"])  # idempotent


def create_exports_bucket(endpoint: str, region: str, prefix: str) -> str:
    """The bucket large CSV exports go to (docs/reports.md); idempotent."""
    s3 = _client("s3", endpoint, region)
    name = resources.physical_name(prefix, resources.EXPORTS_BUCKET_LOGICAL)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    return name


def provision(endpoint: str, region: str, prefix: str) -> Provisioned:
    create_tables(endpoint, region, prefix)
    queues = create_queues(endpoint, region, prefix)
    keys = create_keys(endpoint, region, prefix)
    pool_id, client_id = create_user_pool(endpoint, region, prefix)
    create_groups(endpoint, region, pool_id)
    return Provisioned(
        webhook_queue_url=queues["webhooks"][0],
        webhook_dlq_url=queues["webhooks"][1],
        secrets_key_id=keys["secrets"],
        custody_key_id=keys["custody"],
        user_pool_id=pool_id,
        client_id=client_id,
        alerts_topic_arn=create_alerts_topic(endpoint, region, prefix),
        settlement_queue_url=queues["settlement"][0],
        exports_bucket=create_exports_bucket(endpoint, region, prefix),
    )
