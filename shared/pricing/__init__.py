"""Fiat prices for payments (issue 14, docs/adr/0027): Chainlink-compatible feeds on the
chain (:mod:`.feeds`), a second, independent HTTP source (:mod:`.rates`) and the quote
that turns a fiat price into a token amount (:mod:`.quotes`)."""
