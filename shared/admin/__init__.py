"""Admin console use cases (merchants, API keys, cross-merchant views)."""
