"""HTTP concerns shared by the API functions: error mapping, auth, idempotency."""
