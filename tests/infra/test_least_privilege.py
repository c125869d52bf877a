"""Least privilege that moto cannot show (it enforces no IAM), read from the synthesized
template: each role uses the secrets KMS key only for the action its code path takes,
under that path's encryption context; and no role may rewrite the audit trail."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import pytest

from infra.cdk.constants import AUDIT_TABLE
from shared import aws, ids, resources
from tests.infra.cfn import (
    as_list,
    by_property,
    function_ids,
    key_ids_by_alias,
    refs,
    role_of,
    role_statements,
)

PREFIX = "bscpay"
Template = dict[str, Any]

# Spelled out here, not read from infra/cdk/constants.py: what each code path needs.
EXPECTED_SECRETS_KEY_USE: dict[str, set[tuple[frozenset[str], tuple[tuple[str, str], ...]]]] = {
    "admin_api": {(frozenset({"kms:Encrypt"}), (("owner", "ak_*"),))},
    "merchant_api": {
        (frozenset({"kms:Decrypt"}), (("owner", "ak_*"),)),
        (frozenset({"kms:Encrypt"}), (("owner", "we_*"),)),
        (
            frozenset({"kms:GenerateDataKey", "kms:Decrypt"}),
            (("purpose", "bscpay-idempotent-response"),),
        ),
    },
    "webhook_dispatcher": {(frozenset({"kms:Decrypt"}), (("owner", "we_*"),))},
}

AUDIT_REWRITES = {
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
}


@pytest.fixture(scope="module")
def functions(template: Template) -> dict[str, str]:
    return function_ids(template, PREFIX)


@pytest.fixture(scope="module")
def secrets_key(template: Template) -> str:
    return key_ids_by_alias(template)["secrets"]


def _on(statement: dict[str, Any], logical_id: str) -> bool:
    """True when the statement's Resource points at ``logical_id`` (its ARN, or an ARN
    built from it such as the table's index ARNs)."""
    return logical_id in refs(statement.get("Resource", []))


def _context_condition(statement: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    condition = statement.get("Condition") or {}
    assert set(condition) <= {"StringLike", "StringEquals"}, statement
    pairs = []
    for values in condition.values():
        for key, value in values.items():
            assert key.startswith("kms:EncryptionContext:"), statement
            pairs.append((key.removeprefix("kms:EncryptionContext:"), value))
    return tuple(sorted(pairs))


def secrets_key_uses(
    template: Template, role_id: str, key_id: str
) -> set[tuple[frozenset[str], tuple[tuple[str, str], ...]]]:
    uses = set()
    for statement in role_statements(template, role_id):
        if statement["Effect"] == "Allow" and _on(statement, key_id):
            uses.add((frozenset(as_list(statement["Action"])), _context_condition(statement)))
    return uses


def permits(
    template: Template, role_id: str, key_id: str, action: str, context: dict[str, str]
) -> bool:
    """IAM's answer for one KMS call on the secrets key with this encryption context
    (an Allow whose every context condition matches; StringLike as fnmatch)."""
    for statement in role_statements(template, role_id):
        if statement["Effect"] != "Allow" or not _on(statement, key_id):
            continue
        if action not in as_list(statement["Action"]):
            continue
        wanted = _context_condition(statement)
        if wanted and all(k in context and fnmatchcase(context[k], v) for k, v in wanted):
            return True
    return False


def test_each_role_uses_the_secrets_key_only_for_its_own_purpose(
    template: Template, functions: dict[str, str], secrets_key: str
) -> None:
    for name, function_id in functions.items():
        uses = secrets_key_uses(template, role_of(template, function_id), secrets_key)
        # Then exactly the actions its code path takes, each under its context condition
        assert uses == EXPECTED_SECRETS_KEY_USE.get(name, set()), name


def test_no_role_reaches_the_secrets_key_without_a_context_condition(
    template: Template, functions: dict[str, str], secrets_key: str
) -> None:
    for name, function_id in functions.items():
        for statement in role_statements(template, role_of(template, function_id)):
            if statement["Effect"] == "Allow" and _on(statement, secrets_key):
                assert _context_condition(statement), (name, statement)
            # and no kms:* on every key (which would include this one)
            if statement["Effect"] == "Allow" and "*" in as_list(statement["Resource"]):
                assert not any(a.startswith("kms:") for a in as_list(statement["Action"])), name


@pytest.mark.parametrize(
    ("role", "action", "context", "allowed"),
    [
        # the admin API seals a new API key's secret, and can never read one back
        ("admin_api", "kms:Encrypt", {"owner": "ak_1"}, True),
        ("admin_api", "kms:Decrypt", {"owner": "ak_1"}, False),
        ("admin_api", "kms:Encrypt", {"owner": "we_1"}, False),
        # the merchant API verifies with API-key secrets, cannot mint them
        ("merchant_api", "kms:Decrypt", {"owner": "ak_1"}, True),
        ("merchant_api", "kms:Encrypt", {"owner": "ak_1"}, False),
        # it seals webhook secrets but never reads one back
        ("merchant_api", "kms:Encrypt", {"owner": "we_1"}, True),
        ("merchant_api", "kms:Decrypt", {"owner": "we_1"}, False),
        ("merchant_api", "kms:GenerateDataKey", {"purpose": "bscpay-idempotent-response"}, True),
        ("merchant_api", "kms:GenerateDataKey", {"purpose": "custody"}, False),
        ("merchant_api", "kms:Decrypt", {}, False),
        # the dispatcher signs with webhook secrets only
        ("webhook_dispatcher", "kms:Decrypt", {"owner": "we_1"}, True),
        ("webhook_dispatcher", "kms:Decrypt", {"owner": "ak_1"}, False),
        ("webhook_dispatcher", "kms:Encrypt", {"owner": "we_1"}, False),
        ("webhook_dispatcher", "kms:Decrypt", {"purpose": "bscpay-idempotent-response"}, False),
        # chain workers never touch it
        ("settlement", "kms:Decrypt", {"owner": "we_1"}, False),
        ("chain_scanner", "kms:Decrypt", {"owner": "ak_1"}, False),
    ],
)
def test_what_each_role_may_do_with_the_secrets_key(
    template: Template,
    functions: dict[str, str],
    secrets_key: str,
    role: str,
    action: str,
    context: dict[str, str],
    allowed: bool,
) -> None:
    role_id = role_of(template, functions[role])
    assert permits(template, role_id, secrets_key, action, context) is allowed


# ---- the conditions match what the code sends ----------------------------------------


@dataclass
class KmsCall:
    operation: str
    context: dict[str, str]


class Stop(Exception):
    """Ends a code path right after its KMS call (before it would store anything)."""


class RecordingKms:
    """Stands in for the KMS client: records each call's encryption context."""

    def __init__(self) -> None:
        self.calls: list[KmsCall] = []
        self.stop_after_encrypt = False
        self._data_key = os.urandom(32)

    def encrypt(self, KeyId: str, Plaintext: bytes, EncryptionContext: dict[str, str]) -> Any:
        self.calls.append(KmsCall("kms:Encrypt", dict(EncryptionContext)))
        if self.stop_after_encrypt:
            raise Stop
        return {"CiphertextBlob": Plaintext}

    def decrypt(self, CiphertextBlob: bytes, EncryptionContext: dict[str, str]) -> Any:
        self.calls.append(KmsCall("kms:Decrypt", dict(EncryptionContext)))
        plaintext = self._data_key if CiphertextBlob == b"data-key" else CiphertextBlob
        return {"Plaintext": plaintext}

    def generate_data_key(
        self,
        KeyId: str,
        KeySpec: str,
        EncryptionContext: dict[str, str],
    ) -> Any:
        self.calls.append(KmsCall("kms:GenerateDataKey", dict(EncryptionContext)))
        return {"Plaintext": self._data_key, "CiphertextBlob": b"data-key"}

    def take(self) -> list[KmsCall]:
        calls, self.calls = self.calls, []
        return calls


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingKms]:
    recording = RecordingKms()
    monkeypatch.setattr(aws, "client", lambda service: recording)
    yield recording


def _assert_permitted(
    template: Template, functions: dict[str, str], key: str, role: str, calls: list[KmsCall]
) -> None:
    assert calls
    role_id = role_of(template, functions[role])
    for call in calls:
        assert permits(template, role_id, key, call.operation, call.context), (role, call)


def test_the_admin_api_key_path_is_permitted(
    template: Template, functions: dict[str, str], secrets_key: str, kms: RecordingKms
) -> None:
    from shared.admin import merchants

    # When the admin API mints an API key (the path stops at its KMS call, storing nothing)
    kms.stop_after_encrypt = True
    with pytest.raises(Stop):
        merchants.create_merchant("Least Privilege Shop")
    # Then that call is one its role may make
    _assert_permitted(template, functions, secrets_key, "admin_api", kms.take())


def test_the_merchant_api_paths_are_permitted(
    template: Template,
    functions: dict[str, str],
    secrets_key: str,
    kms: RecordingKms,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.api import merchant_auth
    from shared.auth import secrets
    from shared.webhooks import endpoints

    # verifying a request: the API key's secret, as hmac_auth decrypts it
    key_id = ids.new_id("ak")
    secrets.decrypt(key_id, base64.b64encode(b"sk_" + os.urandom(8).hex().encode()).decode())
    # a webhook endpoint created: its new secret sealed (no DNS, no table: the path
    # stops at its KMS call)
    monkeypatch.setattr(endpoints.ssrf, "check_url", lambda url, local: None)
    monkeypatch.setattr(endpoints.endpoint_repo, "endpoints_of", lambda merchant_id: [])
    kms.stop_after_encrypt = True
    with pytest.raises(Stop):
        endpoints.create(ids.new_id("mer"), "https://hooks.example.com/x", ["payment.paid"])
    kms.stop_after_encrypt = False
    # an Idempotency-Key response sealed and opened again
    record = f"{ids.new_id('mer')}#order-1"
    sealed = merchant_auth._seal_response(record, '{"id": "pay_1"}')
    assert merchant_auth._open_response(record, sealed) == '{"id": "pay_1"}'

    _assert_permitted(template, functions, secrets_key, "merchant_api", kms.take())


def test_the_dispatcher_path_is_permitted(
    template: Template, functions: dict[str, str], secrets_key: str, kms: RecordingKms
) -> None:
    from shared.models.domain import WebhookEndpoint
    from shared.webhooks import delivery

    endpoint = WebhookEndpoint(
        endpoint_id=ids.new_id("we"),
        merchant_id=ids.new_id("mer"),
        url="https://hooks.example.com/x",
        events=["payment.paid"],
        created_at=ids.now(),
        secret_ciphertext=base64.b64encode(b"whsec_" + os.urandom(8).hex().encode()).decode(),
    )
    delivery.signing_secrets(endpoint, ids.now())
    _assert_permitted(template, functions, secrets_key, "webhook_dispatcher", kms.take())


# ---- the audit trail is append-only ---------------------------------------------------


def test_every_role_is_denied_rewriting_the_audit_trail(
    template: Template, functions: dict[str, str]
) -> None:
    tables = by_property(template, "AWS::DynamoDB::Table", "TableName")
    audit = tables[resources.physical_name(PREFIX, AUDIT_TABLE)]
    assert set(functions) == {spec.name for spec in resources.FUNCTIONS}
    for name, function_id in functions.items():
        denies = [
            s
            for s in role_statements(template, role_of(template, function_id))
            if s["Effect"] == "Deny" and _on(s, audit)
        ]
        # Then an explicit Deny of every rewrite, on the table and its indexes
        assert len(denies) == 1, name
        (deny,) = denies
        assert set(as_list(deny["Action"])) == AUDIT_REWRITES, name
        assert "Condition" not in deny, name
        rendered = [str(r) for r in as_list(deny["Resource"])]
        assert len(rendered) == 2 and any("/index/*" in r for r in rendered), name
