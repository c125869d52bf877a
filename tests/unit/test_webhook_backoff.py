"""Webhook retry backoff: the visibility delay the dispatcher sets on a failed delivery."""

from __future__ import annotations

from itertools import pairwise

import pytest

from shared.webhooks.delivery import BASE_DELAY_S, retry_delay

SQS_MAX_VISIBILITY_S = 12 * 3600  # ChangeMessageVisibility refuses anything longer


@pytest.mark.parametrize("receive_count", range(1, 21))
def test_retry_delay_never_exceeds_what_sqs_accepts(receive_count: int) -> None:
    # Given any attempt number (the queue allows 15 receives before the DLQ)
    # When the delay is drawn many times (it has jitter)
    delays = [retry_delay(receive_count) for _ in range(300)]

    # Then SQS would accept every one of them
    assert all(0 < d <= SQS_MAX_VISIBILITY_S for d in delays), max(delays)


def test_first_retry_waits_about_thirty_seconds_with_jitter() -> None:
    delays = {retry_delay(1) for _ in range(300)}
    assert min(delays) >= BASE_DELAY_S * 0.8
    assert max(delays) <= BASE_DELAY_S * 1.2
    assert len(delays) > 1  # jittered, so receivers are not hit in lockstep


def test_delay_doubles_per_attempt_until_the_cap() -> None:
    # Given attempts 1..6, When the jitter-free midpoint is compared, Then it doubles
    averages = [sum(retry_delay(n) for _ in range(400)) / 400 for n in range(1, 7)]
    for earlier, later in pairwise(averages):
        assert 1.6 < later / earlier < 2.4
