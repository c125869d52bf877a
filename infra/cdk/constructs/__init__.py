"""One construct per area: data, auth, functions, webhooks, chain, api, monitoring."""
