"""Merchant KYC status: ``pending`` (every merchant starts there), ``verified`` or
``rejected``. An admin sets it (``POST /admin/merchants/{id}/kyc``) or the KYC provider
does through its signed callback (``shared.kyc.callback``). Each change is written with
its audit record and the merchant's ``merchant.kyc_updated`` event, and alerts the
operators. With ``BSCPAY_PAYOUTS_REQUIRE_KYC`` a merchant's payouts wait until it is
``verified`` (``payouts_blocked``), as a suspended merchant's do."""

from __future__ import annotations

from typing import Any

from shared import config, ids
from shared.actor import current
from shared.alerts import raise_alert
from shared.dal import merchants as merchant_repo
from shared.errors import Conflict, InvalidState, NotFound, ValidationFailed
from shared.events import outbox
from shared.models.domain import Event, Merchant

STATUSES = ("pending", "verified", "rejected")
MAX_REASON = 500


class KycNotVerified(Conflict):
    """Payouts wait for a verified merchant (BSCPAY_PAYOUTS_REQUIRE_KYC)."""

    code = "kyc_not_verified"


def payouts_blocked(merchant: Merchant | None) -> bool:
    """True when this deployment makes payouts wait for KYC and the merchant is not
    verified (a merchant that does not exist is left to the caller's own check)."""
    return (
        merchant is not None
        and config.kyc().payouts_require_kyc
        and merchant.kyc_status != "verified"
    )


def refusal(merchant_id: str, merchant: Merchant | None) -> KycNotVerified:
    status = merchant.kyc_status if merchant is not None else "pending"
    return KycNotVerified(
        f"merchant {merchant_id}'s KYC is {status}: payouts wait until it is verified "
        f"(POST /admin/merchants/{merchant_id}/kyc or the KYC provider's callback)"
    )


def check_status(status: str, reason: str | None) -> str | None:
    if status not in STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}", "status")
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise ValidationFailed(f"reason must be at most {MAX_REASON} characters", "reason")
    if status == "rejected" and reason is None:
        raise ValidationFailed("a rejection needs a reason", "reason")
    return reason


def _event(merchant: Merchant) -> Event:
    data: dict[str, Any] = {
        "object": {
            "id": merchant.merchant_id,
            "object": "merchant",
            "kyc_status": merchant.kyc_status,
            # No reason: it is the compliance team's note (a rejection may rest on
            # findings the merchant must not be tipped off about); support tells them.
        }
    }
    return Event(
        event_id=ids.new_id("evt"),
        type="merchant.kyc_updated",
        created=ids.now(),
        merchant_id=merchant.merchant_id,
        data=data,
    )


def set_status(
    merchant_id: str, status: str, reason: str | None, source: str | None = None
) -> tuple[Merchant, bool]:
    """Set the merchant's KYC status; ``(merchant, changed)``. Setting the status it
    already has (with the same reason) changes nothing and is no error: a provider
    retrying its callback, an admin clicking twice."""
    reason = check_status(status, reason)
    merchant = (
        merchant_repo.get_merchant(merchant_id) if ids.plausible(merchant_id, "mer") else None
    )
    if merchant is None:
        raise NotFound(f"no merchant {merchant_id!r}", "merchant_id")
    if merchant.kyc_status == status and merchant.kyc_reason == reason:
        return merchant, False
    source = source or current().label
    when = ids.now()
    changed = merchant.model_copy(
        update={
            "kyc_status": status,
            "kyc_reason": reason,
            "kyc_changed_at": when,
            "kyc_source": source,
        }
    )
    event = _event(changed)
    if not merchant_repo.set_kyc(
        merchant_id, status, merchant.kyc_status, reason, source, when, [event]
    ):
        raise InvalidState(f"merchant {merchant_id}'s KYC status changed meanwhile; retry")
    outbox.publish([event])
    if status == "rejected" or merchant.kyc_status == "verified":
        # Worth an operator's look: a rejection, or a verified merchant no longer so.
        raise_alert(
            "merchant_kyc_updated",
            f"merchant KYC {status}",
            merchant_id=merchant_id,
            before=merchant.kyc_status,
            after=status,
            source=source,
        )
    return changed, True
