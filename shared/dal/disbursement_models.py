"""pynamodb models of the ``disbursements`` and ``settlement_profiles`` tables
(``shared.resources``), bound from configuration like ``shared.dal.models``."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from shared.dal._base import Binder
from shared.dal.ledger_models import IntegerAttribute


class _Base(Model):
    class Meta:
        table_name = "unbound"
        region = "us-east-1"


class ByMerchantKind(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_merchant_kind"
        projection = AllProjection()

    merchant_kind = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ByPayment(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_payment"
        projection = AllProjection()

    payment_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ByStatus(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class DisbursementModel(_Base):
    class Meta(_Base.Meta):
        logical = "disbursements"

    disbursement_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(null=True)  # null on refund counter items
    status = UnicodeAttribute(null=True)
    merchant_id = UnicodeAttribute(null=True)
    merchant_kind = UnicodeAttribute(null=True)
    payment_id = UnicodeAttribute(null=True)
    destination = UnicodeAttribute(null=True)
    gross = IntegerAttribute(null=True)
    fee = IntegerAttribute(null=True)
    network_fee = IntegerAttribute(null=True)
    amount = IntegerAttribute(null=True)
    requested_by = UnicodeAttribute(null=True)
    address_set_by = UnicodeAttribute(null=True)
    requested_key = UnicodeAttribute(null=True)
    key_created_by = UnicodeAttribute(null=True)
    decided_by = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    tx_hash = UnicodeAttribute(null=True)
    gas_fee_wei = IntegerAttribute(null=True)
    currency = UnicodeAttribute(null=True)  # absent: USDT (issue 14 §3)
    created_at = NumberAttribute(null=True)
    created_key = UnicodeAttribute(null=True)
    updated_at = NumberAttribute(null=True)
    version = NumberAttribute(default=0)
    # On "refunded#<payment id>" counter items: base units refunded or reserved; on
    # "refund_volume#<merchant>#<day>" items: base units of refunds requested that day.
    refunded = IntegerAttribute(null=True)
    by_merchant_kind = ByMerchantKind()
    by_payment = ByPayment()
    by_status = ByStatus()


class Scheduled(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "scheduled"
        projection = AllProjection()

    scheduled = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute(range_key=True)


class SettlementProfileModel(_Base):
    class Meta(_Base.Meta):
        logical = "settlement_profiles"

    merchant_id = UnicodeAttribute(hash_key=True)
    address = UnicodeAttribute()
    schedule = UnicodeAttribute()
    scheduled = UnicodeAttribute(null=True)  # = schedule when automatic (sparse index)
    threshold = IntegerAttribute(null=True)
    fee_bps = NumberAttribute(null=True)
    fee_fixed = IntegerAttribute(null=True)
    address_changed_at = NumberAttribute(default=0)
    address_changed_by = UnicodeAttribute(default="")
    address_confirmed_by = UnicodeAttribute(null=True)  # the second admin; None: pending
    address_confirmed_at = NumberAttribute(null=True)
    updated_at = NumberAttribute()
    updated_by = UnicodeAttribute()
    scheduled_index = Scheduled()


MODELS: tuple[type[_Base], ...] = (DisbursementModel, SettlementProfileModel)
bind = Binder(MODELS)
