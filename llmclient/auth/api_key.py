"""API-key auth: a key (or an env reference to one) sent in a header, read on every request."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..models import HttpRequest
from ..secrets import EnvRef, resolve_optional, to_ref
from .base import AuthProvider

__all__ = ["ApiKeyAuth"]


class ApiKeyAuth(AuthProvider):
    """Puts ``prefix + key`` in ``header``, unless the request already has that header.

    A header the user set in the client's ``headers`` option wins over the key.

    Args:
        key: The key, an :class:`EnvRef`, ``{"env": NAME}``, or None to use ``default_env``.
        header: Where the key goes (``Authorization``, ``api-key``, ``x-api-key``...).
        prefix: Put before the key (``"Bearer "`` for Authorization).
        default_env: The variable read when ``key`` is None (``OPENAI_API_KEY``...).
        required: Whether a missing key is an error (False for servers without auth).
        client_name: For the error message.
    """

    def __init__(self, key: Any, *, header: str = "Authorization", prefix: str = "Bearer ",
                 default_env: str | None = None, required: bool = True, client_name: str = "") -> None:
        ref = to_ref(key)
        if ref is None and default_env:
            ref = EnvRef(default_env)
        self._key = ref
        self.header = header
        self.prefix = prefix
        self.required = required
        self._client_name = client_name
        self._lower = header.lower()

    def apply(self, request: HttpRequest) -> HttpRequest:
        for name in request.headers:
            if name.lower() == self._lower:
                return request
        key = resolve_optional(self._key)
        if not key:
            if not self.required:
                return request
            where = f"client {self._client_name!r}" if self._client_name else "this client"
            if isinstance(self._key, EnvRef):
                raise ConfigError(f"no API key for {where}: environment variable {self._key.name} is not set "
                                  "(set it, or give options.api_key)")
            raise ConfigError(f"no API key for {where}: give options.api_key")
        return request.with_headers({self.header: self.prefix + key}, secrets=(key,))

    def __repr__(self) -> str:
        source = repr(self._key) if isinstance(self._key, EnvRef) else ("<key>" if self._key else "none")
        return f"<ApiKeyAuth header={self.header!r} key={source}>"
