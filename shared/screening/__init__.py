"""AML screening of senders (docs/adr/0020): every source answers one question, "is
this address a risk?", behind one interface; :func:`screen` asks them in order.

Sources: the blocklist admins keep (``shared.screening.blocklist``) and an HTTP
provider (``shared.screening.provider``, only when configured). The scanner's final
transfers are screened *before* the payment's transaction (``shared.payments.service
.finalize_transfer``): screening does I/O, the money transaction does none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Risk levels, lowest first. "unknown": the provider could not answer and the
# deployment fails closed.
LEVELS = ("none", "low", "medium", "high", "severe", "unknown")


@dataclass(frozen=True)
class Verdict:
    flagged: bool  # True: the funds are held for review
    level: str  # one of LEVELS
    source: str  # "blocklist" | "provider" | "provider_unavailable" | "none"
    # Who flagged it (the blocklist entry's creator, "admin:<name>"): four eyes means
    # that person cannot release or return what their entry held.
    flagged_by: str | None = None


CLEAR = Verdict(flagged=False, level="none", source="none")


class Source(Protocol):
    def screen(self, address: str) -> Verdict | None:
        """A verdict about ``address`` (lower-case hex), or None: no opinion."""
        ...


def sources() -> list[Source]:
    from shared.screening import blocklist, provider

    found: list[Source] = [blocklist.BlocklistSource()]
    configured = provider.configured()
    if configured is not None:
        found.append(configured)
    return found


def screen(address: str) -> Verdict:
    """The first flagging verdict of the sources, in order; else the last opinion
    (the provider's "low", say), else CLEAR."""
    address = address.lower()
    opinion = CLEAR
    for source in sources():
        verdict = source.screen(address)
        if verdict is None:
            continue
        if verdict.flagged:
            return verdict
        opinion = verdict
    return opinion
