"""ApiKeyClient: the typed constructor of every provider whose built-in auth is an API key header.

OpenAI (and its family), Anthropic and Google AI take the same arguments (``model``,
``api_key``, ``base_url``, ``name``, ``retry_policy``, ``runtime``, ``auth``, other options)
and apply the same rules to them: :func:`~llmclient.providers.base.given_options` for
``None``, an :class:`~llmclient.auth.api_key.ApiKeyAuth` unless ``auth=`` replaces it. A
provider's client names where its key goes and which adapter it builds; the constructor is
written once, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..auth.api_key import ApiKeyAuth
from ..auth.base import AuthProvider
from ..retry import RetryPolicy
from ..runtime import Runtime
from .base import ADAPTER_OPTIONS, LeafClient, ProviderAdapter, given_options

__all__ = ["ApiKeyClient"]


class ApiKeyClient(LeafClient):
    """A leaf client whose built-in auth sends an API key in a header.

    Subclasses set :attr:`provider_name`, :attr:`adapter_options`, where the key goes
    (:attr:`key_header`, :attr:`key_prefix`, :attr:`key_env`) and :meth:`make_adapter`.

    Args:
        model: The model name.
        api_key: The key, or ``llmclient.env("NAME")``; default: the provider's variable.
        base_url: Another address speaking the same API.
        name: The client's name in errors and completions (default: the provider's name).
        retry_policy: Retries; none when omitted.
        runtime: Share pools with other clients.
        auth: Replace the API-key auth with your own :class:`~llmclient.auth.base.AuthProvider`.
        **options: Any other option (``headers``, ``http``, body fields such as ``temperature``...).
    """

    provider_name = ""
    #: The options the adapter reads itself (``None`` for one of them means "not given").
    adapter_options: frozenset[str] = ADAPTER_OPTIONS
    key_header = "Authorization"
    key_prefix = "Bearer "
    #: The variable the key is read from when ``api_key`` is not given.
    key_env: str | None = None

    def __init__(self, model: Any = None, *, api_key: Any = None, base_url: Any = None, name: str | None = None,
                 retry_policy: RetryPolicy | None = None, runtime: Runtime | None = None,
                 auth: AuthProvider | None = None, **options: Any) -> None:
        name = name or self.provider_name
        opts = given_options({"model": model, "api_key": api_key, "base_url": base_url, **options},
                             self.adapter_options)
        super().__init__(self.make_adapter(opts), name=name, options=opts,
                         auth=auth or self.default_auth(opts.get("api_key"), name), runtime=runtime,
                         retry_policy=retry_policy)

    def make_adapter(self, options: Mapping[str, Any]) -> ProviderAdapter:
        """Hook: the provider's adapter for these options."""
        raise NotImplementedError

    def default_auth(self, api_key: Any, name: str) -> AuthProvider:
        """The built-in auth: ``api_key`` (else :attr:`key_env`) in :attr:`key_header`."""
        return ApiKeyAuth(api_key, header=self.key_header, prefix=self.key_prefix, default_env=self.key_env,
                          client_name=name)
