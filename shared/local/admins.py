"""Console users of the local stack (moto's Cognito), for trying the admin API by hand.

    .venv/bin/python -m shared.local.admins token          # the local admin's ID token
    .venv/bin/python -m shared.local.admins token --as finance   # a user of stack.json
    .venv/bin/python -m shared.local.admins token bob PASSWORD
    .venv/bin/python -m shared.local.admins add bob        # a user in the admin group
    .venv/bin/python -m shared.local.admins add fin --role finance --role viewer
    .venv/bin/python -m shared.local.admins add bob --reset-password   # a new password

``make run`` already creates one user per role plus a second admin and a second finance
user (``users`` in ``.local/stack.json``). Roles are the groups viewer, support,
finance, admin (docs/adr/0019). Local only: throwaway credentials of a moto user pool
that lives as long as the stack, and MFA-less (moto has no TOTP; the deployed pool
requires it).
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shared.local import provision

STATE = Path(".local/stack.json")


def _stack() -> dict[str, Any]:
    if not STATE.exists():
        raise SystemExit("no .local/stack.json: start the local stack with `make run` first")
    return dict(json.loads(STATE.read_text()))


class AdminError(Exception):
    """Something an operator can fix, said in one line."""


def _idp(stack: dict[str, Any]) -> Any:
    return boto3.client(
        "cognito-idp",
        endpoint_url=stack["aws_endpoint_url"],
        region_name=stack["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def id_token(stack: dict[str, Any], username: str, password: str) -> str:
    idp = _idp(stack)
    result = idp.initiate_auth(
        ClientId=stack["admin"]["client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return str(result["AuthenticationResult"]["IdToken"])


def exists(stack: dict[str, Any], username: str) -> bool:
    try:
        _idp(stack).admin_get_user(UserPoolId=stack["admin"]["user_pool_id"], Username=username)
    except ClientError as exc:
        if _code(exc) == "UserNotFoundException":
            return False
        raise
    return True


def add(
    stack: dict[str, Any],
    username: str,
    reset_password: bool = False,
    roles: list[str] | None = None,
) -> str:
    """Create a user in ``roles`` (default: admin) and return its new password. An
    existing user keeps its password unless ``reset_password``: running ``add`` twice
    must not lock anyone out silently."""
    groups = tuple(roles or ["admin"])
    unknown = sorted(set(groups) - set(provision.ROLES))
    if unknown:
        raise AdminError(f"unknown role {unknown[0]!r}: roles are {', '.join(provision.ROLES)}")
    if not reset_password and exists(stack, username):
        raise AdminError(
            f"admin {username!r} already exists; its password is unchanged "
            f"(add --reset-password to give it a new one)"
        )
    password = "Adm1n-" + secrets.token_urlsafe(12)
    provision.create_admin(
        stack["aws_endpoint_url"],
        stack["region"],
        stack["admin"]["user_pool_id"],
        username,
        password,
        groups,
    )
    return password


def run(argv: list[str], stack: dict[str, Any]) -> str:
    """The command's one line of output; AdminError for what the operator can fix."""
    if argv[:2] == ["token", "--as"] and len(argv) == 3:
        users = stack.get("users", {})
        if argv[2] not in users:
            raise AdminError(f"no local user {argv[2]!r}: one of {', '.join(users)}")
        argv = ["token", users[argv[2]]["username"], users[argv[2]]["password"]]
    if argv[:1] == ["token"] and len(argv) in (1, 3):
        admin = stack["admin"]
        username, password = (
            (argv[1], argv[2]) if len(argv) == 3 else (admin["username"], admin["password"])
        )
        try:
            return id_token(stack, username, password)
        except ClientError as exc:
            if _code(exc) in ("NotAuthorizedException", "UserNotFoundException"):
                raise AdminError(f"wrong username or password for admin {username!r}") from exc
            raise
    if argv[:1] == ["add"] and len(argv) >= 2 and not argv[1].startswith("-"):
        options = argv[2:]
        reset = "--reset-password" in options
        options = [o for o in options if o != "--reset-password"]
        if len(options) % 2 or any(flag != "--role" for flag in options[::2]):
            raise AdminError(__doc__ or "usage: see shared/local/admins.py")
        roles = options[1::2] or None
        password = add(stack, argv[1], reset_password=reset, roles=roles)
        done = "password reset" if reset else "created"
        return f"admin {argv[1]} {done}; password (shown once): {password}"
    raise AdminError(__doc__ or "usage: see shared/local/admins.py")


def main(argv: list[str], stack: dict[str, Any] | None = None) -> None:
    stack = _stack() if stack is None else stack
    try:
        print(run(argv, stack))
    except AdminError as exc:
        raise SystemExit(str(exc)) from None
    except (ClientError, BotoCoreError) as exc:  # one line, not a botocore traceback
        raise SystemExit(
            f"the local stack's Cognito at {stack['aws_endpoint_url']} refused: {exc} "
            "(is `make run` still running?)"
        ) from None


if __name__ == "__main__":
    main(sys.argv[1:])
