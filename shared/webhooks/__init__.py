"""Webhook endpoints, signatures and delivery."""
