"""How a leaf client counts a request's input tokens: the provider's count endpoint, or a local tokenizer.

An adapter that speaks a count endpoint says so with ``count_field`` (the answer's field:
Anthropic ``input_tokens``, Gemini and Vertex ``totalTokens``, Bedrock ``inputTokens``) and
builds the unsigned request with ``count_request(request)``; the leaf signs and sends it
through its one send path (``LeafClient._send``), so that auth, timeouts, retries, cancel
tokens and the error classification are the chat call's. An adapter without one may count
locally with ``count_locally(request)`` (OpenAI's, with tiktoken). Otherwise the client cannot
count: :class:`~llmclient.errors.TokenCountUnavailableError`, before anything is sent.

A count takes one request from the client's ``rate_limit`` budget and no tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from ..errors import TokenCountUnavailableError
from ..models import ChatRequest, HttpRequest, HttpResponse
from ..token_count import TokenCount

if TYPE_CHECKING:
    from ..client import CallContext
    from .base import ProviderAdapter
    from .leaf import LeafClient

__all__ = ["count_on_leaf", "count_post", "read_count", "CountingAdapter"]


class CountingAdapter(Protocol):
    """What an adapter with a count endpoint adds to :class:`~llmclient.providers.base.ProviderAdapter`."""

    provider: str
    count_field: str

    def count_request(self, request: ChatRequest) -> HttpRequest:
        """The unsigned count request for ``request`` (pure, like ``build_request``)."""


def count_post(adapter: ProviderAdapter, url: str, body: Mapping[str, Any]) -> HttpRequest:
    """A POST of ``body`` to ``url`` with the adapter's headers (and their secrets), as chat requests go."""
    from .base import json_body

    headers, secrets = adapter.request_headers(stream=False)
    return HttpRequest("POST", url, headers, json_body({k: v for k, v in body.items() if v is not None}),
                       False, secrets)


def read_count(adapter: ProviderAdapter, field: str, response: HttpResponse, secrets: tuple[str, ...]) -> int:
    """The count in a 2xx answer's ``field``; raises a typed error for an error JSON or any other body."""
    data = adapter.answer_object(response, secrets, what="a token count JSON")
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise adapter.lacks(response, f"no {field} count", secrets)
    return value


def _model(adapter: Any, request: ChatRequest) -> str | None:
    """The model counted for: the call's ``model``, else the adapter's."""
    given = request.params.get("model")
    if given:
        return str(given)
    for name in ("model_name", "model_id"):
        find = getattr(adapter, name, None)
        if callable(find):
            return str(find())
    found = adapter.resolved_defaults().get("model") if hasattr(adapter, "resolved_defaults") else None
    return None if found is None else str(found)


def count_on_leaf(leaf: LeafClient, request: ChatRequest, context: CallContext) -> TokenCount:
    """Count ``request`` for ``leaf``: its provider's endpoint, else its local tokenizer, else raise."""
    adapter = leaf.adapter
    if context.cancel is not None:
        context.cancel.raise_if_cancelled()
    field = getattr(adapter, "count_field", "")
    if field:
        counting = cast(CountingAdapter, adapter)

        def attempt(req: ChatRequest, ctx: CallContext, number: int) -> int:
            sent = leaf._send(req, ctx, number, stream=False, build=counting.count_request)
            return read_count(adapter, field, sent.answer, sent.secrets)

        tokens, estimate = leaf._with_retries(request, context, attempt)
        if leaf.rate_limiter is not None:
            leaf.rate_limiter.record(0, estimate=estimate)  # the request counts, its tokens do not
        return TokenCount(tokens, leaf.provider, _model(adapter, request), exact=True, source="provider",
                          client_name=leaf.name)
    local = getattr(adapter, "count_locally", None)
    if local is None:
        raise TokenCountUnavailableError(
            f"client {leaf.name!r}: provider {leaf.provider} offers no token count endpoint that llmclient "
            "speaks, and no local tokenizer applies", client_name=leaf.name, provider=leaf.provider)
    try:
        tokens, model = local(request)
    except TokenCountUnavailableError as err:
        err.with_context(client_name=leaf.name, provider=leaf.provider)
        raise
    return TokenCount(tokens, leaf.provider, model, exact=False, source="tiktoken", client_name=leaf.name)
