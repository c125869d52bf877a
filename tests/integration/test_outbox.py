"""Events and the transactional outbox: every status change writes an event in the same
transaction; if SQS refuses, the event waits in the outbox until ``relay`` hands it over."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from shared import config, ids
from shared.events import outbox
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    create_endpoint,
    create_payment,
    delete_messages,
    events_of_payment,
    get_payment,
    merchant_call,
    outbox_ids,
    receive_for,
)

UNREACHABLE_HOOK = "http://127.0.0.1:9/hook"  # never called: these tests stop at the queue


@pytest.fixture
def sqs_down(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the webhook queue URL at a queue that does not exist, then restore it."""
    real = config.aws().webhook_queue_url
    monkeypatch.setenv("BSCPAY_WEBHOOK_QUEUE_URL", real.rsplit("/", 1)[0] + "/no-such-queue")
    config.reset()
    yield
    monkeypatch.setenv("BSCPAY_WEBHOOK_QUEUE_URL", real)
    config.reset()


def test_status_change_is_committed_and_kept_in_the_outbox_when_sqs_fails(
    stack: LocalStack, merchant: MerchantCreds, sqs_down: None
) -> None:
    # Given a merchant subscribed to cancellations, and SQS unreachable
    create_endpoint(merchant, UNREACHABLE_HOOK, ["payment.canceled"])
    payment = create_payment(merchant, "4")

    # When the payment is canceled
    reply = merchant_call(merchant, "POST", f"/v1/payments/{payment['id']}/cancel")

    # Then the merchant still gets its answer, the change is stored, and the event
    # waits in the outbox instead of being lost
    assert reply.status == 200, reply.body
    assert get_payment(merchant, payment["id"])["status"] == "canceled"
    [event] = events_of_payment(merchant.merchant_id, payment["id"])
    assert event.type == "payment.canceled"
    assert event.event_id in outbox_ids()


def test_relay_enqueues_what_sqs_refused_earlier(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an event whose publication failed
    endpoint = create_endpoint(merchant, UNREACHABLE_HOOK, ["payment.canceled"])
    payment = create_payment(merchant, "4")

    def sqs_refuses(event: object) -> None:
        raise RuntimeError("SQS is unavailable")

    monkeypatch.setattr(outbox, "_enqueue", sqs_refuses)
    assert merchant_call(merchant, "POST", f"/v1/payments/{payment['id']}/cancel").status == 200
    [event] = events_of_payment(merchant.merchant_id, payment["id"])
    monkeypatch.undo()

    # When the relay runs right away, Then it leaves the young event to its writer
    outbox.relay()
    assert event.event_id in outbox_ids()

    # When the relay runs after the grace period (the expirer does, every minute)
    relayed = outbox.relay(now=ids.now() + outbox.RELAY_GRACE_S + 1)

    # Then the event is handed to the webhook queue once and leaves the outbox
    assert relayed >= 1
    assert event.event_id not in outbox_ids()
    messages = receive_for(endpoint["id"])
    assert [json.loads(m["Body"]) for m in messages] == [
        {"event_id": event.event_id, "endpoint_id": endpoint["id"]}
    ]
    delete_messages(messages)


def test_event_for_a_merchant_without_endpoints_leaves_the_outbox_at_once(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    payment = create_payment(merchant, "1")
    merchant_call(merchant, "POST", f"/v1/payments/{payment['id']}/cancel")

    [event] = events_of_payment(merchant.merchant_id, payment["id"])
    assert event.event_id not in outbox_ids()


def test_only_subscribed_event_types_are_enqueued(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given one endpoint for payment.paid and one for payment.canceled
    paid_only = create_endpoint(merchant, UNREACHABLE_HOOK, ["payment.paid"])
    cancel_only = create_endpoint(merchant, UNREACHABLE_HOOK, ["payment.canceled"])

    # When a payment is canceled
    payment = create_payment(merchant, "1")
    merchant_call(merchant, "POST", f"/v1/payments/{payment['id']}/cancel")

    # Then only the cancellation endpoint gets a message
    got = receive_for(cancel_only["id"])
    assert len(got) == 1
    assert receive_for(paid_only["id"], timeout_s=1.5) == []
    delete_messages(got)


def test_the_outbox_index_is_spread_over_partitions_and_old_entries_still_relay(
    stack: LocalStack, merchant: MerchantCreds, sqs_down: None
) -> None:
    """issue 16 §2: events go to one of eight outbox partitions, not all to "pending";
    an event an older release left under "pending" is still found and relayed."""
    from shared.dal import events as event_repo
    from shared.dal import models as m

    create_endpoint(merchant, UNREACHABLE_HOOK, ["payment.canceled"])
    made = [create_payment(merchant, "1") for _ in range(12)]
    for p in made:
        merchant_call(merchant, "POST", f"/v1/payments/{p['id']}/cancel")
    partitions = {
        m.EventModel.get(e.event_id).outbox
        for p in made
        for e in events_of_payment(merchant.merchant_id, p["id"])
    }
    assert partitions <= {f"pending#{n}" for n in range(event_repo.OUTBOX_SHARDS)}
    assert len(partitions) > 1
    # An event written by an older release, under the single partition
    [legacy] = events_of_payment(merchant.merchant_id, made[0]["id"])
    m.EventModel(legacy.event_id).update(actions=[m.EventModel.outbox.set("pending")])
    assert legacy.event_id in outbox_ids()
