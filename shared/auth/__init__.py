"""Merchant API authentication (HMAC-signed requests) and secret storage."""
