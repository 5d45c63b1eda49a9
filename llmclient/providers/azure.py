"""Azure OpenAI: the OpenAI wire format at a deployment's address, with an ``api-key`` header.

Three ways to say where the deployment is (exactly one): BAML's ``resource_name`` plus
``deployment_id``; a ``base_url`` ending in ``/openai/deployments/NAME``; or the original
design's ``endpoint`` (``https://NAME.openai.azure.com``) with ``model`` as the deployment.
``api_version`` is sent as the ``api-version`` query parameter (default below).
"""

from __future__ import annotations

from typing import Any, Mapping

from ..auth.api_key import ApiKeyAuth
from ..auth.base import AuthProvider
from ..errors import ConfigError
from ..retry import RetryPolicy
from ..runtime import Runtime
from ..secrets import resolve, to_ref
from .base import LeafClient, given_options
from .openai import ADAPTER_OPTIONS, OpenAIAdapter

__all__ = ["AzureOpenAIAdapter", "AzureOpenAIClient", "DEFAULT_AZURE_API_VERSION"]

#: The latest generally-available Azure OpenAI data-plane version when this was written.
DEFAULT_AZURE_API_VERSION = "2024-10-21"

_AZURE_OPTIONS = ADAPTER_OPTIONS | {"resource_name", "deployment_id", "endpoint", "api_version"}


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

    The key goes in the ``api-key`` header (default variable ``AZURE_OPENAI_API_KEY``); pass
    ``auth=`` (e.g. an Entra ID token provider) to send a bearer token instead.
    """

    def __init__(self, *, name: str | None = None, retry_policy: RetryPolicy | None = None,
                 runtime: Runtime | None = None, auth: AuthProvider | None = None, **options: Any) -> None:
        opts = given_options(options, _AZURE_OPTIONS)
        default_auth = ApiKeyAuth(opts.get("api_key"), header="api-key", prefix="",
                                  default_env="AZURE_OPENAI_API_KEY", client_name=name or "azure-openai")
        super().__init__(AzureOpenAIAdapter(opts), name=name or "azure-openai", options=opts,
                         auth=auth or default_auth, runtime=runtime, retry_policy=retry_policy)
