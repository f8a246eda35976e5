"""The HTTP API and the integration pages (keys, webhooks)."""
