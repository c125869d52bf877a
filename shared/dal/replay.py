"""Signatures already accepted for a state-changing merchant request (replay refusal).

One item per accepted signature, kept in the idempotency table under a key of its own
("sig#<sha256>", never a "<merchant id>#<Idempotency-Key>" record key). The item only
has to outlive the signature's timestamp window: after that the timestamp check alone
refuses the request, so DynamoDB's TTL may delete it whenever it gets to it.
"""

from __future__ import annotations

import hashlib

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from shared.dal._base import Binder, is_condition_failure

KEY_PREFIX = "sig#"


class SignatureModel(Model):
    """An accepted request signature (an item of the ``idempotency`` table)."""

    class Meta:
        table_name = "unbound"
        region = "us-east-1"
        logical = "idempotency"

    idempotency_key = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute()
    expires_at_ttl = NumberAttribute()


_bind = Binder((SignatureModel,))


def record_key(key_id: str, signature: str) -> str:
    # Hex is case-insensitive for the signature check, so it is for this key as well:
    # the same signature in upper case is the same request.
    digest = hashlib.sha256(f"{key_id}\n{signature.lower()}".encode()).hexdigest()
    return KEY_PREFIX + digest


def first_use(key_id: str, signature: str, now: int, expires_at: int) -> bool:
    """Record the signature as used; False when it was recorded before (a replay)."""
    _bind()
    item = SignatureModel(record_key(key_id, signature), created_at=now, expires_at_ttl=expires_at)
    try:
        item.save(condition=SignatureModel.idempotency_key.does_not_exist())
    except PutError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def forget(key_id: str, signature: str) -> None:
    """Remove a recorded use: the work it guarded failed and may be done again (the
    daily digest whose publication failed)."""
    _bind()
    SignatureModel(record_key(key_id, signature)).delete()
