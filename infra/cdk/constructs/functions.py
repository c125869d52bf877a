"""The Lambda functions of ``shared.resources.FUNCTIONS``, each with its own role.

Every function runs ``functions.<name>.handler.lambda_handler`` from one app-code asset
(``functions/`` + ``shared/``) on top of one third-party dependency layer. Grants come
from ``infra.cdk.constants`` (TABLE_ACCESS, SYSTEM_ACCESS, QUEUE_SENDERS, ...): a
function gets exactly those, nothing by default.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.cdk import packaging
from infra.cdk.config import DeploymentConfig
from infra.cdk.constants import (
    ADMIN_POOL_ACTIONS,
    ALERT_PUBLISHERS,
    AUDIT_DENIED_ACTIONS,
    AUDIT_TABLE,
    CUSTODY_DECRYPTERS,
    CUSTODY_KEY,
    CUSTODY_SEALERS,
    EXPORTS_PREFIX,
    EXPORTS_WRITERS,
    HANDLER_FUNCTION,
    HANDLER_MODULE,
    LOG_RETENTION_DAYS,
    METRICS_NAMESPACE,
    QUEUE_SENDERS,
    QUEUE_URL_ENV,
    RESERVED_CONCURRENCY,
    RPC_READERS,
    SCHEDULED_MAX_EVENT_AGE_S,
    SECRETS_KEY,
    SECRETS_KEY_USES,
    SYSTEM_ACCESS,
    SYSTEM_TABLE,
    TABLE_ACCESS,
    KeyUse,
)
from infra.cdk.constructs.data import Data
from infra.cdk.nag import acknowledge, logical_ref
from shared import resources

_RETENTION = {
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        data: Data,
        queues: dict[str, sqs.Queue],
        user_pool: cognito.IUserPool,
        alerts_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        _check_grant_tables()
        self._data = data
        self._acknowledged: set[tuple[str, str]] = set()
        self.deps_layer = lambda_.LayerVersion(
            self,
            "DepsLayer",
            layer_version_name=f"{config.prefix}-deps",
            description="bscpay third-party runtime dependencies, built from uv.lock",
            code=packaging.deps_code(),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
            compatible_architectures=[lambda_.Architecture.X86_64],
        )
        app_code = packaging.app_code()

        common_env = {
            "BSCPAY_PREFIX": config.prefix,
            "BSCPAY_SECRETS_KEY_ID": data.keys[SECRETS_KEY].key_id,
            "BSCPAY_CUSTODY_KEY_ID": data.keys[CUSTODY_KEY].key_id,
            "BSCPAY_USER_POOL_ID": user_pool.user_pool_id,
            "BSCPAY_ALERTS_TOPIC_ARN": alerts_topic.topic_arn,
            **{QUEUE_URL_ENV[name]: queue.queue_url for name, queue in queues.items()},
            **config.chain_env(),
            **config.settlement_env(),
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }

        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, iam.Role] = {}
        # The JSON-RPC URLs (with providers' API keys): a secret the operator creates
        # before the first deploy (README); only the functions that call the chain read it.
        rpc_urls = secretsmanager.Secret.from_secret_name_v2(
            self, "RpcUrlsSecret", config.rpc_urls_secret
        )
        for spec in resources.FUNCTIONS:
            name = _camel(spec.name)
            function_name = resources.physical_name(config.prefix, spec.name)
            role = iam.Role(
                self,
                f"{name}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"bscpay {spec.name}: its own least-privilege role",
            )
            log_group = logs.LogGroup(
                self,
                f"{name}Logs",
                log_group_name=f"/aws/lambda/{function_name}",
                retention=_RETENTION[LOG_RETENTION_DAYS],
                removal_policy=RemovalPolicy.RETAIN,
            )
            log_group.grant_write(role)
            scheduled = spec.schedule_rate_minutes is not None
            function = lambda_.Function(
                self,
                f"{name}Function",
                function_name=function_name,
                description=spec.description,
                runtime=lambda_.Runtime.PYTHON_3_11,
                architecture=lambda_.Architecture.X86_64,
                handler=f"{HANDLER_MODULE.format(name=spec.name)}.{HANDLER_FUNCTION}",
                code=app_code,
                layers=[self.deps_layer],
                memory_size=config.memory_mb(spec.name, spec.memory_mb),
                timeout=Duration.seconds(spec.timeout_s),
                role=role,
                log_group=log_group,
                tracing=lambda_.Tracing.ACTIVE,
                reserved_concurrent_executions=RESERVED_CONCURRENCY.get(spec.name),
                retry_attempts=0 if scheduled else None,
                max_event_age=Duration.seconds(SCHEDULED_MAX_EVENT_AGE_S) if scheduled else None,
                environment={
                    **common_env,
                    "POWERTOOLS_SERVICE_NAME": spec.name,
                    # Responses (API secrets shown once) must never land in X-Ray.
                    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
                    **spec.env,
                },
            )
            acknowledge(
                function,
                "AwsSolutions-L1",
                "Pinned to python3.11: uv.lock (requires-python <3.12) and the dependency "
                "layer are built and checked for the 3.11 runtime (ADR 0002).",
            )
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level "
                "permissions; added by CDK for active tracing.",
            )
            self.functions[spec.name] = function
            self.roles[spec.name] = role
            if spec.name in RPC_READERS:
                rpc_urls.grant_read(role)
            self._grant_tables(spec.name, role)
            self._deny_audit_rewrites(role)

        for queue_name, senders in QUEUE_SENDERS.items():
            for sender in senders:
                queues[queue_name].grant_send_messages(self.roles[sender])
                self._ack_key_wildcards(sender)
        for user, uses in SECRETS_KEY_USES.items():
            self._grant_secrets_key(self.roles[user], uses)
        for decrypter in CUSTODY_DECRYPTERS:
            # Paired with the key policy's deny for everyone else (Data.restrict_custody_decrypt).
            data.keys[CUSTODY_KEY].grant(self.roles[decrypter], "kms:Decrypt")
        for sealer in CUSTODY_SEALERS:
            data.keys[CUSTODY_KEY].grant(self.roles[sealer], "kms:GenerateDataKey")
        for publisher in ALERT_PUBLISHERS:
            alerts_topic.grant_publish(self.roles[publisher])
            self._ack_key_wildcards(publisher)  # the topic is encrypted with the data key
        # The admin API checks each caller is still enabled and manages users' roles and
        # sign-outs (docs/adr/0019): these calls, on this pool only.
        user_pool.grant(self.roles["admin_api"], *ADMIN_POOL_ACTIONS)
        for writer in EXPORTS_WRITERS:
            self._grant_exports(writer, data.exports_bucket)

    def _grant_exports(self, function: str, bucket: s3.IBucket) -> None:
        """Put an export and sign a GET of it (the URL acts with this role's rights)."""
        self.functions[function].add_environment("BSCPAY_EXPORTS_BUCKET", bucket.bucket_name)
        self.roles[function].add_to_principal_policy(
            iam.PolicyStatement(
                sid="Exports",
                actions=["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                resources=[bucket.arn_for_objects(f"{EXPORTS_PREFIX}*")],
            )
        )
        self._ack(
            function,
            f"AwsSolutions-IAM5[Resource::{logical_ref(bucket)}/{EXPORTS_PREFIX}*]",
            "Each export gets a fresh random key under exports/ in the one exports bucket.",
        )

    # ---- KMS --------------------------------------------------------------------------
    def _grant_secrets_key(self, role: iam.Role, uses: tuple[KeyUse, ...]) -> None:
        """Each use pinned to its encryption context: a role holding the key for API-key
        secrets cannot open a webhook secret or a sealed response, and the reverse."""
        key_arn = self._data.keys[SECRETS_KEY].key_arn
        for use in uses:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid=use.sid,
                    actions=list(use.actions),
                    resources=[key_arn],
                    conditions={
                        "StringLike": {
                            f"kms:EncryptionContext:{use.context_key}": use.context_value
                        }
                    },
                )
            )

    # ---- DynamoDB ---------------------------------------------------------------------
    def _deny_audit_rewrites(self, role: iam.Role) -> None:
        """Audit records are put once (docs/adr/0017). An explicit Deny wins over any
        Allow, so no grant given to this role now or later can edit or delete one."""
        audit = self._data.tables[AUDIT_TABLE]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AuditIsAppendOnly",
                effect=iam.Effect.DENY,
                actions=list(AUDIT_DENIED_ACTIONS),
                resources=[audit.table_arn, f"{audit.table_arn}/index/*"],
            )
        )

    def _grant_tables(self, function: str, role: iam.Role) -> None:
        tables = self._data.tables
        for logical, access in TABLE_ACCESS[function].items():
            table = tables[logical]
            if access == "read_write":
                table.grant_read_write_data(role)
            else:
                table.grant_read_data(role)
                if access == "read_update":
                    table.grant(role, "dynamodb:UpdateItem")
                    self._data.data_key.grant_encrypt_decrypt(role)
            if spec_of(logical).indexes:
                self._ack(
                    function,
                    f"AwsSolutions-IAM5[Resource::{logical_ref(table)}/index/*]",
                    "Queries on this one table's GSIs (list and outbox access patterns); "
                    "scoped to the table's own index ARNs.",
                )
            if access != "read":
                self._ack_key_wildcards(function)
        items = SYSTEM_ACCESS.get(function)
        if items is not None:
            system = tables[SYSTEM_TABLE]
            grants = (
                ("Read", ["dynamodb:GetItem"], items.read),
                ("Update", ["dynamodb:UpdateItem"], items.update),
            )
            for sid, actions, names in grants:
                if names:
                    role.add_to_principal_policy(
                        iam.PolicyStatement(
                            sid=f"SystemItems{sid}",
                            actions=actions,
                            resources=[system.table_arn],
                            conditions={
                                "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": list(names)}
                            },
                        )
                    )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="SystemDescribe",
                    actions=["dynamodb:DescribeTable"],
                    resources=[system.table_arn],
                )
            )
            if items.update:
                self._data.data_key.grant_encrypt_decrypt(role)
                self._ack_key_wildcards(function)
            else:
                self._data.data_key.grant_decrypt(role)

    def _ack(self, function: str, rule_id: str, reason: str) -> None:
        if (function, rule_id) not in self._acknowledged:
            self._acknowledged.add((function, rule_id))
            acknowledge(self.roles[function], rule_id, reason)

    def _ack_key_wildcards(self, function: str) -> None:
        for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
            self._ack(
                function,
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK's grant for SSE-KMS on DynamoDB/SQS/SNS: scoped to the one data key ARN, "
                "used by those services on the function's behalf.",
            )


def spec_of(logical: str) -> resources.Table:
    return next(spec for spec in resources.TABLES if spec.logical == logical)


def _check_grant_tables() -> None:
    """Every function has an explicit grant list and names only real tables."""
    functions = {spec.name for spec in resources.FUNCTIONS}
    tables = {spec.logical for spec in resources.TABLES}
    missing = functions - TABLE_ACCESS.keys()
    if missing:
        raise ValueError(f"add {sorted(missing)} to TABLE_ACCESS in infra/cdk/constants.py")
    for function, grants in TABLE_ACCESS.items():
        unknown = set(grants) - tables
        if function not in functions or unknown:
            raise ValueError(f"TABLE_ACCESS[{function!r}] names unknown resources {unknown}")
        if SYSTEM_TABLE in grants:
            raise ValueError(f"{function}: grant the system table per item via SYSTEM_ACCESS")


def _camel(logical: str) -> str:
    return "".join(part.capitalize() for part in logical.split("_"))
