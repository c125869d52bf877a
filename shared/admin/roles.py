"""Who may call which admin route: the one table, checked in one place.

Roles are Cognito groups; a user may hold several. Every role reads everything under
``/admin``; each write names the roles that may make it. A route missing from the
table is refused to everyone (fail closed), and a unit test keeps the table and the
admin API's routes in step.

| role      | may                                                                  |
|-----------|----------------------------------------------------------------------|
| viewer    | read everything under /admin                                         |
| support   | viewer + redeliver events, chain rescans, tolerance, suspend/resume, |
|           | the screening blocklist                                              |
| finance   | viewer + payouts, approve/reject settlements, gas funding, release   |
|           | or return held payments                                              |
| admin     | viewer + merchants, API keys, KYC, settlement addresses, user roles  |
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from shared.errors import Forbidden


class Role(StrEnum):
    VIEWER = "viewer"
    SUPPORT = "support"
    FINANCE = "finance"
    ADMIN = "admin"


EVERYONE = frozenset(Role)
SUPPORT = frozenset({Role.SUPPORT})
FINANCE = frozenset({Role.FINANCE})
ADMIN = frozenset({Role.ADMIN})
# Merchant settings that move no money: support's daily work, and the admin's.
SUPPORT_OR_ADMIN = frozenset({Role.SUPPORT, Role.ADMIN})


@dataclass(frozen=True)
class Rule:
    method: str
    path: str  # the resolver's template: "/admin/merchants/<merchant_id>"
    roles: frozenset[Role]

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and _pattern(self.path).fullmatch(path) is not None


M = "/admin/merchants/<merchant_id>"
S = "/admin/settlements/<disbursement_id>"
U = "/admin/users/<username>"

RULES: tuple[Rule, ...] = (
    # reading: every role
    Rule("GET", "/admin/merchants", EVERYONE),
    Rule("GET", f"{M}/api_keys", EVERYONE),
    Rule("GET", f"{M}/settlement", EVERYONE),
    Rule("GET", "/admin/payments", EVERYONE),
    Rule("GET", "/admin/payments/<payment_id>", EVERYONE),
    Rule("GET", "/admin/settlements", EVERYONE),
    Rule("GET", S, EVERYONE),
    Rule("GET", "/admin/treasury", EVERYONE),
    # exports, statements and regulatory reports (docs/reports.md)
    Rule("GET", "/admin/exports/<export>", EVERYONE),
    Rule("GET", f"{M}/statement", EVERYONE),
    Rule("GET", "/admin/reports/large_transfers", EVERYONE),
    Rule("GET", "/admin/reports/monthly", EVERYONE),
    Rule("GET", "/admin/screening/blocklist", EVERYONE),
    Rule("GET", "/admin/reports/summary", EVERYONE),
    Rule("GET", "/admin/audit", EVERYONE),
    Rule("GET", "/admin/audit/verify", EVERYONE),
    Rule("GET", "/admin/users", EVERYONE),
    Rule("GET", "/admin/me", EVERYONE),
    Rule("POST", "/admin/me/sign_out", EVERYONE),
    # support
    Rule("POST", M, SUPPORT_OR_ADMIN),
    Rule("POST", f"{M}/suspend", SUPPORT_OR_ADMIN),
    Rule("POST", f"{M}/resume", SUPPORT_OR_ADMIN),
    Rule("POST", "/admin/events/<event_id>/redeliver", SUPPORT),
    Rule("POST", "/admin/chain/rescan", SUPPORT),
    # AML screening (docs/adr/0020): who lists a sender may not release its funds
    Rule("POST", "/admin/screening/blocklist", SUPPORT_OR_ADMIN),
    Rule("DELETE", "/admin/screening/blocklist/<address>", SUPPORT_OR_ADMIN),
    # finance: money moves
    Rule("POST", f"{M}/payouts", FINANCE),
    Rule("POST", f"{S}/approve", FINANCE),
    Rule("POST", f"{S}/reject", FINANCE),
    Rule("POST", "/admin/treasury/gas_funding", FINANCE),
    Rule("POST", "/admin/payments/<payment_id>/release", FINANCE),  # held funds, four eyes
    Rule(
        "POST", "/admin/customers/<customer_id>/deposits/<deposit_id>/release", FINANCE
    ),  # a customer deposit's held funds, four eyes
    Rule("POST", "/admin/payments/<payment_id>/return", FINANCE),
    # admin: who may do what, and where money may go
    Rule("POST", "/admin/merchants", ADMIN),
    Rule("POST", f"{M}/api_keys", ADMIN),
    Rule("POST", f"{M}/api_keys/<key_id>/approve", ADMIN),
    Rule("POST", f"{M}/api_keys/<key_id>/revoke", ADMIN),
    Rule("POST", f"{M}/settlement", ADMIN),
    Rule("POST", f"{M}/settlement/confirm", ADMIN),
    Rule("POST", f"{M}/kyc", ADMIN),  # docs/adr/0021
    Rule("POST", f"{U}/roles", ADMIN),
    Rule("POST", f"{U}/sign_out", ADMIN),
)


class ForbiddenRole(Forbidden):
    code = "forbidden_role"


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(template: str) -> re.Pattern[str]:
    if template not in _PATTERNS:
        parts = re.split(r"<[a-z_]+>", template)
        _PATTERNS[template] = re.compile("[^/]+".join(re.escape(p) for p in parts))
    return _PATTERNS[template]


def rule_for(method: str, path: str) -> Rule | None:
    method = method.upper()
    # Literal routes win over templates ("/admin/audit/verify" is no settlement id).
    return next(
        (r for r in sorted(RULES, key=lambda r: "<" in r.path) if r.matches(method, path)), None
    )


def _names(roles: Iterable[Role]) -> str:
    return " or ".join(sorted(r.value for r in roles))


def check(method: str, path: str, held: frozenset[str]) -> None:
    """Raise ForbiddenRole unless one of ``held`` may call ``method path``."""
    rule = rule_for(method, path)
    if rule is None:
        raise ForbiddenRole("no role may call this route")
    if not held & {r.value for r in rule.roles}:
        have = ", ".join(sorted(held)) or "no role"
        raise ForbiddenRole(
            f"{method.upper()} {rule.path} needs the {_names(rule.roles)} role (you have: {have})"
        )
