"""Azure OpenAI: the OpenAI wire format at a deployment's address, with an ``api-key`` header or Entra ID.

Three ways to say where the deployment is (exactly one): BAML's ``resource_name`` plus
``deployment_id``; a ``base_url`` ending in ``/openai/deployments/NAME``; or the original
design's ``endpoint`` (``https://NAME.openai.azure.com``) with ``model`` as the deployment.
``api_version`` is sent as the ``api-version`` query parameter (default below).

Credentials, in this order: ``auth=`` (an :class:`~llmclient.AuthProvider`, or a token-provider
callable), ``azure_ad_token_provider=`` (a callable returning a bearer token, e.g. azure-identity's
``get_bearer_token_provider``), BAML's Entra ID options ``tenant_id`` / ``client_id`` /
``client_secret`` (:mod:`llmclient.auth.entra`), else ``api_key`` (default ``AZURE_OPENAI_API_KEY``)
in the ``api-key`` header. With Entra ID no ``api-key`` is sent, and none of its options is a body field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..auth.api_key import ApiKeyAuth
from ..auth.base import AuthProvider
from ..auth.entra import ENTRA_OPTIONS, TokenProviderAuth, entra_auth_from_options
from ..errors import ConfigError
from ..retry import RetryPolicy
from ..runtime import Runtime
from ..secrets import resolve, to_ref
from .base import LeafClient, given_options
from .openai import ADAPTER_OPTIONS, OpenAIAdapter

__all__ = ["AzureOpenAIAdapter", "AzureOpenAIClient", "DEFAULT_AZURE_API_VERSION"]

#: The latest generally-available Azure OpenAI data-plane version when this was written.
DEFAULT_AZURE_API_VERSION = "2024-10-21"

_AZURE_OPTIONS = ADAPTER_OPTIONS | ENTRA_OPTIONS | {"resource_name", "deployment_id", "endpoint", "api_version"}


class AzureOpenAIAdapter(OpenAIAdapter):
    """Chat Completions on an Azure OpenAI deployment."""

    adapter_options = _AZURE_OPTIONS

    def __init__(self, options: Mapping[str, Any]) -> None:
        forms = [bool(options.get("resource_name") or options.get("deployment_id")),
                 options.get("base_url") is not None, options.get("endpoint") is not None]
        if sum(forms) != 1:
            raise ConfigError("azure-openai needs exactly one of: resource_name + deployment_id, base_url, "
                              "or endpoint (with model as the deployment)")
        if forms[0] and not (options.get("resource_name") and options.get("deployment_id")):
            raise ConfigError("azure-openai: resource_name and deployment_id go together")
        if forms[2] and options.get("model") is None:
            raise ConfigError("azure-openai: with endpoint, give model (the deployment name)")
        super().__init__("azure-openai", {**options, "base_url": options.get("base_url", "")})
        self.base_url = to_ref(options.get("base_url"))
        self.resource_name = to_ref(options.get("resource_name"))
        self.deployment_id = to_ref(options.get("deployment_id"))
        self.endpoint = to_ref(options.get("endpoint"))
        self.model = to_ref(options.get("model"))
        self.api_version = to_ref(options.get("api_version", DEFAULT_AZURE_API_VERSION))

    def url(self, *, stream: bool = False) -> str:
        if self.base_url is not None:
            base = str(resolve(self.base_url, what="base_url")).rstrip("/")
        elif self.endpoint is not None:
            endpoint = str(resolve(self.endpoint, what="endpoint")).rstrip("/")
            base = f"{endpoint}/openai/deployments/{resolve(self.model, what='model (the deployment)')}"
        else:
            resource = resolve(self.resource_name, what="resource_name")
            deployment = resolve(self.deployment_id, what="deployment_id")
            base = f"https://{resource}.openai.azure.com/openai/deployments/{deployment}"
        version = str(resolve(self.api_version, what="api_version"))
        return base + "/chat/completions" + self.query_string({"api-version": version})


class AzureOpenAIClient(LeafClient):
    """A client for an Azure OpenAI deployment (provider ``azure-openai``, alias ``openai/azure``).

    Example::

        client = llmclient.AzureOpenAIClient(resource_name="my-res", deployment_id="gpt4o",
                                             api_key=llmclient.env("AZURE_OPENAI_API_KEY"))
        entra = llmclient.AzureOpenAIClient(resource_name="my-res", deployment_id="gpt4o",
                                            tenant_id=llmclient.env("AZURE_TENANT_ID"),
                                            client_id=llmclient.env("AZURE_CLIENT_ID"),
                                            client_secret=llmclient.env("AZURE_CLIENT_SECRET"))

    The key goes in the ``api-key`` header (default variable ``AZURE_OPENAI_API_KEY``). With
    ``tenant_id``/``client_id``/``client_secret`` (BAML's Entra ID options), or
    ``azure_ad_token_provider`` (a zero-argument callable returning a token), a bearer token is
    sent instead; ``auth=`` replaces either with your own :class:`AuthProvider` (or such a callable).

    Raises:
        ConfigError: ``api_key`` together with Entra ID options or a token provider.
    """

    def __init__(self, *, name: str | None = None, retry_policy: RetryPolicy | None = None,
                 runtime: Runtime | None = None, auth: AuthProvider | Callable[[], str] | None = None,
                 azure_ad_token_provider: Callable[[], str] | None = None, **options: Any) -> None:
        name = name or "azure-openai"
        opts = given_options(options, _AZURE_OPTIONS)
        if auth is not None and not isinstance(auth, AuthProvider):
            auth = TokenProviderAuth(auth)
        if azure_ad_token_provider is not None:
            if opts.get("api_key") is not None or opts.get("tenant_id") is not None or opts.get("client_id"):
                raise ConfigError(f"client {name!r}: give azure_ad_token_provider, api_key or Entra ID options "
                                  "(tenant_id, client_id, client_secret), only one of them")
            token_auth: AuthProvider | None = TokenProviderAuth(azure_ad_token_provider)
        else:
            token_auth = entra_auth_from_options(opts, lambda: self.runtime.transport, client_name=name)
        default_auth = token_auth or ApiKeyAuth(opts.get("api_key"), header="api-key", prefix="",
                                                default_env="AZURE_OPENAI_API_KEY", client_name=name)
        super().__init__(AzureOpenAIAdapter(opts), name=name, options=opts,
                         auth=auth or default_auth, runtime=runtime, retry_policy=retry_policy)
