"""Durable events: the public contract (schema), the broker, actors and webhook delivery."""
