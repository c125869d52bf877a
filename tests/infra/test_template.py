"""What the synthesized BscpayStack promises an operator: durable, encrypted data;
queues that never lose a webhook; least-privilege roles; the custody key closed;
schedules and alarms in place. Everything is read from the one session synth."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.cdk.constants import (
    ADDRESS_COUNTER,
    CUSTODY_RECORD,
    RESCAN_QUEUE,
    RPC_READERS,
    SCANNER_CURSOR,
    SETTLEMENT_MAX_CONCURRENCY,
    SQS_VISIBILITY_FACTOR,
    SYSTEM_ACCESS,
    SYSTEM_TABLE,
    TABLE_ACCESS,
    WEBHOOK_MAX_CONCURRENCY,
)
from shared import resources
from tests.infra.cfn import (
    allows,
    as_list,
    by_property,
    function_ids,
    key_ids_by_alias,
    props,
    refs,
    role_of,
    role_statements,
)
from tests.infra.cfn import resources as of_type

PREFIX = "bscpay"
Template = dict[str, Any]

WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


@pytest.fixture(scope="module")
def functions(template: Template) -> dict[str, str]:
    return function_ids(template, PREFIX)


@pytest.fixture(scope="module")
def tables(template: Template) -> dict[str, str]:
    """{logical table name: logical id}"""
    names = by_property(template, "AWS::DynamoDB::Table", "TableName")
    return {t.logical: names[resources.physical_name(PREFIX, t.logical)] for t in resources.TABLES}


@pytest.fixture(scope="module")
def keys(template: Template) -> dict[str, str]:
    return key_ids_by_alias(template)


# ---- data -----------------------------------------------------------------------------


def test_every_table_from_shared_resources_exists_with_point_in_time_recovery(
    template: Template, tables: dict[str, str]
) -> None:
    # Given the table definitions shared with the local stack
    assert len(of_type(template, "AWS::DynamoDB::Table")) == len(resources.TABLES)
    for spec in resources.TABLES:
        # Then each is recoverable to any second of the last 35 days and is kept on delete
        table = template["Resources"][tables[spec.logical]]
        pitr = table["Properties"]["PointInTimeRecoverySpecification"]
        assert pitr["PointInTimeRecoveryEnabled"] is True, spec.logical
        assert table["DeletionPolicy"] == "Retain"
        assert table["Properties"]["DeletionProtectionEnabled"] is True


def test_write_heavy_indexes_hold_keys_and_filters_not_whole_items(
    template: Template, tables: dict[str, str]
) -> None:
    # Given the synthesized tables' indexes (docs/adr/0041)
    def projections(logical: str) -> dict[str, dict[str, Any]]:
        gsis = props(template, tables[logical])["GlobalSecondaryIndexes"]
        return {g["IndexName"]: g["Projection"] for g in gsis}

    # Then marking an event dispatched or a payment paid rewrites no full copy
    assert projections("events") == {
        "by_merchant": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["type"]},
        "by_payment": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["merchant_id", "type"]},
        "outbox": {"ProjectionType": "KEYS_ONLY"},
    }
    assert projections("payments") == {
        "by_merchant": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]},
        "by_day": {"ProjectionType": "KEYS_ONLY"},
        "open_by_expiry": {"ProjectionType": "KEYS_ONLY"},
    }
    audit = projections("audit")
    assert set(audit) == {"by_time", "by_actor", "by_target", "by_action"}
    assert all(p["ProjectionType"] == "INCLUDE" for p in audit.values())
    # and what the scanner reads per transfer keeps the whole item
    assert projections("transfers")["by_payment"] == {"ProjectionType": "ALL"}


def test_tables_are_encrypted_with_the_customer_managed_data_key(
    template: Template, tables: dict[str, str], keys: dict[str, str]
) -> None:
    for logical, table_id in tables.items():
        sse = props(template, table_id)["SSESpecification"]
        assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS", logical
        assert refs(sse["KMSMasterKeyId"]) == {keys["data"]}, logical


def test_keys_rotate_and_are_kept(template: Template, keys: dict[str, str]) -> None:
    assert set(keys) == {"data", *resources.KMS_KEYS}
    for name, key_id in keys.items():
        key = template["Resources"][key_id]
        assert key["Properties"]["EnableKeyRotation"] is True, name
        assert key["DeletionPolicy"] == "Retain", name


def test_ttl_and_indexes_match_shared_resources(template: Template, tables: dict[str, str]) -> None:
    for spec in resources.TABLES:
        table = props(template, tables[spec.logical])
        ttl = table.get("TimeToLiveSpecification")
        if spec.ttl_attribute:
            assert ttl == {"AttributeName": spec.ttl_attribute, "Enabled": True}, spec.logical
        else:
            assert ttl is None, spec.logical
        indexes = {
            gsi["IndexName"]: [k["AttributeName"] for k in gsi["KeySchema"]]
            for gsi in table.get("GlobalSecondaryIndexes", [])
        }
        expected = {
            i.name: [i.partition_key] + ([i.sort_key] if i.sort_key else []) for i in spec.indexes
        }
        assert indexes == expected, spec.logical


# ---- queues ---------------------------------------------------------------------------


def test_every_queue_has_a_dead_letter_queue_with_max_receive_count(template: Template) -> None:
    queues = by_property(template, "AWS::SQS::Queue", "QueueName")
    for spec in resources.QUEUES:
        main = props(template, queues[resources.physical_name(PREFIX, spec.logical, spec.fifo)])
        dlq_id = queues[resources.physical_name(PREFIX, f"{spec.logical}_dlq", spec.fifo)]
        redrive = main["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == spec.max_receive_count
        assert refs(redrive["deadLetterTargetArn"]) == {dlq_id}
        assert props(template, dlq_id)["MessageRetentionPeriod"] == spec.dlq_retention_days * 86400


def test_queues_are_kms_encrypted_and_refuse_plain_http(
    template: Template, keys: dict[str, str]
) -> None:
    queues = of_type(template, "AWS::SQS::Queue")
    policies = of_type(template, "AWS::SQS::QueuePolicy").values()
    for queue_id, queue in queues.items():
        assert refs(queue["Properties"]["KmsMasterKeyId"]) == {keys["data"]}
        denies_http = [
            s
            for p in policies
            if queue_id in refs(p["Properties"]["Queues"])
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies_http, queue_id


def test_queue_consumers_report_batch_item_failures_webhooks_ten_settlement_one(
    template: Template, functions: dict[str, str]
) -> None:
    mappings = of_type(template, "AWS::Lambda::EventSourceMapping")
    consumers = [spec for spec in resources.FUNCTIONS if spec.queue]
    assert len(mappings) == len(consumers) >= 1
    for spec in consumers:
        (mapping,) = [
            m["Properties"]
            for m in mappings.values()
            if refs(m["Properties"]["FunctionName"]) == {functions[spec.name]}
        ]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        # the FIFO hot-wallet queue: one message at a time always fits the timeout
        assert mapping["BatchSize"] == (1 if spec.queue == "settlement" else 10)


def test_visibility_timeout_is_at_least_six_times_the_consumers_timeout(
    template: Template,
) -> None:
    for mapping in of_type(template, "AWS::Lambda::EventSourceMapping").values():
        (queue_id,) = refs(mapping["Properties"]["EventSourceArn"])
        (function_id,) = refs(mapping["Properties"]["FunctionName"])
        visibility = props(template, queue_id)["VisibilityTimeout"]
        timeout = props(template, function_id)["Timeout"]
        assert visibility >= SQS_VISIBILITY_FACTOR * timeout, (queue_id, visibility, timeout)


# ---- functions ------------------------------------------------------------------------


def test_each_function_runs_its_handler_on_python311_x86_64_with_tracing(
    template: Template, functions: dict[str, str]
) -> None:
    assert set(functions) == {spec.name for spec in resources.FUNCTIONS}
    # (the web BucketDeployment brings CDK's own AWS CLI layer: not ours)
    (layer_id,) = [
        k
        for k, v in of_type(template, "AWS::Lambda::LayerVersion").items()
        if v["Properties"].get("LayerName") == "bscpay-deps"
    ]
    for spec in resources.FUNCTIONS:
        fn = props(template, functions[spec.name])
        assert fn["Handler"] == f"functions.{spec.name}.handler.lambda_handler"
        assert fn["Runtime"] == "python3.11"
        assert fn["Architectures"] == ["x86_64"]
        assert fn["TracingConfig"] == {"Mode": "Active"}
        assert fn["Timeout"] == spec.timeout_s and fn["MemorySize"] == spec.memory_mb
        assert refs(fn["Layers"]) == {layer_id}


def test_no_function_reserves_concurrency_a_new_account_does_not_have(
    template: Template, functions: dict[str, str]
) -> None:
    # issue 16: a new account's quota is 10; reserving any fails the first deploy. One
    # scanner at a time is the cursor lease (tests/integration: lease tests).
    for name, fid in functions.items():
        assert "ReservedConcurrentExecutions" not in props(template, fid), name


def test_the_webhook_dispatcher_can_never_take_all_concurrency(
    template: Template, functions: dict[str, str]
) -> None:
    mappings = [
        m["Properties"]
        for m in of_type(template, "AWS::Lambda::EventSourceMapping").values()
        if functions["webhook_dispatcher"] in refs(m["Properties"]["FunctionName"])
    ]
    assert mappings and all(
        m["ScalingConfig"]["MaximumConcurrency"] == WEBHOOK_MAX_CONCURRENCY for m in mappings
    )


def test_settlement_confirmations_wait_side_by_side_within_a_cap(
    template: Template, functions: dict[str, str]
) -> None:
    # docs/adr/0040: one message per invocation (a waiting one never holds others back),
    # the confirmation groups side by side, at most SETTLEMENT_MAX_CONCURRENCY at once
    mappings = [
        m["Properties"]
        for m in of_type(template, "AWS::Lambda::EventSourceMapping").values()
        if functions["settlement"] in refs(m["Properties"]["FunctionName"])
    ]
    assert len(mappings) == 1
    assert mappings[0]["BatchSize"] == 1
    assert mappings[0]["ScalingConfig"]["MaximumConcurrency"] == SETTLEMENT_MAX_CONCURRENCY


def test_every_function_gets_the_configuration_shared_config_reads(
    template: Template, functions: dict[str, str]
) -> None:
    required = {
        "BSCPAY_PREFIX",
        "BSCPAY_WEBHOOK_QUEUE_URL",
        "BSCPAY_SECRETS_KEY_ID",
        "BSCPAY_CUSTODY_KEY_ID",
        "BSCPAY_CHAIN_ID",
        "BSCPAY_RPC_URLS_SECRET",
        "BSCPAY_TOKEN_ADDRESS",
        "BSCPAY_TOKEN_DECIMALS",
        "BSCPAY_FINALITY_FALLBACK_DEPTH",
        "BSCPAY_USER_POOL_ID",
        "BSCPAY_ALERTS_TOPIC_ARN",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
    }
    for name, function_id in functions.items():
        env = props(template, function_id)["Environment"]["Variables"]
        assert required <= set(env), (name, required - set(env))
        # mainnet defaults from cdk.json
        assert env["BSCPAY_CHAIN_ID"] == "56"
        assert env["BSCPAY_TOKEN_ADDRESS"] == "0x55d398326f99059fF775485246999027B3197955"
        assert env["BSCPAY_PREFIX"] == PREFIX
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "bscpay"
        assert env["POWERTOOLS_SERVICE_NAME"] == name
        # API responses carry secrets shown once: X-Ray must never record them
        assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"


def test_each_function_has_its_own_role(template: Template, functions: dict[str, str]) -> None:
    roles = [role_of(template, function_id) for function_id in functions.values()]
    assert len(set(roles)) == len(roles) == len(resources.FUNCTIONS)
    for role_id in roles:
        # no AWS-managed policy: logging, tracing and data access are spelled out
        assert "ManagedPolicyArns" not in props(template, role_id)


def _table_actions(template: Template, role_id: str, table_id: str) -> set[str]:
    actions: set[str] = set()
    for statement in role_statements(template, role_id):
        if statement["Effect"] == "Allow" and table_id in refs(statement["Resource"]):
            actions |= set(as_list(statement["Action"]))
    return actions


def test_functions_reach_only_the_tables_their_code_uses(
    template: Template, functions: dict[str, str], tables: dict[str, str]
) -> None:
    for name, function_id in functions.items():
        role_id = role_of(template, function_id)
        reachable = {
            logical
            for logical, table_id in tables.items()
            if _table_actions(template, role_id, table_id)
        }
        expected = set(TABLE_ACCESS[name]) | ({SYSTEM_TABLE} if name in SYSTEM_ACCESS else set())
        assert reachable == expected, name
        for logical, access in TABLE_ACCESS[name].items():
            actions = _table_actions(template, role_id, tables[logical])
            assert "dynamodb:GetItem" in actions
            assert bool(actions & WRITE_ACTIONS) == (access == "read_write"), (name, logical)
            assert ("dynamodb:UpdateItem" in actions) == (access != "read"), (name, logical)


def test_only_the_operator_can_write_the_custody_record(
    template: Template, functions: dict[str, str], tables: dict[str, str]
) -> None:
    # Given the system table holds the custody record (the xpub decides where money goes)
    system_id = tables[SYSTEM_TABLE]
    for name, function_id in functions.items():
        for statement in role_statements(template, role_of(template, function_id)):
            if system_id not in refs(statement["Resource"]):
                continue
            actions = set(as_list(statement["Action"]))
            if actions == {"dynamodb:DescribeTable"}:
                continue
            # Then every data action on it is pinned to named items
            keys = statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
            assert not actions & WRITE_ACTIONS, name
            if "dynamodb:UpdateItem" in actions:
                assert CUSTODY_RECORD not in keys, name
    assert all(CUSTODY_RECORD not in items.update for items in SYSTEM_ACCESS.values())


def test_item_names_match_the_code_that_uses_them() -> None:
    # The constants the grants are pinned to are the ones shared/ uses.
    from shared.custody import addresses, setup
    from shared.dal import system as system_repo
    from shared.jobs import scanner

    assert setup.CUSTODY_RECORD == CUSTODY_RECORD
    assert addresses.ADDRESS_COUNTER == ADDRESS_COUNTER
    assert scanner.CURSOR == SCANNER_CURSOR
    assert system_repo.RESCAN_QUEUE == RESCAN_QUEUE


def test_only_the_settlement_role_can_decrypt_the_custody_key(
    template: Template, functions: dict[str, str], keys: dict[str, str]
) -> None:
    custody = keys["custody"]
    settlement_role = role_of(template, functions["settlement"])
    decrypters = set()
    for role_id in of_type(template, "AWS::IAM::Role"):
        for statement in role_statements(template, role_id):
            if allows(statement, "kms:Decrypt"):
                resources_ = as_list(statement["Resource"])
                assert "*" not in resources_, role_id
                if custody in refs(resources_):
                    decrypters.add(role_id)
    assert decrypters == {settlement_role}
    # And the key policy denies it to every principal but that role
    policy = props(template, custody)["KeyPolicy"]["Statement"]
    (deny,) = [s for s in policy if s["Effect"] == "Deny"]
    assert deny["Principal"] == {"AWS": "*"}
    assert {"kms:Decrypt", "kms:ReEncryptFrom"} <= set(as_list(deny["Action"]))
    excepted = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert refs(excepted) == {settlement_role}


def test_api_and_dispatcher_may_decrypt_secrets_but_chain_workers_may_not(
    template: Template, functions: dict[str, str], keys: dict[str, str]
) -> None:
    def can_decrypt(name: str) -> bool:
        return any(
            allows(s, "kms:Decrypt") and keys["secrets"] in refs(s["Resource"])
            for s in role_statements(template, role_of(template, functions[name]))
        )

    # (the admin API only encrypts new API-key secrets: tests/infra/test_least_privilege.py)
    assert {name for name in functions if can_decrypt(name)} == {
        "merchant_api",
        "webhook_dispatcher",
    }


def test_only_the_functions_that_raise_alerts_may_publish_them(
    template: Template, functions: dict[str, str]
) -> None:
    (topic,) = of_type(template, "AWS::SNS::Topic")

    def can_publish(name: str) -> bool:
        return any(
            allows(s, "sns:Publish") and topic in refs(s["Resource"])
            for s in role_statements(template, role_of(template, functions[name]))
        )

    # the dispatcher on exhausted deliveries, settlement on refused deposits and stuck
    # transfers, the reconciler on drift, the admin API on a settlement address change,
    # the daily digest (docs/adr/0021)
    assert {name for name in functions if can_publish(name)} == {
        "digest",
        "webhook_dispatcher",
        "settlement",
        "reconciler",
        "admin_api",
    }


# ---- API ------------------------------------------------------------------------------


def _method_paths(template: Template) -> dict[str, dict[str, Any]]:
    api_resources = of_type(template, "AWS::ApiGateway::Resource")

    def path(resource_id: str) -> str:
        parts = []
        while resource_id in api_resources:
            res = api_resources[resource_id]["Properties"]
            parts.append(res["PathPart"])
            parent = res["ParentId"]
            resource_id = parent.get("Ref", "") if isinstance(parent, dict) else ""
        return "/" + "/".join(reversed(parts))

    out = {}
    for method in of_type(template, "AWS::ApiGateway::Method").values():
        p = method["Properties"]
        (resource_id,) = refs(p["ResourceId"])
        out[f"{p['HttpMethod']} {path(resource_id)}"] = p
    return out


def test_admin_routes_need_a_cognito_token_and_merchant_routes_do_not(
    template: Template, functions: dict[str, str]
) -> None:
    methods = _method_paths(template)
    assert set(methods) == {
        "ANY /v1",
        "ANY /v1/{proxy+}",
        "ANY /admin",
        "ANY /admin/{proxy+}",
        "POST /kyc/callback",  # the KYC provider's signed callback (docs/adr/0021)
    } | ({"GET /pay/{id}/status"} if "checkout_api" in functions else set())  # ADR 0025
    (authorizer_id,) = of_type(template, "AWS::ApiGateway::Authorizer")
    assert props(template, authorizer_id)["Type"] == "COGNITO_USER_POOLS"
    for route, method in methods.items():
        target = functions[
            "admin_api"
            if route.startswith("ANY /admin")
            else "checkout_api"
            if route.startswith("GET /pay/")
            else "merchant_api"
        ]
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert target in refs(method["Integration"]["Uri"])
        if "/admin" in route:
            assert method["AuthorizationType"] == "COGNITO_USER_POOLS", route
            assert refs(method["AuthorizerId"]) == {authorizer_id}
        else:
            assert method["AuthorizationType"] == "NONE", route
            assert "AuthorizerId" not in method


def test_api_is_logged_throttled_and_behind_a_waf(template: Template) -> None:
    (stage_id, stage), *_ = of_type(template, "AWS::ApiGateway::Stage").items()
    settings = stage["Properties"]
    assert "DestinationArn" in settings["AccessLogSetting"]
    (method_settings,) = [m for m in settings["MethodSettings"] if m["ResourcePath"] == "/*"]
    assert (
        method_settings["ThrottlingRateLimit"] > 0 and method_settings["ThrottlingBurstLimit"] > 0
    )
    assert method_settings["DataTraceEnabled"] is False  # bodies carry secrets
    (association,) = of_type(template, "AWS::WAFv2::WebACLAssociation").values()
    assert stage_id in refs(association["Properties"]["ResourceArn"])
    (acl,) = of_type(template, "AWS::WAFv2::WebACL").values()
    rate = [r for r in acl["Properties"]["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert rate and all(r["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429 for r in rate)
    by_key = {r["Name"]: r["Statement"]["RateBasedStatement"] for r in rate}
    assert by_key["RateLimitPerIp"]["AggregateKeyType"] == "IP"
    # issue 15: a rule per API key, aggregated on the X-Api-Key header
    per_key = by_key["RateLimitPerApiKey"]
    assert per_key["AggregateKeyType"] == "CUSTOM_KEYS"
    assert per_key["CustomKeys"] == [
        {"Header": {"Name": "x-api-key", "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    ]
    (key_rule,) = [r for r in rate if r["Name"] == "RateLimitPerApiKey"]
    headers = key_rule["Action"]["Block"]["CustomResponse"]["ResponseHeaders"]
    assert {"Name": "Retry-After", "Value": "60"} in headers


def test_admin_pool_allows_password_and_srp_sign_in_with_a_strong_policy(
    template: Template,
) -> None:
    (pool,) = of_type(template, "AWS::Cognito::UserPool").values()
    policy = pool["Properties"]["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(
        policy[k]
        for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols")
    )
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Properties"]["MfaConfiguration"] == "ON"  # TOTP required (ADR 0019)
    (client,) = of_type(template, "AWS::Cognito::UserPoolClient").values()
    assert {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"} <= set(
        client["Properties"]["ExplicitAuthFlows"]
    )
    assert client["Properties"]["GenerateSecret"] is False


# ---- schedules and alarms -------------------------------------------------------------


def test_chain_scanner_and_expirer_run_every_minute(
    template: Template, functions: dict[str, str]
) -> None:
    scheduled = {
        spec.name: spec.schedule_rate_minutes
        for spec in resources.FUNCTIONS
        if spec.schedule_rate_minutes
    }
    assert {"chain_scanner", "expirer"} <= set(scheduled)
    rules = of_type(template, "AWS::Events::Rule").values()
    for name, minutes in scheduled.items():
        expected = "rate(1 minute)" if minutes == 1 else f"rate({minutes} minutes)"
        if minutes == 24 * 60:
            expected = "rate(1 day)"  # the daily digest (CDK writes whole days so)
        matching = [
            r
            for r in rules
            if r["Properties"]["ScheduleExpression"] == expected
            and functions[name] in refs(r["Properties"]["Targets"])
        ]
        assert len(matching) == 1, name
        (target,) = matching[0]["Properties"]["Targets"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0


def test_alarms_watch_dlqs_errors_and_scanner_lag_and_notify_the_alerts_topic(
    template: Template, functions: dict[str, str]
) -> None:
    alarms = [a["Properties"] for a in of_type(template, "AWS::CloudWatch::Alarm").values()]
    (topic_id,) = of_type(template, "AWS::SNS::Topic")
    for alarm in alarms:
        assert refs(alarm["AlarmActions"]) == {topic_id}

    dlq_names = {
        resources.physical_name(PREFIX, f"{q.logical}_dlq", q.fifo) for q in resources.QUEUES
    }
    queues = by_property(template, "AWS::SQS::Queue", "QueueName")
    for dlq in dlq_names:
        assert any(
            a["MetricName"] == "ApproximateNumberOfMessagesVisible"
            and queues[dlq] in refs(a["Dimensions"])
            and a["Threshold"] == 0
            and a["ComparisonOperator"] == "GreaterThanThreshold"
            for a in alarms
        ), dlq

    for name, function_id in functions.items():
        assert any(
            a["MetricName"] == "Errors" and function_id in refs(a["Dimensions"]) for a in alarms
        ), name

    (lag,) = [a for a in alarms if a.get("MetricName") == "ScannerLagBlocks"]
    assert lag["Namespace"] == "bscpay"
    assert lag["Dimensions"] == [{"Name": "service", "Value": "chain_scanner"}]
    assert lag["Threshold"] == 50 and lag["ComparisonOperator"] == "GreaterThanThreshold"
    assert lag["Period"] * lag["EvaluationPeriods"] == 300 and lag["DatapointsToAlarm"] == 5
    assert lag["TreatMissingData"] == "breaching"

    (bnb,) = [a for a in alarms if a.get("MetricName") == "HotWalletBnb"]
    assert bnb["Dimensions"] == [{"Name": "service", "Value": "settlement"}]
    assert bnb["ComparisonOperator"] == "LessThanThreshold" and bnb["Threshold"] > 0

    (stalled,) = [a for a in alarms if a.get("MetricName") == "FinalityStalled"]
    assert stalled["Namespace"] == "bscpay"
    assert stalled["Dimensions"] == [{"Name": "service", "Value": "chain_scanner"}]
    assert stalled["Threshold"] == 0 and stalled["ComparisonOperator"] == "GreaterThanThreshold"


def test_alerts_topic_is_encrypted_and_cloudwatch_may_use_its_key(
    template: Template, keys: dict[str, str]
) -> None:
    (topic,) = of_type(template, "AWS::SNS::Topic").values()
    assert refs(topic["Properties"]["KmsMasterKeyId"]) == {keys["data"]}
    statements = props(template, keys["data"])["KeyPolicy"]["Statement"]
    assert any(
        s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} and allows(s, "kms:Decrypt")
        for s in statements
    )


# ---- read-only synth ----------------------------------------------------------------------


def test_a_template_synthesized_without_assets_refuses_to_deploy(template: Template) -> None:
    rule = template["Rules"]["AssetsNotBundled"]["Assertions"][0]
    assert rule["Assert"] == {"Fn::Equals": ["bundled", "not-bundled"]}
    assert re.search(r"make layers", rule["AssertDescription"])


def test_rpc_urls_stay_out_of_the_template_and_only_chain_callers_read_them(
    template: Template, functions: dict[str, str]
) -> None:
    # issue 16: the URLs carry providers' API keys; the template names the secret only
    text = json.dumps(template)
    assert 'BSCPAY_RPC_URLS"' not in text and "https://bsc" not in text
    readers = set()
    for name, fid in functions.items():
        env = props(template, fid)["Environment"]["Variables"]
        assert env["BSCPAY_RPC_URLS_SECRET"] == "bscpay/rpc-urls"
        statements = role_statements(template, role_of(template, fid))
        if any(
            allows(s, "secretsmanager:GetSecretValue")
            and "secret:bscpay/rpc-urls" in json.dumps(s["Resource"])
            for s in statements
        ):
            readers.add(name)
    assert readers == set(RPC_READERS)
