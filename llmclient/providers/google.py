"""Google AI's Gemini API (provider ``google-ai``): where the calls go, how they are signed.

``POST {base_url}/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``,
default base ``https://generativelanguage.googleapis.com/v1beta``, key in the
``x-goog-api-key`` header (never in the URL). The bodies, answers, errors and streams are
Gemini's, translated in ``gemini.py``; :class:`GeminiAdapter` binds that translation to an
address, so that a Vertex AI adapter only overrides :meth:`GeminiAdapter.url` and its auth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..errors import ConfigError, LLMError
from ..models import ChatRequest, Completion, HttpRequest, HttpResponse
from ..secrets import resolve, to_ref
from .api_key_client import ApiKeyClient
from .base import ADAPTER_OPTIONS as TEMPLATE_OPTIONS
from .base import ProviderAdapter
from .gemini import GeminiStreamDecoder, gemini_body, gemini_completion, gemini_error

__all__ = ["GeminiAdapter", "GoogleAIAdapter", "GoogleAIClient", "DEFAULT_GOOGLE_AI_BASE_URL", "ADAPTER_OPTIONS"]

DEFAULT_GOOGLE_AI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"

ADAPTER_OPTIONS = TEMPLATE_OPTIONS | {"model"}


class GeminiAdapter(ProviderAdapter):
    """The generateContent wire format at an address a subclass decides (Google AI, Vertex AI).

    Args:
        provider: The provider name in errors and completions.
        options: The client's options (``model`` required; env references allowed).
    """

    adapter_options = ADAPTER_OPTIONS
    answer_kind = "a GenerateContentResponse JSON"
    error_kind = "a Google error JSON"

    def __init__(self, provider: str, options: Mapping[str, Any]) -> None:
        self.provider = provider
        if options.get("model") is None:
            raise ConfigError(f"provider {provider} needs options.model (e.g. gemini-2.5-flash)")
        super().__init__(options)
        self.model = to_ref(options["model"])

    def model_name(self) -> str:
        """The model, without a leading ``models/``."""
        return str(resolve(self.model, what="model")).removeprefix("models/")

    @property
    def reasoning_source(self) -> str:
        """Who made the reasoning state this adapter reads (thought signatures); only it is sent back."""
        return self.provider

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return gemini_body(request, self.resolved_defaults(), self.roles, model=self.model_name(),
                           state_source=self.reasoning_source)

    def unwrap(self, data: Any) -> Any:
        """The first answer of a JSON array (``streamGenerateContent`` without ``alt=sse``)."""
        return data[0] if isinstance(data, list) and data else data

    def completion_from(self, data: dict[str, Any], response: HttpResponse, secrets: tuple[str, ...]) -> Completion:
        if not data.get("candidates") and not (data.get("promptFeedback") or {}).get("blockReason"):
            raise self.lacks(response, "no candidates", secrets)
        return gemini_completion(data, self.reasoning_source)

    def error_from(self, error: Mapping[str, Any], *, response: HttpResponse | None,
                   secrets: tuple[str, ...]) -> LLMError:
        return gemini_error(error, provider=self.provider, response=response, secrets=secrets)

    def stream_decoder(self, secrets: tuple[str, ...]) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(self.provider, secrets, self.reasoning_source)

    #: ``count_tokens``: the field of ``:countTokens``'s answer.
    count_field = "totalTokens"

    def count_request(self, request: ChatRequest) -> HttpRequest:
        """``POST .../models/{model}:countTokens`` with :meth:`count_body` of the generateContent body."""
        from .token_count import count_post

        body = self.count_body(self.body(request, stream=False))
        return count_post(self, self.count_url(), body)

    def count_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """The Gemini API's countTokens body: ``contents`` alone, or, when the request has more
        (system instruction, tools...), all of it as ``generateContentRequest`` (the two forms
        are exclusive; top-level ``systemInstruction`` is refused there)."""
        if body.keys() <= {"contents"}:
            return {"contents": body["contents"]}
        return {"generateContentRequest": {"model": f"models/{self.model_name()}", **body}}

    def count_url(self) -> str:
        """Hook: the countTokens URL of this endpoint."""
        raise NotImplementedError


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

    def count_url(self) -> str:
        base = str(resolve(self.base_url, what="base_url of provider google-ai")).rstrip("/")
        return f"{base}/models/{quote(self.model_name(), safe='-._~@')}:countTokens" + self.query_string()


class GoogleAIClient(ApiKeyClient):
    """A client for the Gemini API (provider ``google-ai``).

    Example::

        client = llmclient.GoogleAIClient(model="gemini-2.5-flash")   # key from GOOGLE_API_KEY
        print(client.complete("Name three primes.").text)

    Takes :class:`~llmclient.providers.api_key_client.ApiKeyClient`'s arguments: ``model`` is
    required (a leading ``models/`` is accepted); ``api_key`` defaults to ``GOOGLE_API_KEY``
    and is sent in the ``x-goog-api-key`` header, never in the URL; ``base_url`` defaults to
    ``https://generativelanguage.googleapis.com/v1beta``; other options: ``headers``, ``http``,
    ``safetySettings``, ``generationConfig``...
    """

    provider_name = "google-ai"
    adapter_options = ADAPTER_OPTIONS
    key_header, key_prefix, key_env = "x-goog-api-key", "", "GOOGLE_API_KEY"

    def make_adapter(self, options: Mapping[str, Any]) -> GoogleAIAdapter:
        return GoogleAIAdapter(options)
