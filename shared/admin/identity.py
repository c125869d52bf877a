"""Who an admin token belongs to, and whether that user may still act.

API Gateway's Cognito authorizer checks the JWT only: a disabled or signed-out user's
ID token stays valid until it expires. So the admin function looks the user up itself
(AdminGetUser, remembered for at most ``CHECK_TTL_S`` per user and container) and
refuses tokens issued before the user's last sign-out, which we record ourselves
(:func:`shared.admin.users.sign_out`). A user is refused within 60 s of being
disabled, deleted or signed out (docs/adr/0019).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shared import aws, config
from shared.admin.roles import Role
from shared.dal import system as system_repo

CHECK_TTL_S = 60.0
# Cognito statuses whose tokens no longer act (an operator or Cognito itself has put the
# account aside); FORCE_CHANGE_PASSWORD and CONFIRMED users act.
REFUSED_STATUSES = frozenset({"COMPROMISED", "RESET_REQUIRED", "ARCHIVED", "UNKNOWN"})
MAX_CACHED = 1024  # users; the cache never grows past it
KNOWN = frozenset(r.value for r in Role)


def roles_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """The known roles in ``cognito:groups``, in every form it arrives in: a list (a
    decoded JWT), "a,b" (API Gateway REST), "[a b]" (HTTP APIs), "['a', 'b']" (the
    local emulator's str of a list) or a JSON array string."""
    raw = claims.get("cognito:groups")
    if raw is None:
        return frozenset()
    if isinstance(raw, list | tuple):
        items = [str(v) for v in raw]
    else:
        text = str(raw).strip()
        try:
            parsed = json.loads(text)
            items = [str(v) for v in parsed] if isinstance(parsed, list) else [text]
        except ValueError:
            text = text.strip("[]")
            items = text.replace(",", " ").split()
    return frozenset(i.strip().strip("'\"") for i in items) & KNOWN


@dataclass(frozen=True)
class UserState:
    enabled: bool
    signed_out_at: int | None


Lookup = Callable[[str], "UserState | None"]


def _cognito_lookup(username: str) -> UserState | None:
    try:
        user = aws.client("cognito-idp").admin_get_user(
            UserPoolId=config.aws().user_pool_id, Username=username
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "UserNotFoundException":
            return None
        raise
    enabled = bool(user.get("Enabled", True)) and user.get("UserStatus") not in REFUSED_STATUSES
    return UserState(enabled, system_repo.signed_out_at(username))


class SessionCheck:
    """The per-container cache of user lookups; ``clock`` and ``lookup`` are injectable
    so the 60 s bound is tested without sleeping."""

    def __init__(
        self, lookup: Lookup = _cognito_lookup, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lookup = lookup
        self.clock = clock
        self._seen: dict[str, tuple[float, UserState | None]] = {}

    def forget(self, username: str) -> None:
        self._seen.pop(username, None)

    def state(self, username: str) -> UserState | None:
        now = self.clock()
        cached = self._seen.get(username)
        if cached is not None and now - cached[0] < CHECK_TTL_S:
            return cached[1]
        state = self.lookup(username)
        if len(self._seen) >= MAX_CACHED:
            self._seen.clear()
        self._seen[username] = (now, state)
        return state

    def refusal(self, claims: Mapping[str, Any]) -> str | None:
        """Why this token may no longer act, or None."""
        username = str(claims.get("cognito:username") or claims.get("sub") or "")
        state = self.state(username)
        if state is None:
            return "this admin user no longer exists"
        if not state.enabled:
            return "this admin user is disabled"
        issued = _issued_at(claims)
        if state.signed_out_at is not None and (issued is None or issued <= state.signed_out_at):
            return "this session was signed out: sign in again"
        return None


def _issued_at(claims: Mapping[str, Any]) -> int | None:
    for name in ("auth_time", "iat"):
        value = claims.get(name)
        try:
            return int(float(str(value)))
        except (TypeError, ValueError):
            continue
    return None


_sessions = SessionCheck()


def refusal(claims: Mapping[str, Any]) -> str | None:
    """None when the token's user may act. Without a configured user pool (unit tests
    of the handler alone) there is no one to ask; the local stack and every deployment
    set ``BSCPAY_USER_POOL_ID``."""
    if not config.aws().user_pool_id:
        return None
    return _sessions.refusal(claims)


def signed_out(username: str) -> None:
    """This container forgets what it knew of ``username`` (after a sign-out here)."""
    _sessions.forget(username)
