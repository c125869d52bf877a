"""The scanner wakes on newHeads over WebSocket instead of sleeping a block interval."""

from __future__ import annotations

import time

from shared.chain.heads import HeadWatcher
from shared.local import chain
from shared.local.stack import LocalStack


def test_new_block_wakes_the_watcher_before_the_poll_interval(stack: LocalStack) -> None:
    # Given a watcher subscribed to anvil's newHeads with a long poll interval
    assert stack._anvil is not None
    watcher = HeadWatcher(stack._anvil.ws_url, poll_interval_s=60.0).start()
    try:
        deadline = time.monotonic() + 30
        while watcher.heads_seen == 0 and time.monotonic() < deadline:
            chain.mine(stack.info["rpc_url"])  # until the subscription is live
            time.sleep(0.1)
        assert watcher.heads_seen > 0

        # When a block is mined
        started = time.monotonic()
        chain.mine(stack.info["rpc_url"])
        watcher.wait()

        # Then the wait ends long before the 60 s poll interval
        assert time.monotonic() - started < 30
    finally:
        watcher.stop()


def test_without_a_websocket_url_the_watcher_polls_at_the_interval() -> None:
    watcher = HeadWatcher(None, poll_interval_s=0.2).start()
    started = time.monotonic()
    watcher.wait()
    # at the interval: not at once, and not never (generous bound for a busy machine)
    assert 0.15 <= time.monotonic() - started < 30
