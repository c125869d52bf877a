"""pynamodb models of the ledger tables (``ledger_accounts``, ``ledger_entries``,
``ledger_journal`` in ``shared.resources``), bound from configuration like
``shared.dal.models``."""

from __future__ import annotations

from decimal import Decimal

from pynamodb.attributes import Attribute, UnicodeAttribute
from pynamodb.constants import NUMBER
from pynamodb.models import Model

from shared.dal._base import Binder


class IntegerAttribute(Attribute[int]):
    """An exact integer. pynamodb's NumberAttribute decodes through JSON, which turns a
    number DynamoDB (or moto) renders with an exponent into a float; base units with 18
    decimals need every digit."""

    attr_type = NUMBER

    def serialize(self, value: int) -> str:
        return str(int(value))

    def deserialize(self, value: str) -> int:
        return int(Decimal(value))


class _LedgerBase(Model):
    class Meta:
        table_name = "unbound"
        region = "us-east-1"


class LedgerAccountModel(_LedgerBase):
    """One balance item per account, updated in the transaction of every posting."""

    class Meta(_LedgerBase.Meta):
        logical = "ledger_accounts"

    account = UnicodeAttribute(hash_key=True)  # "USDT:merchant:mer_…:available"
    asset = UnicodeAttribute()
    name = UnicodeAttribute()
    normal = UnicodeAttribute()  # "D" | "C": the side that increases the balance
    balance = IntegerAttribute()  # normal-side balance, conditioned never to go below zero
    entry_count = IntegerAttribute()
    updated_ms = IntegerAttribute()


class LedgerEntryModel(_LedgerBase):
    class Meta(_LedgerBase.Meta):
        logical = "ledger_entries"

    account = UnicodeAttribute(hash_key=True)
    entry_key = UnicodeAttribute(range_key=True)  # "{created_ms:013d}#{journal_id}"
    journal_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    side = UnicodeAttribute()  # "D" | "C"
    amount = IntegerAttribute()
    delta = IntegerAttribute()  # signed effect on the account's balance
    created_ms = IntegerAttribute()


class LedgerJournalModel(_LedgerBase):
    """One item per posting; its id is the caller's idempotency key."""

    class Meta(_LedgerBase.Meta):
        logical = "ledger_journal"

    journal_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    created_ms = IntegerAttribute()
    fingerprint = UnicodeAttribute()
    legs_json = UnicodeAttribute()  # [[account_key, side, amount_str], ...]
    merchant_id = UnicodeAttribute(null=True)
    payout_json = UnicodeAttribute(null=True)  # reservation terms
    payout_state = UnicodeAttribute(null=True)  # reserved → settled | cancelled
    closes_payout = UnicodeAttribute(null=True)


LEDGER_MODELS: tuple[type[_LedgerBase], ...] = (
    LedgerAccountModel,
    LedgerEntryModel,
    LedgerJournalModel,
)

# Points the ledger models at this deployment's tables. Cheap after the first call.
bind = Binder(LEDGER_MODELS)
