"""Typed errors raised by logic. ``shared.api.http`` maps them to HTTP in one place.

Each error's ``type`` follows from what went wrong, as in Stripe's API:
``authentication_error`` (401: who is calling is unknown), ``permission_error``
(403: the caller is known but may not do this), ``rate_limit_error`` (429),
``idempotency_error`` (an Idempotency-Key reused for another request), ``api_error``
(5xx: our side) and ``invalid_request_error`` for the rest of the 4xx."""

from __future__ import annotations

from typing import Any

# The type an error gets from its HTTP status unless it names a more specific one.
TYPE_BY_STATUS = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def type_for_status(status: int) -> str:
    if status >= 500:
        return "api_error"
    return TYPE_BY_STATUS.get(status, "invalid_request_error")


class BscpayError(Exception):
    status = 400
    type = "invalid_request_error"
    code = "bad_request"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A subclass that changes the status without naming a type gets the status's
        # type (a 503 raised as a Conflict is an api_error, not a client error).
        super().__init_subclass__(**kwargs)
        if "status" in cls.__dict__ and "type" not in cls.__dict__:
            cls.type = type_for_status(cls.status)

    # Seconds a client should wait before retrying (429, 503): sent as Retry-After.
    retry_after_s: int | None = None

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def headers(self) -> dict[str, str]:
        """Headers every answer of this error carries."""
        return {"Retry-After": str(self.retry_after_s)} if self.retry_after_s else {}


class MalformedRequest(BscpayError):
    status = 400
    code = "malformed_request"


class ValidationFailed(BscpayError):
    status = 422
    code = "validation_failed"


class Unauthenticated(BscpayError):
    status = 401
    type = "authentication_error"
    code = "unauthenticated"


class ReplayedRequest(Unauthenticated):
    """A state-changing request whose exact signature was already accepted once."""

    code = "replayed_request"


class Forbidden(BscpayError):
    """The caller is known but may not do this (an IP outside the key's allowlist,
    an admin approving their own payout): a permission refusal, not an identity one."""

    status = 403
    type = "permission_error"
    code = "forbidden"


class NotFound(BscpayError):
    status = 404
    code = "resource_missing"


class PaymentNotFound(NotFound):
    pass


class FourEyes(Forbidden):
    """The same person may not both make and approve a change that moves money."""

    code = "four_eyes"


class MerchantSuspended(Forbidden):
    """A suspended merchant's writes are refused (its reads and payments in flight go on)."""

    code = "merchant_suspended"


class Conflict(BscpayError):
    status = 409
    code = "conflict"


class IdempotencyConflict(Conflict):
    type = "idempotency_error"
    code = "idempotency_conflict"


class InvalidState(Conflict):
    code = "invalid_state"


class ReturnUnderWay(InvalidState):
    """Held funds are on their way back to their sender: not released, not returned
    again, until that refund settles (docs/adr/0020)."""

    code = "return_in_progress"


class ConcurrentConflict(Conflict):
    """A change kept losing races to other writers of the same record (ConcurrentUpdate
    after the caller's retries): nothing was written; the client may retry."""

    code = "concurrent_update"


class HeldFundsUnavailable(Conflict):
    """The merchant's held account holds less than the held funds a release or return
    would move (docs/adr/0020): nothing was written."""

    code = "held_funds_unavailable"


class UnsupportedMediaType(BscpayError):
    status = 415
    code = "unsupported_media_type"


class Throttled(BscpayError):
    status = 429
    type = "rate_limit_error"
    code = "throttled"

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RateLimited(Throttled):
    """An API key over its request budget (issue 15): 429 ``rate_limited``."""

    code = "rate_limited"


class PriceUnavailable(BscpayError):
    """No trustworthy price now (a stale or unreadable feed, or the second source
    disagrees or is down): 503 ``price_unavailable``; never a wrong quote (issue 14)."""

    status = 503
    code = "price_unavailable"

    def __init__(self, message: str, retry_after_s: int = 30) -> None:
        super().__init__(message, "price")
        self.retry_after_s = retry_after_s


class ChainMismatch(Exception):
    """The node or token does not match configuration; the scanner refuses to run."""


class LeaseHeld(Exception):
    """Another scanner invocation holds the cursor lease."""


class ConcurrentUpdate(Exception):
    """A conditional write lost a race (version changed or item already exists): the
    caller re-reads and retries, or gives up."""
