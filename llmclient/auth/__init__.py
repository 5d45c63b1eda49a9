"""Request signing: each provider's built-in auth, and the base class for your own."""

from .base import AuthProvider

__all__ = ["AuthProvider"]
