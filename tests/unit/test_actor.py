"""The request actor (shared/actor.py): set per request, gone after it."""

from __future__ import annotations

import threading

import pytest

from shared import actor
from shared.actor import Actor, acting


def test_labels_name_the_kind_and_who() -> None:
    assert Actor("admin", "sub-1", name="ann").label == "admin:ann"
    assert Actor("admin", "sub-1").label == "admin:sub-1"
    assert Actor("api_key", "ak_1", merchant_id="mer_1").label == "api_key:ak_1"
    assert actor.system("settlement").label == "system:settlement"


def test_outside_any_request_the_service_acts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "expirer")
    assert actor.current() == actor.system("expirer")
    assert (actor.request_id(), actor.source_ip()) == ("", "")


def test_acting_sets_and_restores_even_on_error() -> None:
    ann = Actor("admin", "sub-ann", name="ann", roles=("admin",))
    before = actor.current()
    with pytest.raises(RuntimeError), acting(ann, "req-1", "203.0.113.9"):
        assert (actor.current(), actor.request_id(), actor.source_ip()) == (
            ann,
            "req-1",
            "203.0.113.9",
        )
        raise RuntimeError("the route failed")
    assert actor.current() == before


def test_a_thread_does_not_see_another_threads_actor() -> None:
    seen: list[Actor] = []
    with acting(Actor("admin", "sub-ann", name="ann")):
        worker = threading.Thread(target=lambda: seen.append(actor.current()))
        worker.start()
        worker.join()
    assert seen[0].kind == "system"
