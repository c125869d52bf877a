"""``python -m shared.local.admins``: the local stack's admin helper says what happened
in one line, and never silently replaces an existing admin's password."""

from __future__ import annotations

import uuid

import jwt
import pytest

from shared.local import admins
from shared.local.stack import LocalStack


def new_name() -> str:
    return f"bob-{uuid.uuid4().hex[:8]}"


def test_adding_an_admin_twice_is_refused_and_keeps_the_password(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an admin added once
    name = new_name()
    admins.main(["add", name], stack.info)
    password = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]

    # When added again
    with pytest.raises(SystemExit) as refused:
        admins.main(["add", name], stack.info)

    # Then it fails with one line saying so, and the first password still works
    message = str(refused.value.code)
    assert refused.value.code != 0
    assert "already exists" in message and "--reset-password" in message
    assert "\n" not in message
    assert admins.id_token(stack.info, name, password)


def test_reset_password_gives_an_existing_admin_a_new_one(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an admin
    name = new_name()
    old = admins.add(stack.info, name)

    # When its password is reset explicitly
    admins.main(["add", name, "--reset-password"], stack.info)
    out = capsys.readouterr().out.strip()
    new = out.rsplit(" ", 1)[-1]

    # Then the new password works and the old one no longer does
    assert "password reset" in out and new != old
    assert admins.id_token(stack.info, name, new)
    with pytest.raises(SystemExit) as refused:
        admins.main(["token", name, old], stack.info)
    assert refused.value.code != 0


def test_a_wrong_password_is_one_line_not_a_traceback(stack: LocalStack) -> None:
    # Given an existing admin, When a token is asked for with a wrong password
    name = new_name()
    admins.add(stack.info, name)
    with pytest.raises(SystemExit) as refused:
        admins.main(["token", name, "not-the-password"], stack.info)

    # Then the command exits non-zero with one line naming the problem
    message = str(refused.value.code)
    assert refused.value.code != 0
    assert message == f"wrong username or password for admin {name!r}"


def test_an_unknown_admin_gets_the_same_line(stack: LocalStack) -> None:
    with pytest.raises(SystemExit) as refused:
        admins.main(["token", new_name(), "whatever"], stack.info)
    assert "wrong username or password" in str(refused.value.code)


def test_the_stack_has_one_user_per_role_and_a_second_admin_and_finance(
    stack: LocalStack,
) -> None:
    users = stack.info["users"]
    assert set(users) == {"viewer", "support", "finance", "finance2", "admin", "admin2"}
    assert users["admin"]["username"] == stack.info["admin"]["username"]
    for name, expected in [
        ("viewer", ["viewer"]),
        ("finance2", ["finance"]),
        ("admin2", ["admin"]),
    ]:
        token = admins.id_token(stack.info, users[name]["username"], users[name]["password"])
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["cognito:groups"] == expected, name


def test_add_puts_a_user_in_the_roles_given(stack: LocalStack) -> None:
    name = f"multi-{uuid.uuid4().hex[:8]}@example.com"
    out = admins.run(["add", name, "--role", "finance", "--role", "viewer"], stack.info)
    password = out.rsplit(": ", 1)[1]
    claims = jwt.decode(
        admins.id_token(stack.info, name, password), options={"verify_signature": False}
    )
    assert sorted(claims["cognito:groups"]) == ["finance", "viewer"]
    with pytest.raises(SystemExit, match="unknown role 'root'"):
        admins.main(["add", f"x-{name}", "--role", "root"], stack.info)
