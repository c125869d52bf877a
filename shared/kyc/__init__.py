"""Merchant KYC status (docs/adr/0021)."""
