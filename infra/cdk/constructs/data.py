"""DynamoDB tables and KMS keys, built from ``shared.resources`` (TABLES, KMS_KEYS)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.cdk.constants import CUSTODY_KEY, DATA_KEY
from infra.cdk.nag import acknowledge
from shared import resources

_KEY_PURPOSE = {
    DATA_KEY: "encryption at rest of tables, queues and the alerts topic",
    "custody": "envelope encryption of the HD mnemonic; only settlement may decrypt",
    "secrets": "API-key and webhook signing secrets",
}

_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}


class Data(Construct):
    """Customer-managed KMS keys and one DynamoDB table per ``resources.TABLES`` entry."""

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.keys: dict[str, kms.Key] = {}
        for logical in (DATA_KEY, *resources.KMS_KEYS):
            self.keys[logical] = kms.Key(
                self,
                f"{_camel(logical)}Key",
                alias=f"alias/{prefix}-{logical}",
                description=f"bscpay {logical} key: {_KEY_PURPOSE.get(logical, logical)}",
                enable_key_rotation=True,
                pending_window=Duration.days(30),
                removal_policy=RemovalPolicy.RETAIN,
            )
        self.data_key = self.keys[DATA_KEY]

        self.tables: dict[str, dynamodb.Table] = {}
        for spec in resources.TABLES:
            self.tables[spec.logical] = self._table(prefix, spec)
        self.exports_bucket = self._exports_bucket()

    def _exports_bucket(self) -> s3.Bucket:
        """Large CSV exports (docs/reports.md), fetched through pre-signed URLs the API
        functions sign: private, encrypted, HTTPS only, deleted after a day."""
        bucket = s3.Bucket(
            self,
            "ExportsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireExports",
                    expiration=Duration.days(resources.EXPORTS_EXPIRE_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "Short-lived report copies (expired after a day) written and pre-signed only by "
            "the two API roles; who asked for which export is in the API's access logs.",
        )
        return bucket

    def _table(self, prefix: str, spec: resources.Table) -> dynamodb.Table:
        sort_type = getattr(spec, "sort_key_type", "S")
        table = dynamodb.Table(
            self,
            f"{_camel(spec.logical)}Table",
            table_name=resources.physical_name(prefix, spec.logical),
            partition_key=dynamodb.Attribute(
                name=spec.partition_key, type=dynamodb.AttributeType.STRING
            ),
            sort_key=(
                dynamodb.Attribute(name=spec.sort_key, type=_ATTRIBUTE_TYPES[sort_type])
                if spec.sort_key
                else None
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.data_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(
                    name=index.partition_key, type=dynamodb.AttributeType.STRING
                ),
                sort_key=(
                    dynamodb.Attribute(
                        name=index.sort_key, type=_ATTRIBUTE_TYPES[index.sort_key_type]
                    )
                    if index.sort_key
                    else None
                ),
                projection_type=dynamodb.ProjectionType(index.projection),
                non_key_attributes=list(index.include) or None,
            )
        return table

    def restrict_custody_decrypt(self, decrypters: list[iam.IRole]) -> None:
        """Deny kms:Decrypt (and re-encryption out of the key) on the custody key to every
        principal except ``decrypters``. An explicit deny in the key policy wins over any
        IAM policy or grant, so an over-broad role elsewhere in the account cannot open the
        mnemonic either. With no decrypters (no settlement function yet) nobody can."""
        conditions = (
            {"ArnNotEquals": {"aws:PrincipalArn": [role.role_arn for role in decrypters]}}
            if decrypters
            else None
        )
        self.keys[CUSTODY_KEY].add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlySettlementMayDecrypt",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["kms:Decrypt", "kms:ReEncryptFrom"],
                resources=["*"],
                conditions=conditions,
            )
        )


def _camel(logical: str) -> str:
    return "".join(part.capitalize() for part in logical.split("_"))
