"""Payouts, refunds and cold moves: money leaving the hot wallet (docs/adr/0013)."""
