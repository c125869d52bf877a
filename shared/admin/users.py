"""The console's users (Cognito): who holds which role, role changes, sign-outs.
Admins manage users' roles, never their own; every change leaves an audit record."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shared import aws, config, ids
from shared.actor import current
from shared.admin import identity
from shared.admin.roles import Role
from shared.dal import audit
from shared.dal import system as system_repo
from shared.errors import Forbidden, NotFound, ValidationFailed

MAX_USERS = 500


class OwnRoles(Forbidden):
    code = "own_roles"


def _idp() -> Any:
    return aws.client("cognito-idp")


def _pool() -> str:
    return config.aws().user_pool_id


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "UserNotFoundException"


def roles_of_user(username: str) -> list[str]:
    try:
        groups = _idp().admin_list_groups_for_user(UserPoolId=_pool(), Username=username)
    except ClientError as exc:
        if _missing(exc):
            raise NotFound(f"no user {username!r}", "username") from exc
        raise
    return sorted(g["GroupName"] for g in groups["Groups"] if g["GroupName"] in identity.KNOWN)


def list_users() -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    pages = _idp().get_paginator("list_users").paginate(UserPoolId=_pool())
    for page in pages:
        for user in page["Users"]:
            users.append(
                {
                    "object": "admin_user",
                    "username": user["Username"],
                    "enabled": bool(user.get("Enabled", True)),
                    "status": user.get("UserStatus", ""),
                    "roles": roles_of_user(user["Username"]),
                }
            )
            if len(users) >= MAX_USERS:
                return users
    return users


def set_roles(username: str, roles: list[str]) -> dict[str, Any]:
    """Give ``username`` exactly ``roles``; the caller can never change their own."""
    unknown = sorted(set(roles) - identity.KNOWN)
    if unknown:
        raise ValidationFailed(
            f"unknown role {unknown[0]!r}: roles are {', '.join(r.value for r in Role)}",
            "roles",
        )
    if username == current().name:
        raise OwnRoles("an admin cannot change their own roles; ask another admin")
    before = roles_of_user(username)
    wanted = sorted(set(roles))
    audit.append(
        [
            audit.AuditEntry(
                "user.roles_changed",
                f"user:{username}",
                before={"roles": before},
                after={"roles": wanted},
            )
        ]
    )
    try:
        for role in set(wanted) - set(before):
            _idp().admin_add_user_to_group(UserPoolId=_pool(), Username=username, GroupName=role)
        for role in set(before) - set(wanted):
            _idp().admin_remove_user_from_group(
                UserPoolId=_pool(), Username=username, GroupName=role
            )
    except ClientError:
        # Cognito applied part of it: the trail says what the user holds now.
        audit.append(
            [
                audit.AuditEntry(
                    "user.roles_change_failed",
                    f"user:{username}",
                    before={"roles": wanted},
                    after={"roles": roles_of_user(username)},
                )
            ]
        )
        raise
    finally:
        identity.signed_out(username)  # the next request reads the user afresh
    return {"object": "admin_user", "username": username, "roles": roles_of_user(username)}


def sign_out(username: str) -> dict[str, Any]:
    """End every session of ``username``: refresh tokens are revoked by Cognito, ID
    tokens in hand are refused by :mod:`shared.admin.identity` from now on."""
    try:
        _idp().admin_user_global_sign_out(UserPoolId=_pool(), Username=username)
    except ClientError as exc:
        if _missing(exc):
            raise NotFound(f"no user {username!r}", "username") from exc
        raise
    now = ids.now()
    system_repo.record_sign_out(username, now)
    audit.append([audit.AuditEntry("user.signed_out", f"user:{username}")])
    identity.signed_out(username)
    return {"object": "admin_user", "username": username, "signed_out_at": now}
