"""Vertex AI (provider ``vertex-ai``): Gemini and Claude models behind Google Cloud OAuth.

Only the addresses and the auth are Vertex's own; the bodies, answers, streams and errors
are the Gemini API's (reused from :mod:`llmclient.providers.google`) and, for
``claude-*`` models, the Anthropic Messages API's (reused from
:mod:`llmclient.providers.anthropic`, sent to ``:rawPredict`` / ``:streamRawPredict`` with
``anthropic_version: vertex-2023-10-16`` in the body and no ``model`` field).

Addresses: ``https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/
{location}/publishers/{google|anthropic}/models/{model}:{action}`` (``location`` ``global``
uses ``https://aiplatform.googleapis.com``). ``base_url`` replaces the scheme and host (or,
when it already contains ``/projects/``, everything before ``/{model}:{action}``, as in BAML).
The project comes from ``project_id``, the credentials file, or ``GOOGLE_CLOUD_PROJECT``, looked
up when the client is built (the adapters stay pure: building a request reads no file).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..auth.api_key import ApiKeyAuth
from ..auth.base import AuthProvider
from ..auth.google import GoogleAuth, GoogleCredentials, google_project
from ..errors import ConfigError
from ..models import ChatRequest
from ..retry import RetryPolicy
from ..runtime import Runtime
from ..secrets import resolve, to_ref
from .anthropic import AnthropicAdapter
from .base import LeafClient, ProviderAdapter, given_options
from .google import ADAPTER_OPTIONS as GEMINI_ADAPTER_OPTIONS
from .google import GeminiAdapter

__all__ = ["VertexLocation", "VertexGeminiAdapter", "VertexClaudeAdapter", "VertexAIClient", "VERTEX_OPTIONS",
           "VERTEX_ANTHROPIC_VERSION"]

PROVIDER = "vertex-ai"
VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"

#: Options about where and how to call Vertex; never body fields.
VERTEX_OPTIONS = frozenset({"location", "project_id", "credentials", "credentials_content", "authorization",
                            "publisher", "base_url", "api_key"})
#: Every option a Vertex client reads itself (the rest are body fields: ``None`` removes one).
VERTEX_ADAPTER_OPTIONS = GEMINI_ADAPTER_OPTIONS | VERTEX_OPTIONS


class VertexLocation:
    """Builds a model's Vertex URL from values settled when the client is built (pure).

    Args:
        options: The client's options (``location``, ``base_url``...).
        project: The project: the ``project_id`` option (an env reference is read per request),
            the one found when the client was built, or the ConfigError that lookup raised
            (raised again by every request, as a missing option would be).
    """

    def __init__(self, options: Mapping[str, Any], project: Any) -> None:
        self.location = to_ref(options.get("location"))
        self.base_url = to_ref(options.get("base_url"))
        self._project = project
        if self.location is None and self.base_url is None:
            raise ConfigError("provider vertex-ai needs options.location (e.g. us-central1 or global), "
                              "or a base_url")

    def project(self) -> str:
        """The project (no lookup here: see :func:`~llmclient.auth.google.google_project`)."""
        if isinstance(self._project, ConfigError):
            raise self._project.with_traceback(None)
        return str(resolve(self._project, what="option project_id"))

    def url(self, publisher: str, model: str, action: str) -> str:
        """The full URL of ``model``'s ``action`` (``generateContent``, ``rawPredict``...)."""
        tail = f"/{quote(model, safe='-._~@')}:{action}"
        base = str(resolve(self.base_url, what="base_url")).rstrip("/") if self.base_url is not None else None
        if base is not None and "/projects/" in base:
            return base + tail
        location = str(resolve(self.location, what="option location")) if self.location is not None else "global"
        if base is None:
            base = ("https://aiplatform.googleapis.com" if location == "global"
                    else f"https://{location}-aiplatform.googleapis.com")
        return (f"{base}/v1/projects/{quote(self.project(), safe='-._~')}/locations/{quote(location, safe='-._~')}"
                f"/publishers/{publisher}/models" + tail)


class VertexGeminiAdapter(GeminiAdapter):
    """Gemini bodies and streams (the Gemini API's own translation) at a Vertex address."""

    adapter_options = VERTEX_ADAPTER_OPTIONS

    def __init__(self, options: Mapping[str, Any], where: VertexLocation) -> None:
        super().__init__(PROVIDER, options)
        self.where = where

    @property
    def reasoning_source(self) -> str:
        """Gemini's signatures made on Vertex (not assumed valid on the Gemini API, or for Claude)."""
        return "vertex-ai:gemini"

    def url(self, *, stream: bool) -> str:
        action = "streamGenerateContent" if stream else "generateContent"
        return (self.where.url("google", self.model_name(), action)
                + self.query_string({"alt": "sse"} if stream else {}))

    def count_url(self) -> str:
        return self.where.url("google", self.model_name(), "countTokens") + self.query_string()

    def count_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """Vertex's CountTokensRequest: contents, system instruction, tools and config, top-level."""
        return {k: body[k] for k in ("contents", "systemInstruction", "tools", "generationConfig") if k in body}


class VertexClaudeAdapter(AnthropicAdapter):
    """Anthropic Messages bodies and streams at Vertex's ``rawPredict`` / ``streamRawPredict``."""

    #: No ``count_tokens`` here: Claude on Vertex counts at another route, not verified for llmclient.
    count_field = ""

    def __init__(self, options: Mapping[str, Any], where: VertexLocation) -> None:
        if options.get("model") is None:
            raise ConfigError("provider vertex-ai needs options.model (e.g. claude-3-5-sonnet-v2@20241022)")
        super().__init__({k: v for k, v in options.items() if k not in VERTEX_OPTIONS and k != "model"})
        self.provider = PROVIDER
        #: Claude's signatures made on Vertex (not assumed valid on Anthropic's API or Bedrock).
        self.reasoning_source = "vertex-ai:claude"
        self.model = to_ref(options["model"])
        self.where = where

    def url(self, *, stream: bool = False) -> str:
        action = "streamRawPredict" if stream else "rawPredict"
        return self.where.url("anthropic", str(resolve(self.model, what="model")), action) + self.query_string()

    def default_headers(self, *, stream: bool) -> dict[str, str]:
        """No ``anthropic-version`` header: Vertex takes the version in the body."""
        return ProviderAdapter.default_headers(self, stream=stream)

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().body(request, stream=stream)
        body.pop("model", None)
        body.setdefault("anthropic_version", VERTEX_ANTHROPIC_VERSION)
        return body


def vertex_publisher(options: Mapping[str, Any]) -> str:
    """``anthropic`` for ``claude-*`` models (or ``publisher: anthropic``), else ``google``."""
    publisher = options.get("publisher")
    if publisher is not None:
        if publisher not in ("google", "anthropic"):
            raise ConfigError(f"vertex-ai publisher {publisher!r} is not supported (google or anthropic)")
        return str(publisher)
    model = options.get("model")
    return "anthropic" if isinstance(model, str) and model.lower().startswith("claude") else "google"


class VertexAIClient(LeafClient):
    """A client for Gemini and Claude models on Vertex AI (provider ``vertex-ai``).

    Example::

        client = llmclient.VertexAIClient(model="gemini-2.5-flash", location="us-central1",
                                          credentials="service-account.json")
        print(client.complete("Name three primes.").text)

    Args:
        model: The model (``gemini-2.5-flash``, ``claude-3-5-sonnet-v2@20241022``...).
        location: The region, or ``global``; required unless ``base_url`` is given.
        project_id: The project; default the credentials' project, then ``GOOGLE_CLOUD_PROJECT``.
        credentials: A service-account (or authorized-user) key: a path, its JSON text, or the object.
        credentials_content: The key's JSON text (e.g. ``{"env": "VERTEX_KEY_JSON"}``).
        authorization: A raw OAuth bearer token (not refreshed).
        api_key: A Vertex API key (express mode), sent as ``x-goog-api-key`` instead of OAuth.
        name: The client's name in errors and completions.
        retry_policy: Retries; none when omitted.
        runtime: Share pools with other clients.
        auth: Replace the Google OAuth auth with your own :class:`AuthProvider`.
        **options: Any other option (``base_url``, ``headers``, ``http``, ``generationConfig``...).
    """

    provider_name = PROVIDER

    def __init__(self, model: Any = None, *, location: Any = None, project_id: Any = None, credentials: Any = None,
                 credentials_content: Any = None, authorization: Any = None, name: str | None = None,
                 retry_policy: RetryPolicy | None = None, runtime: Runtime | None = None,
                 auth: AuthProvider | None = None, **options: Any) -> None:
        name = name or self.provider_name
        opts = given_options({"model": model, "location": location, "project_id": project_id,
                              "credentials": credentials, "credentials_content": credentials_content,
                              "authorization": authorization, **options}, VERTEX_ADAPTER_OPTIONS)
        if "credentials" in opts and "credentials_content" in opts:
            raise ConfigError("give credentials or credentials_content, not both", client_name=name)
        google_auth = GoogleAuth(
            lambda: GoogleCredentials.find(authorization=opts.get("authorization"),
                                           credentials=opts.get("credentials"),
                                           credentials_content=opts.get("credentials_content")),
            lambda: self.runtime.transport)
        if auth is None and opts.get("api_key") is not None:  # express mode: a Vertex API key
            auth = ApiKeyAuth(opts["api_key"], header="x-goog-api-key", prefix="", client_name=name)
        project: Any = to_ref(opts.get("project_id"))
        if project is None:  # looked up now, so that building a request reads no file
            try:
                project = google_project(None if auth is not None else google_auth.credentials)
            except ConfigError as err:
                project = err
        where = VertexLocation(opts, project)
        adapter: ProviderAdapter
        if vertex_publisher(opts) == "anthropic":
            adapter = VertexClaudeAdapter(opts, where)
        else:
            adapter = VertexGeminiAdapter(opts, where)
        self.google_auth = google_auth
        super().__init__(adapter, name=name, options=opts, auth=auth or google_auth, runtime=runtime,
                         retry_policy=retry_policy)
