"""Every typed error tells the caller what kind of problem it is (shared/errors.py):
the ``type`` in the error body matches the HTTP status it is answered with."""

from __future__ import annotations

import importlib
import pkgutil

import shared
from shared import errors
from shared.api.http import error_response

EXPECTED_TYPES = {
    401: {"authentication_error"},
    403: {"permission_error"},
    409: {"invalid_request_error", "idempotency_error"},
    429: {"rate_limit_error"},
}


def all_error_classes() -> list[type[errors.BscpayError]]:
    for module in pkgutil.walk_packages(shared.__path__, "shared."):
        if not module.name.startswith("shared.local"):  # tools, not the product
            importlib.import_module(module.name)
    found: list[type[errors.BscpayError]] = []
    pending = [errors.BscpayError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def expected_types(status: int) -> set[str]:
    if status >= 500:
        return {"api_error"}
    return EXPECTED_TYPES.get(status, {"invalid_request_error"})


def test_every_typed_error_has_the_type_of_its_status() -> None:
    # Given every typed error the code base defines
    classes = all_error_classes()
    assert len(classes) > 15, [c.__name__ for c in classes]

    # Then each one's type is the one its HTTP status calls for
    wrong = [
        f"{c.__module__}.{c.__name__}: {c.status} {c.type}"
        for c in classes
        if c.type not in expected_types(c.status)
    ]
    assert not wrong, wrong


def test_a_permission_refusal_is_not_an_authentication_error() -> None:
    # Given an admin approving their own payout (four eyes)
    (same_approver,) = [c for c in all_error_classes() if c.code == "four_eyes"]

    # When it is answered
    response = error_response(same_approver("approve a payout you requested"))

    # Then it is a 403 permission_error, the caller's identity being known
    assert response.status_code == 403
    assert '"type": "permission_error"' in str(response.body)
    assert '"code": "four_eyes"' in str(response.body)


def test_an_error_that_changes_its_status_gets_the_type_of_that_status() -> None:
    # Given a conflict subclass that answers 503 without naming a type
    class Busy(errors.Conflict):
        status = 503

    # Then it is our side's problem, not the caller's
    assert Busy.type == "api_error"
    assert errors.IdempotencyConflict.type == "idempotency_error"
