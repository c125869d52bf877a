"""Payments: amounts, the status state machine and the payment service."""
