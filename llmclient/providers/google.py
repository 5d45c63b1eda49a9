"""Google AI's Gemini API (provider ``google-ai``): where the calls go, how they are signed.

``POST {base_url}/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``,
default base ``https://generativelanguage.googleapis.com/v1beta``, key in the
``x-goog-api-key`` header (never in the URL). The bodies, answers, errors and streams are
Gemini's, translated in ``gemini.py``; :class:`GeminiAdapter` binds that translation to an
address, so that a Vertex AI adapter only overrides :meth:`GeminiAdapter.url` and its auth.
"""

from __future__ import annotations

import json
from typing import Any, Mapping
from urllib.parse import quote, urlencode

from ..auth.api_key import ApiKeyAuth
from ..auth.base import AuthProvider
from ..errors import ConfigError, LLMError, ProviderError
from ..models import ChatRequest, Completion, HttpRequest, HttpResponse
from ..redaction import redact_text
from ..retry import RetryPolicy
from ..runtime import Runtime
from ..secrets import resolve, to_ref
from .base import COMMON_OPTIONS, LeafClient, ProviderAdapter, RolePolicy, given_options
from .gemini import GeminiStreamDecoder, gemini_body, gemini_completion, gemini_error
from .status import generic_error, unexpected_success_body

__all__ = ["GeminiAdapter", "GoogleAIAdapter", "GoogleAIClient", "DEFAULT_GOOGLE_AI_BASE_URL", "ADAPTER_OPTIONS"]

DEFAULT_GOOGLE_AI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"

ADAPTER_OPTIONS = frozenset({"model", "base_url", "api_key", "headers", "query_params", "allowed_roles",
                             "default_role", "remap_roles", "allowed_role_metadata"}) | COMMON_OPTIONS


class GeminiAdapter(ProviderAdapter):
    """The generateContent wire format at an address a subclass decides (Google AI, Vertex AI).

    Args:
        provider: The provider name in errors and completions.
        options: The client's options (``model`` required; env references allowed).
    """

    def __init__(self, provider: str, options: Mapping[str, Any]) -> None:
        self.provider = provider
        if options.get("model") is None:
            raise ConfigError(f"provider {provider} needs options.model (e.g. gemini-2.5-flash)")
        self.model = to_ref(options["model"])
        self.headers = {k: to_ref(v) for k, v in (options.get("headers") or {}).items()}
        self.query_params = {k: to_ref(v) for k, v in (options.get("query_params") or {}).items()}
        self.roles = RolePolicy(options, ("system", "user", "assistant", "tool"))
        self.body_defaults = {k: to_ref(v) for k, v in options.items() if k not in self.adapter_options()}

    def adapter_options(self) -> frozenset[str]:
        """Option names that configure the adapter rather than the body."""
        return ADAPTER_OPTIONS

    def model_name(self) -> str:
        """The model, without a leading ``models/``."""
        return str(resolve(self.model, what="model")).removeprefix("models/")

    def url(self, *, stream: bool) -> str:
        """The full URL of one call (subclasses say where the model lives)."""
        raise NotImplementedError

    def query_string(self, extra: Mapping[str, str]) -> str:
        """``?a=b`` from ``extra`` and the ``query_params`` option; '' when empty."""
        params = {**extra, **{k: str(resolve(v, what=f"query_params.{k}")) for k, v in self.query_params.items()}}
        return "?" + urlencode(params) if params else ""

    def build_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        defaults = {k: resolve(v, what=f"option {k}") for k, v in self.body_defaults.items()}
        body = gemini_body(request, defaults, self.roles)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
        secrets = []
        for key, value in self.headers.items():
            headers[key] = resolved = str(resolve(value, what=f"header {key}"))
            if key.lower() in ("authorization", "x-goog-api-key"):
                secrets.append(resolved)
        return HttpRequest("POST", self.url(stream=stream), headers,
                           json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(), stream,
                           tuple(secrets))

    def parse_response(self, response: HttpResponse, secrets: tuple[str, ...]) -> Completion:
        try:
            data = response.json()
        except ValueError:
            raise unexpected_success_body(response, provider=self.provider, what="a GenerateContentResponse JSON",
                                          secrets=secrets) from None
        if isinstance(data, list) and data and isinstance(data[0], dict):
            data = data[0]
        if not isinstance(data, dict):
            raise unexpected_success_body(response, provider=self.provider, what="a JSON object", secrets=secrets)
        if isinstance(data.get("error"), dict):
            raise gemini_error(data["error"], provider=self.provider, response=response, secrets=secrets)
        if not data.get("candidates") and not (data.get("promptFeedback") or {}).get("blockReason"):
            raise ProviderError("the answer has no candidates", provider=self.provider,
                                status_code=response.status_code,
                                body=redact_text(response.body[:2000].decode("utf-8", "replace"), secrets))
        return gemini_completion(data)

    def parse_error(self, response: HttpResponse, secrets: tuple[str, ...]) -> LLMError:
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, list) and data:
            data = data[0]
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            return gemini_error(data["error"], provider=self.provider, response=response, secrets=secrets)
        return generic_error(response, provider=self.provider, what="a Google error JSON", secrets=secrets)

    def stream_decoder(self, secrets: tuple[str, ...]) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(self.provider, secrets)


class GoogleAIAdapter(GeminiAdapter):
    """The Gemini API at ``generativelanguage.googleapis.com`` (or ``base_url``)."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__("google-ai", options)
        self.base_url = to_ref(options.get("base_url", DEFAULT_GOOGLE_AI_BASE_URL))

    def url(self, *, stream: bool) -> str:
        base = str(resolve(self.base_url, what="base_url of provider google-ai")).rstrip("/")
        action = "streamGenerateContent" if stream else "generateContent"
        return (f"{base}/models/{quote(self.model_name(), safe='-._~@')}:{action}"
                + self.query_string({"alt": "sse"} if stream else {}))


class GoogleAIClient(LeafClient):
    """A client for the Gemini API (provider ``google-ai``).

    Example::

        client = llmclient.GoogleAIClient(model="gemini-2.5-flash")   # key from GOOGLE_API_KEY
        print(client.complete("Name three primes.").text)

    Args:
        model: The model name (required; a leading ``models/`` is accepted).
        api_key: The key, or ``llmclient.env("NAME")``; default ``GOOGLE_API_KEY``. Sent in
            the ``x-goog-api-key`` header, never in the URL.
        base_url: Another address (default ``https://generativelanguage.googleapis.com/v1beta``).
        name: The client's name in errors and completions.
        retry_policy: Retries; none when omitted.
        runtime: Share pools with other clients.
        auth: Replace the API-key auth with your own :class:`AuthProvider`.
        **options: Any other option (``headers``, ``http``, ``safetySettings``, ``generationConfig``...).
    """

    provider_name = "google-ai"

    def __init__(self, model: Any = None, *, api_key: Any = None, base_url: Any = None, name: str | None = None,
                 retry_policy: RetryPolicy | None = None, runtime: Runtime | None = None,
                 auth: AuthProvider | None = None, **options: Any) -> None:
        name = name or self.provider_name
        opts = given_options({"model": model, "api_key": api_key, "base_url": base_url, **options}, ADAPTER_OPTIONS)
        default_auth = ApiKeyAuth(opts.get("api_key"), header="x-goog-api-key", prefix="",
                                  default_env="GOOGLE_API_KEY", client_name=name)
        super().__init__(GoogleAIAdapter(opts), name=name, options=opts, auth=auth or default_auth,
                         runtime=runtime, retry_policy=retry_policy)
