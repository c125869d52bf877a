"""pynamodb models of the main tables (one class per table, with its indexes). Table
names, region and endpoint are bound from configuration at first use
(``shared.dal._base.bind``), because they differ per deployment and in the local stack.
About 400 lines of declarations only; the repositories beside it map them to domain
models."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pynamodb.attributes import (
    Attribute,
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.constants import NUMBER
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
)
from pynamodb.models import Model


class _Base(Model):
    class Meta:
        table_name = "unbound"
        region = "us-east-1"


class MerchantsByCreated(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_created"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class MerchantModel(_Base):
    class Meta(_Base.Meta):
        logical = "merchants"

    merchant_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="merchant")
    name = UnicodeAttribute()
    created_at = NumberAttribute()
    status = UnicodeAttribute(default="active")
    status_reason = UnicodeAttribute(null=True)
    status_changed_at = NumberAttribute(null=True)
    underpay_tolerance_bps = NumberAttribute(default=0)
    rate_limit_per_minute = NumberAttribute(null=True)  # absent: the deployment default
    price_spread_bps = NumberAttribute(null=True)  # absent: 0
    kyc_status = UnicodeAttribute(null=True)  # absent: pending
    kyc_reason = UnicodeAttribute(null=True)
    kyc_changed_at = NumberAttribute(null=True)
    kyc_source = UnicodeAttribute(null=True)
    by_created = MerchantsByCreated()


class ApiKeysByMerchant(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_merchant"
        projection = AllProjection()

    merchant_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class ApiKeyModel(_Base):
    class Meta(_Base.Meta):
        logical = "api_keys"

    key_id = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    created_at = NumberAttribute()
    status = UnicodeAttribute(default="active")
    secret_ciphertext = UnicodeAttribute()
    ip_allowlist = ListAttribute(of=UnicodeAttribute, default=list)
    revoked_at = NumberAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    approved_by = UnicodeAttribute(null=True)
    by_merchant = ApiKeysByMerchant()


class PaymentsByMerchant(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_merchant"
        projection = IncludeProjection(["status"])

    merchant_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class PaymentsByDay(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_day"
        projection = KeysOnlyProjection()

    created_day = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class PaymentsOpenByExpiry(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "open_by_expiry"
        projection = KeysOnlyProjection()

    open = UnicodeAttribute(hash_key=True)
    expires_at = NumberAttribute(range_key=True)


class PaymentModel(_Base):
    class Meta(_Base.Meta):
        logical = "payments"

    payment_id = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    status = UnicodeAttribute()
    amount = NumberAttribute()
    amount_received = NumberAttribute(default=0)
    amount_pending = NumberAttribute(default=0)
    currency = UnicodeAttribute(default="USDT")
    chain_id = NumberAttribute()
    token_address = UnicodeAttribute()
    address = UnicodeAttribute()
    derivation_index = NumberAttribute()
    order_id = UnicodeAttribute(null=True)
    metadata_json = UnicodeAttribute(default="{}")
    created_at = NumberAttribute()
    created_key = UnicodeAttribute()
    created_day = UnicodeAttribute()
    expires_at = NumberAttribute()
    tolerance = NumberAttribute(default=0)
    paid_at = NumberAttribute(null=True)
    success_url = UnicodeAttribute(null=True)  # the hosted checkout's redirects
    cancel_url = UnicodeAttribute(null=True)
    quote_json = UnicodeAttribute(null=True)  # a fiat-priced payment's quote (issue 14)
    open = UnicodeAttribute(null=True)  # "open" while the expirer must watch it (sparse GSI)
    version = NumberAttribute(default=0)
    event_seq = NumberAttribute(default=0)
    by_merchant = PaymentsByMerchant()
    by_day = PaymentsByDay()
    open_by_expiry = PaymentsOpenByExpiry()


class AddressesSweepDue(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "sweep_due_by_amount"
        projection = AllProjection()

    sweep_due = UnicodeAttribute(hash_key=True)
    sweep_amount = NumberAttribute(range_key=True)


class AddressModel(_Base):
    class Meta(_Base.Meta):
        logical = "addresses"

    address = UnicodeAttribute(hash_key=True)  # lower-case hex
    payment_id = UnicodeAttribute()
    merchant_id = UnicodeAttribute()
    derivation_index = NumberAttribute()
    created_at = NumberAttribute()
    active = BooleanAttribute(default=True)
    # "due" while final funds wait to be swept (sparse index); the units credited since.
    sweep_due = UnicodeAttribute(null=True)
    sweep_amount = NumberAttribute(null=True)
    # Sweeps already subtracted from sweep_amount: a redelivered sweep subtracts nothing.
    swept_by = UnicodeSetAttribute(null=True)

    by_sweep_due = AddressesSweepDue()


class ExactIntAttribute(Attribute[int]):
    """An exact integer (wei, token base units, nonces). pynamodb's NumberAttribute
    decodes through JSON, which turns a number rendered with an exponent into a float.
    (The same as ``ledger_models.IntegerAttribute``, which imports this module.)"""

    attr_type = NUMBER

    def serialize(self, value: int) -> str:
        return str(int(value))

    def deserialize(self, value: str) -> int:
        return int(Decimal(value))


class AttemptAttribute(MapAttribute[str, Any]):
    """One signed transaction for an outgoing transfer's nonce (the first one, a
    gas-bumped replacement, or a 0-value cancellation)."""

    tx_hash = UnicodeAttribute()
    raw_tx = UnicodeAttribute()
    gas_price_wei = ExactIntAttribute()
    kind = UnicodeAttribute(default="transfer")  # transfer | cancel
    # SIGNED | BROADCAST | CONFIRMED | FAILED (mined, reverted) | REPLACED | REFUSED
    state = UnicodeAttribute()
    signed_at_ms = ExactIntAttribute()
    error = UnicodeAttribute(null=True)


class OutgoingOpenByUpdated(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "open_by_updated"
        projection = AllProjection()

    open = UnicodeAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


class OutgoingModel(_Base):
    """An outgoing transaction group (a sweep) or one hot-wallet token transfer
    (``shared.settlement.outbound``), and its broadcast state."""

    class Meta(_Base.Meta):
        logical = "outgoing"

    tx_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    # sweeps: PENDING | BROADCAST | CONFIRMED | FAILED
    # transfers: PENDING | SIGNED | BROADCAST | CONFIRMED | FAILED
    state = UnicodeAttribute()
    payload_json = UnicodeAttribute()
    tx_hashes = ListAttribute(of=UnicodeAttribute, default=list)  # sweeps
    raw_txs = ListAttribute(of=UnicodeAttribute, default=list)  # sweeps
    amount = ExactIntAttribute(null=True)
    fee_wei = ExactIntAttribute(null=True)
    error = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    # transfers: the sending wallet, its nonce, every attempt at that nonce, the
    # winning (or latest) hash; every transition is conditioned on `version`.
    wallet = UnicodeAttribute(null=True)
    nonce = ExactIntAttribute(null=True)
    gas_limit = ExactIntAttribute(null=True)
    tx_hash = UnicodeAttribute(null=True)
    attempts = ListAttribute(of=AttemptAttribute, default=list)
    version = ExactIntAttribute(default=0)
    # Sparse: the record's kind while it is not CONFIRMED/FAILED (removed with the final
    # state), so open sweeps can be found and resumed (shared.settlement.planner).
    open = UnicodeAttribute(null=True)
    open_by_updated = OutgoingOpenByUpdated()
    # transfers: the nonce was seen used on chain while no attempt had a receipt
    # (ADR 0012 "Nonce used, no receipt of ours"): first sighting (ms, head block),
    # when the grace alert went out, and the next block the inclusion scan looks at.
    nonce_used_seen_ms = ExactIntAttribute(null=True)
    nonce_used_seen_block = ExactIntAttribute(null=True)
    nonce_used_alerted = ExactIntAttribute(null=True)
    nonce_scan_next = ExactIntAttribute(null=True)


class TransfersByPayment(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_payment"
        projection = AllProjection()

    payment_id = UnicodeAttribute(hash_key=True)
    block_number = NumberAttribute(range_key=True)


class TransfersUnfinal(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "unfinal_by_block"
        projection = AllProjection()

    unfinal = UnicodeAttribute(hash_key=True)
    block_number = NumberAttribute(range_key=True)


class TransfersByMerchant(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_merchant"
        projection = KeysOnlyProjection()

    merchant_id = UnicodeAttribute(hash_key=True)
    seen_at = NumberAttribute(range_key=True)


class TransferModel(_Base):
    class Meta(_Base.Meta):
        logical = "transfers"

    transfer_id = UnicodeAttribute(hash_key=True)  # "{chain_id}:{tx_hash}:{log_index}"
    chain_id = NumberAttribute()
    tx_hash = UnicodeAttribute()
    log_index = NumberAttribute()
    block_number = NumberAttribute()
    block_hash = UnicodeAttribute()
    from_address = UnicodeAttribute()
    to_address = UnicodeAttribute()
    amount = NumberAttribute()
    payment_id = UnicodeAttribute()
    merchant_id = UnicodeAttribute()
    status = UnicodeAttribute(default="pending")
    unfinal = UnicodeAttribute(null=True)  # "unfinal" until final or reversed (sparse GSI)
    seen_at = NumberAttribute(default=0)
    late = BooleanAttribute(null=True)  # final after the payment had settled
    # AML screening (docs/adr/0020), set when the transfer became final
    risk_level = UnicodeAttribute(null=True)
    risk_source = UnicodeAttribute(null=True)
    flagged_by = UnicodeAttribute(null=True)
    hold = UnicodeAttribute(null=True)  # held | released | returning | returned
    held_from = UnicodeAttribute(null=True)
    returned_in = UnicodeAttribute(null=True)
    currency = UnicodeAttribute(null=True)  # absent: USDT (issue 14 §3)
    by_payment = TransfersByPayment()
    unfinal_by_block = TransfersUnfinal()
    by_merchant = TransfersByMerchant()


class EventsByMerchant(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_merchant"
        projection = IncludeProjection(["type"])

    merchant_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class EventsByPayment(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_payment"
        projection = IncludeProjection(["merchant_id", "type"])

    payment_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class EventsOutbox(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "outbox"
        projection = KeysOnlyProjection()

    outbox = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class EventModel(_Base):
    class Meta(_Base.Meta):
        logical = "events"

    event_id = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    payment_id = UnicodeAttribute(null=True)
    type = UnicodeAttribute()
    created = NumberAttribute()
    created_key = UnicodeAttribute()
    seq = NumberAttribute(default=0)
    # The webhook body, exact: as text, or deflated when longer (docs/adr/0041)
    payload_json = UnicodeAttribute(null=True)
    payload_z = BinaryAttribute(null=True, legacy_encoding=False)
    # "pending#<shard>" until handed to the webhook queue (shared.dal.events.outbox_shard)
    outbox = UnicodeAttribute(null=True)
    expires_at_ttl = NumberAttribute()
    by_merchant = EventsByMerchant()
    by_payment = EventsByPayment()
    outbox_index = EventsOutbox()


class EndpointsByMerchant(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_merchant"
        projection = AllProjection()

    merchant_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class WebhookEndpointModel(_Base):
    class Meta(_Base.Meta):
        logical = "webhook_endpoints"

    endpoint_id = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    url = UnicodeAttribute()
    events = ListAttribute(of=UnicodeAttribute)
    created_at = NumberAttribute()
    status = UnicodeAttribute(default="enabled")
    secret_ciphertext = UnicodeAttribute()
    # During a rotation the old secret keeps signing (a second v1) until it expires.
    previous_secret_ciphertext = UnicodeAttribute(null=True)
    previous_secret_expires_at = NumberAttribute(null=True)
    failing_since = NumberAttribute(null=True)
    by_merchant = EndpointsByMerchant()


class DeliveriesByEvent(GlobalSecondaryIndex[Any]):
    """An event's attempts across endpoints, oldest first (a payment's detail page)."""

    class Meta:
        index_name = "by_event"
        projection = AllProjection()

    event_id = UnicodeAttribute(hash_key=True)
    attempt_key = UnicodeAttribute(range_key=True)


class DeliveryModel(_Base):
    """One webhook delivery attempt."""

    class Meta(_Base.Meta):
        logical = "deliveries"

    endpoint_id = UnicodeAttribute(hash_key=True)
    attempt_key = UnicodeAttribute(range_key=True)  # "{ms:013d}#{delivery_id}"
    delivery_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    attempt = NumberAttribute()
    created = NumberAttribute()
    status_code = NumberAttribute(null=True)
    latency_ms = NumberAttribute()
    error = UnicodeAttribute(null=True)
    response_excerpt = UnicodeAttribute(null=True)
    expires_at_ttl = NumberAttribute()

    by_event = DeliveriesByEvent()


class IdempotencyModel(_Base):
    class Meta(_Base.Meta):
        logical = "idempotency"

    idempotency_key = UnicodeAttribute(hash_key=True)
    request_hash = UnicodeAttribute()
    state = UnicodeAttribute(default="in_progress")  # in_progress | done
    response_status = NumberAttribute(null=True)
    response_body = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    expires_at_ttl = NumberAttribute()


class SystemModel(_Base):
    """Singletons: counters, the scanner cursor and lease, custody material."""

    class Meta(_Base.Meta):
        logical = "system"

    name = UnicodeAttribute(hash_key=True)
    counter = NumberAttribute(null=True)
    block = NumberAttribute(null=True)
    # The scanner cursor: the last finalized block it saw (read by the checkout status)
    finalized = NumberAttribute(null=True)
    lease_owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)
    data_json = UnicodeAttribute(null=True)
    queue = ListAttribute(of=UnicodeAttribute, null=True)
    updated_at = NumberAttribute(null=True)
    # ADMIN_SIGN_OUTS: username -> unix time of that admin's last sign-out
    signed_out = MapAttribute(null=True)  # type: ignore[var-annotated]


class CustomersByMerchant(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_merchant"
        projection = AllProjection()

    merchant_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class CustomerModel(_Base):
    """A customer's permanent deposit address (issue 14 §2); also the reference items
    (``ref#…``: only ``customer_id`` and ``points_to``) that keep references unique."""

    class Meta(_Base.Meta):
        logical = "customers"

    customer_id = UnicodeAttribute(hash_key=True)
    points_to = UnicodeAttribute(null=True)  # a reference item: the customer it names
    merchant_id = UnicodeAttribute(null=True)
    reference = UnicodeAttribute(null=True)
    currency = UnicodeAttribute(null=True)
    address = UnicodeAttribute(null=True)
    derivation_index = NumberAttribute(null=True)
    created_at = NumberAttribute(null=True)
    created_key = UnicodeAttribute(null=True)
    by_merchant = CustomersByMerchant()


ALL_MODELS: tuple[type[_Base], ...] = (
    CustomerModel,
    MerchantModel,
    ApiKeyModel,
    PaymentModel,
    AddressModel,
    OutgoingModel,
    TransferModel,
    EventModel,
    WebhookEndpointModel,
    DeliveryModel,
    IdempotencyModel,
    SystemModel,
)
