"""Admins of the local stack (moto's Cognito), for trying the console API by hand.

    .venv/bin/python -m shared.local.admins token          # the local admin's ID token
    .venv/bin/python -m shared.local.admins add bob        # a second admin (four eyes)
    .venv/bin/python -m shared.local.admins token bob PASSWORD

Reads ``.local/stack.json`` written by ``make run``. Local only: these are throwaway
credentials of a moto user pool that lives as long as the stack.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Any

import boto3

from shared.local import provision

STATE = Path(".local/stack.json")


def _stack() -> dict[str, Any]:
    if not STATE.exists():
        raise SystemExit("no .local/stack.json: start the local stack with `make run` first")
    return dict(json.loads(STATE.read_text()))


def id_token(stack: dict[str, Any], username: str, password: str) -> str:
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=stack["aws_endpoint_url"],
        region_name=stack["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    result = idp.initiate_auth(
        ClientId=stack["admin"]["client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return str(result["AuthenticationResult"]["IdToken"])


def add(stack: dict[str, Any], username: str) -> str:
    password = "Adm1n-" + secrets.token_urlsafe(12)
    provision.create_admin(
        stack["aws_endpoint_url"],
        stack["region"],
        stack["admin"]["user_pool_id"],
        username,
        password,
    )
    return password


def main(argv: list[str]) -> None:
    stack = _stack()
    if argv[:1] == ["token"] and len(argv) in (1, 3):
        admin = stack["admin"]
        username, password = (
            (argv[1], argv[2]) if len(argv) == 3 else (admin["username"], admin["password"])
        )
        print(id_token(stack, username, password))
    elif argv[:1] == ["add"] and len(argv) == 2:
        print(f"admin {argv[1]} created; password (shown once): {add(stack, argv[1])}")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
