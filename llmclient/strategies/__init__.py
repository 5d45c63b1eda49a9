"""Composite clients over the Client contract: fallback, round-robin, and the pool that drives them."""
