"""AuthProvider: the one interface that puts credentials on an outgoing request.

Built-in schemes (API keys, Google service accounts, AWS SigV4) implement it, and so can
you: pass ``auth=YourAuth()`` to any client to replace its built-in auth, e.g. for a
corporate gateway token or an Azure Entra ID token provider::

    class GatewayToken(llmclient.AuthProvider):
        def __init__(self, fetch):
            self.fetch = fetch                 # returns a fresh token string
            self.token = None

        def apply(self, request):
            self.token = self.token or self.fetch()
            return request.with_headers({"Authorization": f"Bearer {self.token}"}, secrets=[self.token])

        def refresh(self):
            self.token = None                  # called after a 401: fetch again, retry once
            return True
"""

from __future__ import annotations

from ..models import HttpRequest

__all__ = ["AuthProvider"]


class AuthProvider:
    """Adds credentials to a request just before it is sent (and before each retry).

    ``apply`` must return a new request (``request.with_headers(..., secrets=[...])``),
    naming in ``secrets`` every credential value it adds so that anything echoing it
    back is redacted. It is called from many threads at once: keep it thread-safe.
    """

    def apply(self, request: HttpRequest) -> HttpRequest:
        """Return ``request`` with credentials added."""
        raise NotImplementedError

    def refresh(self) -> bool:
        """Called after a 401. Return True to have the request signed again and retried once."""
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
