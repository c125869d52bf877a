"""Who may call the admin API, on the local stack's Cognito (moto): roles are checked
before the request is even validated, a disabled user is refused once the 60 s user
cache has passed, a signed-out session is refused at once, and nobody changes their own
roles."""

from __future__ import annotations

import time
import uuid
from typing import Any

from shared import aws, config
from shared.admin.identity import CHECK_TTL_S, SessionCheck
from shared.local.stack import LocalStack
from tests.integration.helpers import admin_call, as_admin


def _name(role: str) -> str:
    return f"{role}-{uuid.uuid4().hex[:8]}@example.com"


def test_a_role_the_route_does_not_allow_is_refused_before_the_body_is_read(
    stack: LocalStack,
) -> None:
    viewer = as_admin(_name("viewer"), ("viewer",))
    # a body that would fail validation: the role refusal comes first, naming the role
    reply = admin_call("POST", "/admin/treasury/gas_funding", {"tx_hash": 5}, authorizer=viewer)
    assert (reply.status, reply.error["code"]) == (403, "forbidden_role")
    assert "finance" in reply.error["message"]
    assert admin_call("GET", "/admin/treasury", authorizer=viewer).status == 200
    # an unknown route is still a 404, whatever the role
    assert admin_call("GET", "/admin/nothing-here", authorizer=viewer).status == 404
    me = admin_call("GET", "/admin/me", authorizer=viewer).body
    assert me["roles"] == ["viewer"]


def test_a_disabled_user_is_refused_once_the_cache_has_passed(stack: LocalStack) -> None:
    name = _name("admin")
    claims: dict[str, Any] = as_admin(name, ("admin",))["claims"]
    now = [1000.0]
    check = SessionCheck(clock=lambda: now[0])
    assert check.refusal(claims) is None

    aws.client("cognito-idp").admin_disable_user(
        UserPoolId=config.aws().user_pool_id, Username=name
    )
    now[0] += CHECK_TTL_S - 1
    assert check.refusal(claims) is None  # remembered for less than a minute
    now[0] += 2
    assert check.refusal(claims) == "this admin user is disabled"
    assert CHECK_TTL_S <= 60


def test_a_signed_out_session_is_refused_and_a_new_sign_in_works(stack: LocalStack) -> None:
    name = _name("finance")
    old = as_admin(name, ("finance",))
    assert admin_call("GET", "/admin/treasury", authorizer=old).status == 200

    # When an admin signs the user out
    signed_out = admin_call("POST", f"/admin/users/{name}/sign_out", authorizer=as_admin("boss"))
    assert signed_out.status == 200, signed_out.body

    # Then the token in hand is refused, and a token from a later sign-in is not
    refused = admin_call("GET", "/admin/treasury", authorizer=old)
    assert (refused.status, refused.error["code"]) == (401, "unauthenticated")
    fresh = as_admin(name, ("finance",))
    fresh["claims"]["auth_time"] = str(int(time.time()) + 1)
    assert admin_call("GET", "/admin/treasury", authorizer=fresh).status == 200


def test_admins_change_others_roles_never_their_own(stack: LocalStack) -> None:
    boss, other = _name("admin"), _name("viewer")
    as_admin(other, ("viewer",))
    own = admin_call(
        "POST", f"/admin/users/{boss}/roles", {"roles": ["finance"]}, as_admin(boss, ("admin",))
    )
    assert (own.status, own.error["code"]) == (403, "own_roles")
    changed = admin_call(
        "POST",
        f"/admin/users/{other}/roles",
        {"roles": ["viewer", "support"]},
        as_admin(boss, ("admin",)),
    )
    assert changed.status == 200, changed.body
    assert changed.body["roles"] == ["support", "viewer"]
    unknown = admin_call(
        "POST", f"/admin/users/{other}/roles", {"roles": ["root"]}, as_admin(boss, ("admin",))
    )
    assert unknown.status == 422
    missing = admin_call(
        "POST", "/admin/users/nobody-at-all/roles", {"roles": []}, as_admin(boss, ("admin",))
    )
    assert missing.status == 404
    listed = admin_call("GET", "/admin/users", authorizer=as_admin(boss, ("admin",))).body
    assert any(u["username"] == other for u in listed["data"])


def test_a_user_whose_password_was_reset_is_refused(stack: LocalStack) -> None:
    name = _name("support")
    claims: dict[str, Any] = as_admin(name, ("support",))["claims"]
    check = SessionCheck()
    assert check.refusal(claims) is None
    idp = aws.client("cognito-idp")
    pool = config.aws().user_pool_id
    idp.admin_set_user_password(
        UserPoolId=pool, Username=name, Password="Adm1n-" + uuid.uuid4().hex, Permanent=True
    )
    idp.admin_update_user_attributes(
        UserPoolId=pool,
        Username=name,
        UserAttributes=[
            {"Name": "email", "Value": name},
            {"Name": "email_verified", "Value": "true"},
        ],
    )
    idp.admin_reset_user_password(UserPoolId=pool, Username=name)
    status = idp.admin_get_user(UserPoolId=config.aws().user_pool_id, Username=name)
    assert status["UserStatus"] == "RESET_REQUIRED"
    check.forget(name)
    assert check.refusal(claims) == "this admin user is disabled"
