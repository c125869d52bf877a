"""The admin API's role table (shared/admin/roles.py) and its routes stay in step, and
the check refuses what the README's role table says it refuses."""

from __future__ import annotations

import pytest

from shared.admin import roles
from shared.admin.roles import ForbiddenRole, Role


def _routes() -> set[tuple[str, str]]:
    from functions.admin_api.handler import app

    registered = app._static_routes + app._dynamic_routes
    return {(r.method, r.path) for r in registered}


def test_every_admin_route_has_a_rule_and_every_rule_a_route() -> None:
    # Given the admin API's routes and the role table
    routes = _routes()
    rules = {(r.method, r.path) for r in roles.RULES}

    # Then neither has an entry the other lacks (a route without a rule is refused to all)
    assert routes - rules == set(), "routes without a role rule"
    assert rules - routes == set(), "rules for routes that do not exist"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/admin/payments", {"viewer", "support", "finance", "admin"}),
        ("GET", "/admin/audit/verify", {"viewer", "support", "finance", "admin"}),
        ("POST", "/admin/merchants", {"admin"}),
        ("POST", "/admin/merchants/mer_1/api_keys", {"admin"}),
        ("POST", "/admin/merchants/mer_1/api_keys/ak_1/approve", {"admin"}),
        ("POST", "/admin/merchants/mer_1/settlement", {"admin"}),
        ("POST", "/admin/merchants/mer_1/payouts", {"finance"}),
        ("POST", "/admin/settlements/po_1/approve", {"finance"}),
        ("POST", "/admin/treasury/gas_funding", {"finance"}),
        ("POST", "/admin/merchants/mer_1", {"support", "admin"}),
        ("POST", "/admin/merchants/mer_1/suspend", {"support", "admin"}),
        ("POST", "/admin/chain/rescan", {"support"}),
        ("POST", "/admin/users/bob/roles", {"admin"}),
    ],
)
def test_each_role_may_call_exactly_what_the_table_says(
    method: str, path: str, allowed: set[str]
) -> None:
    for role in Role:
        held = frozenset({role.value})
        if role.value in allowed:
            roles.check(method, path, held)
        else:
            with pytest.raises(ForbiddenRole) as refused:
                roles.check(method, path, held)
            # the refusal names the role the route needs
            assert all(a in refused.value.message for a in allowed)
            assert refused.value.status == 403 and refused.value.code == "forbidden_role"


def test_several_groups_add_up_and_no_group_gets_nothing() -> None:
    roles.check("POST", "/admin/merchants/mer_1/payouts", frozenset({"viewer", "finance"}))
    with pytest.raises(ForbiddenRole):
        roles.check("GET", "/admin/payments", frozenset())
    with pytest.raises(ForbiddenRole):
        roles.check("GET", "/admin/payments", frozenset({"superuser"}))


def test_an_unknown_route_is_refused_to_everyone() -> None:
    with pytest.raises(ForbiddenRole):
        roles.check("DELETE", "/admin/merchants/mer_1", frozenset(r.value for r in Role))


def test_a_literal_route_is_not_taken_for_a_template() -> None:
    # "/admin/audit/verify" must not match a template such as "/admin/audit/<id>"
    rule = roles.rule_for("GET", "/admin/audit/verify")
    assert rule is not None and rule.path == "/admin/audit/verify"
