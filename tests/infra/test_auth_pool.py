"""The admin console's user pool and authorizer (docs/adr/0019): TOTP MFA required, the
four role groups, an authorizer cache of at most 60 s, and the admin API's Cognito
calls on that pool only."""

from __future__ import annotations

from typing import Any

from infra.cdk.constants import ADMIN_POOL_ACTIONS, AUTHORIZER_CACHE_S
from tests.infra.cfn import allows, as_list, function_ids, refs, role_of, role_statements
from tests.infra.cfn import resources as of_type

Template = dict[str, Any]


def _pool(template: Template) -> tuple[str, dict[str, Any]]:
    [(pool_id, pool)] = of_type(template, "AWS::Cognito::UserPool").items()
    return pool_id, pool["Properties"]


def test_mfa_is_required_and_totp_only(template: Template) -> None:
    _, pool = _pool(template)
    assert pool["MfaConfiguration"] == "ON"
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]


def test_the_pool_has_the_four_role_groups(template: Template) -> None:
    pool_id, _ = _pool(template)
    groups = of_type(template, "AWS::Cognito::UserPoolGroup").values()
    names = {g["Properties"]["GroupName"] for g in groups}
    assert names == {"viewer", "support", "finance", "admin"}
    assert all(pool_id in refs(g["Properties"]["UserPoolId"]) for g in groups)


def test_the_authorizer_remembers_a_token_for_at_most_a_minute(template: Template) -> None:
    [authorizer] = of_type(template, "AWS::ApiGateway::Authorizer").values()
    ttl = authorizer["Properties"].get("AuthorizerResultTtlInSeconds", 300)
    assert ttl == AUTHORIZER_CACHE_S <= 60


def test_only_the_admin_api_asks_cognito_and_only_about_its_pool(template: Template) -> None:
    pool_id, _ = _pool(template)
    for name, function_id in function_ids(template, "bscpay").items():
        statements = [
            s
            for s in role_statements(template, role_of(template, function_id))
            if any(str(a).startswith("cognito-idp:") for a in as_list(s.get("Action")))
        ]
        if name != "admin_api":
            assert statements == [], name
            continue
        for action in ADMIN_POOL_ACTIONS:
            granted = [s for s in statements if allows(s, action)]
            assert granted, action
            assert all(pool_id in refs(s["Resource"]) for s in granted), action
