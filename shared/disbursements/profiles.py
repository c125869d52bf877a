"""Settlement profiles: where a merchant's payouts go, on which schedule, at which fee.
A new address is announced to the operators and the merchant at once (docs/adr/0013),
and no payout goes to it until a second admin confirms it (docs/adr/0019)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from shared import config, ids
from shared.alerts import raise_alert
from shared.dal import disbursements as store
from shared.dal import events as event_repo
from shared.dal import merchants as merchant_repo
from shared.dal.audit import AuditEntry
from shared.disbursements.destinations import checked_destination
from shared.errors import FourEyes, InvalidState, NotFound, ValidationFailed
from shared.events import outbox
from shared.models.domain import Event, PayoutSchedule, SettlementProfile

logger = Logger(child=True)


def set_profile(
    merchant_id: str,
    address: str,
    schedule: PayoutSchedule,
    threshold: int | None,
    fee_bps: int | None,
    fee_fixed: int | None,
    admin: str,
) -> SettlementProfile:
    require_merchant(merchant_id)
    if schedule is PayoutSchedule.THRESHOLD and not threshold:
        raise ValidationFailed("a threshold schedule needs a threshold amount", "threshold")
    if fee_bps is not None and not 0 <= fee_bps <= 10_000:
        raise ValidationFailed("fee_bps must be between 0 and 10000", "fee_bps")
    destination = checked_destination(address)
    previous = store.get_profile(merchant_id)
    now = ids.now()
    changed = previous is None or previous.address != destination
    profile = SettlementProfile(
        merchant_id=merchant_id,
        address=destination,
        address_confirmed_by=None if changed or previous is None else previous.address_confirmed_by,
        address_confirmed_at=None if changed or previous is None else previous.address_confirmed_at,
        # Payouts to a new address wait for a second admin until the cool-down ends.
        address_changed_at=now if previous is None or changed else previous.address_changed_at,
        address_changed_by=admin if previous is None or changed else previous.address_changed_by,
        schedule=schedule,
        threshold=threshold if schedule is PayoutSchedule.THRESHOLD else None,
        fee_bps=fee_bps,
        fee_fixed=fee_fixed,
        updated_at=now,
        updated_by=admin,
    )
    fields = {
        "address": profile.address,
        "schedule": profile.schedule.value,
        "threshold": profile.threshold,
        "fee_bps": profile.fee_bps,
        "fee_fixed": profile.fee_fixed,
    }
    before = None
    if previous is not None:
        before = {
            "address": previous.address,
            "schedule": previous.schedule.value,
            "threshold": previous.threshold,
            "fee_bps": previous.fee_bps,
            "fee_fixed": previous.fee_fixed,
        }
    entry = AuditEntry(
        "settlement.address_set" if changed else "settlement.profile_updated",
        f"merchant:{merchant_id}",
        before=before,
        after=fields,
        merchant_id=merchant_id,
    )
    store.put_profile(profile, entry)
    logger.info(
        "settlement profile set",
        extra={"merchant_id": merchant_id, "address": profile.address, "by": admin},
    )
    if changed:
        _announce_address_change(profile, previous.address if previous else None)
    return profile


def _announce_address_change(profile: SettlementProfile, previous: str | None) -> None:
    """Where a merchant's money goes is the one setting an attacker wants: tell the
    operators and the merchant, so a change nobody expected is noticed at once."""
    raise_alert(
        "settlement_address_changed",
        "settlement address changed",
        merchant_id=profile.merchant_id,
        address=profile.address,
        previous=previous,
        by=profile.address_changed_by,
    )
    event = Event(
        event_id=ids.new_id("evt"),
        type="settlement.address_changed",
        created=profile.address_changed_at,
        merchant_id=profile.merchant_id,
        data={
            "object": {
                "object": "settlement_profile",
                "address": profile.address,
                "previous_address": previous,
                "payouts_need_approval_until": profile.address_changed_at
                + config.payouts().address_cooldown_s,
            }
        },
    )
    event_repo.put_event(event, outbox=True)
    outbox.publish([event])


def confirm_address(merchant_id: str, admin: str) -> SettlementProfile:
    """A second admin confirms the profile's address: payouts may go to it from now on."""
    profile = get_profile(merchant_id)
    if profile.address_confirmed_by is not None:
        raise InvalidState(f"{profile.address} is confirmed already")
    if profile.address_changed_by == admin:
        raise FourEyes("the admin who set a settlement address cannot confirm it")
    if not store.confirm_address(merchant_id, profile.address, admin, ids.now()):
        raise InvalidState("the settlement address changed meanwhile; read it and retry")
    raise_alert(
        "settlement_address_confirmed",
        "settlement address confirmed",
        merchant_id=merchant_id,
        address=profile.address,
        set_by=profile.address_changed_by,
        confirmed_by=admin,
    )
    return get_profile(merchant_id)


def require_merchant(merchant_id: str) -> None:
    if not ids.plausible(merchant_id, "mer") or merchant_repo.get_merchant(merchant_id) is None:
        raise NotFound(f"no merchant {merchant_id!r}", "merchant_id")


def get_profile(merchant_id: str) -> SettlementProfile:
    profile = store.get_profile(merchant_id) if ids.plausible(merchant_id, "mer") else None
    if profile is None:
        raise NotFound(f"merchant {merchant_id!r} has no settlement profile", "merchant_id")
    return profile
