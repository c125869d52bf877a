"""Who an admin token belongs to (shared/admin/identity.py): groups in every form they
arrive in, and the 60 s user check (a fake clock and lookup: no Cognito here)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.admin.identity import CHECK_TTL_S, MAX_CACHED, SessionCheck, UserState, roles_of


@pytest.mark.parametrize(
    "groups",
    [
        ["finance", "viewer"],  # a decoded JWT
        "finance,viewer",  # API Gateway REST's Cognito authorizer
        "[finance viewer]",  # HTTP APIs' JWT authorizer
        "['finance', 'viewer']",  # str() of a list (the local emulator)
        '["finance", "viewer"]',  # a JSON array string
        "finance, viewer, superuser",  # unknown groups are no roles
    ],
)
def test_groups_become_roles_in_every_form(groups: Any) -> None:
    assert roles_of({"cognito:groups": groups}) == {"finance", "viewer"}


def test_no_groups_no_roles() -> None:
    assert roles_of({}) == frozenset()
    assert roles_of({"cognito:groups": ""}) == frozenset()


class FakeUsers:
    def __init__(self) -> None:
        self.states: dict[str, UserState | None] = {}
        self.lookups = 0

    def __call__(self, username: str) -> UserState | None:
        self.lookups += 1
        return self.states.get(username)


def _check() -> tuple[SessionCheck, FakeUsers, list[float]]:
    users, now = FakeUsers(), [0.0]
    return SessionCheck(lookup=users, clock=lambda: now[0]), users, now


def claims(name: str = "ann", auth_time: int = 1_000) -> dict[str, Any]:
    return {"sub": f"sub-{name}", "cognito:username": name, "auth_time": str(auth_time)}


def test_a_user_is_looked_up_at_most_once_a_minute() -> None:
    check, users, now = _check()
    users.states["ann"] = UserState(enabled=True, signed_out_at=None)
    assert check.refusal(claims()) is None
    now[0] = CHECK_TTL_S - 0.5
    assert check.refusal(claims()) is None
    assert users.lookups == 1
    users.states["ann"] = UserState(enabled=False, signed_out_at=None)
    now[0] = CHECK_TTL_S + 0.5
    assert check.refusal(claims()) == "this admin user is disabled"
    assert CHECK_TTL_S <= 60


def test_deleted_users_and_tokens_from_before_a_sign_out_are_refused() -> None:
    check, users, _ = _check()
    assert check.refusal(claims("gone")) == "this admin user no longer exists"
    users.states["bob"] = UserState(enabled=True, signed_out_at=2_000)
    assert "signed out" in str(check.refusal(claims("bob", auth_time=2_000)))
    assert check.refusal(claims("bob", auth_time=2_001)) is None
    # a token without a readable issue time cannot prove it came after the sign-out
    assert "signed out" in str(check.refusal({"sub": "x", "cognito:username": "bob"}))


def test_forget_reads_the_user_afresh_and_the_cache_stays_bounded() -> None:
    check, users, _ = _check()
    users.states["ann"] = UserState(enabled=True, signed_out_at=None)
    check.refusal(claims())
    check.forget("ann")
    check.refusal(claims())
    assert users.lookups == 2
    for n in range(MAX_CACHED + 5):
        check.state(f"user-{n}")
    assert len(check._seen) <= MAX_CACHED
