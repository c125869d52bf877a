"""Typed errors raised by logic. ``shared.api.http`` maps them to HTTP in one place."""

from __future__ import annotations


class BscpayError(Exception):
    status = 400
    type = "invalid_request_error"
    code = "bad_request"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


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


class Forbidden(BscpayError):
    status = 403
    type = "authentication_error"
    code = "forbidden"


class NotFound(BscpayError):
    status = 404
    code = "resource_missing"


class PaymentNotFound(NotFound):
    pass


class Conflict(BscpayError):
    status = 409
    code = "conflict"


class IdempotencyConflict(Conflict):
    type = "idempotency_error"
    code = "idempotency_conflict"


class InvalidState(Conflict):
    code = "invalid_state"


class UnsupportedMediaType(BscpayError):
    status = 415
    code = "unsupported_media_type"


class Throttled(BscpayError):
    status = 429
    type = "rate_limit_error"
    code = "throttled"


class ChainMismatch(Exception):
    """The node or token does not match configuration; the scanner refuses to run."""


class LeaseHeld(Exception):
    """Another scanner invocation holds the cursor lease."""
