"""The Microsoft identity platform's token endpoint as the fake server plays it (Entra ID for Azure OpenAI).

``POST /{tenant}/oauth2/v2.0/token`` takes the OAuth 2.0 client-credentials form
(``grant_type=client_credentials``, ``client_id``, ``client_secret``, ``scope``). After
:func:`trust_entra_app` it issues ``eyJ0eXAi.fake-entra-N`` tokens that expire after the
configured lifetime, refuses a wrong tenant, app, secret, grant or scope with the AADSTS-style
JSON the real endpoint sends (``{"error", "error_description": "AADSTS...", "error_codes",
"trace_id", "correlation_id"}``), and from then on the Azure OpenAI routes accept only a live
issued token (401 otherwise, with Azure's message). :func:`entra_token_requests` counts the
token requests; :func:`revoke_entra_tokens` makes every issued token invalid.
"""

from __future__ import annotations

import hmac
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from llmclient.testing.formats.base import CallError, FakeCall, RecordedRequest, WireFormat, json_answer

__all__ = ["EntraTokenFormat", "entra_token_refused", "entra_token_requests", "revoke_entra_tokens",
           "trust_entra_app"]

_STATE = "entra-oauth"
_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")
_UNAUTHORIZED = ("Unauthorized. Access token is missing, invalid, audience is incorrect "
                 "(https://cognitiveservices.azure.com), or have expired.")


@dataclass
class _Entra:
    """One server's trusted app and issued tokens (kept in ``server.state``)."""

    tenant_id: str
    client_id: str
    client_secret: str
    scope: str
    lifetime: int
    delay_s: float
    tokens: dict[str, float] = field(default_factory=dict)
    issued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _entra(server: Any) -> _Entra | None:
    state = server.state.get(_STATE)
    return state if isinstance(state, _Entra) else None


def trust_entra_app(server: Any, *, tenant_id: str, client_id: str, client_secret: str,
                    scope: str = "https://cognitiveservices.azure.com/.default", token_lifetime: int = 3599,
                    delay_s: float = 0.0) -> None:
    """Issue tokens to this app at ``POST /{tenant_id}/oauth2/v2.0/token``; Azure routes then need them.

    Use a server without ``api_key``: with one, the Azure routes would still ask for that key.

    Args:
        server: The :class:`~llmclient.testing.FakeLLMServer`.
        tenant_id: The tenant the endpoint answers for (another tenant in the path is refused).
        client_id: The only application id accepted.
        client_secret: Its secret (anything else is ``invalid_client``).
        scope: The only scope accepted.
        token_lifetime: ``expires_in`` of the tokens issued, in seconds.
        delay_s: How long each token answer takes (to widen the window single-flight tests look at).
    """
    server.state[_STATE] = _Entra(tenant_id, client_id, client_secret, scope, token_lifetime, delay_s)


def revoke_entra_tokens(server: Any) -> None:
    """Make every token issued so far invalid (the next Azure call gets a 401)."""
    state = _entra(server)
    if state is not None:
        with state.lock:
            state.tokens.clear()


def entra_token_requests(server: Any) -> int:
    """How many requests the token endpoint has received."""
    return sum(1 for r in server.requests if _TOKEN_PATH.match(r.path))



def _aadsts(status: int, error: str, code: int, text: str) -> tuple[int, dict[str, str], bytes]:
    trace = str(uuid.uuid4())
    correlation = str(uuid.uuid4())
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    description = f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {stamp}"
    return json_answer(status, {"error": error, "error_description": description, "error_codes": [code],
                          "timestamp": stamp, "trace_id": trace, "correlation_id": correlation})


def entra_token_refused(server: Any, request: RecordedRequest) -> tuple[int, dict[str, str], bytes] | None:
    """A 401 for an Azure request without a live issued token, once an app is trusted; else None."""
    state = _entra(server)
    if state is None:
        return None
    header = request.headers.get("authorization", "")
    token = header[7:] if header.startswith("Bearer ") else ""
    with state.lock:
        expires = state.tokens.get(token)
    if expires is not None and time.monotonic() < expires:
        return None
    return json_answer(401, {"error": {"code": "401", "message": _UNAUTHORIZED}})


class EntraTokenFormat(WireFormat):
    """``POST /{tenant}/oauth2/v2.0/token``: the client-credentials grant of the Microsoft identity platform."""

    name: ClassVar[str] = "entra-oauth"

    def route(self, method: str, path: str) -> bool:
        """Only ``POST /{tenant}/oauth2/v2.0/token``."""
        return method == "POST" and _TOKEN_PATH.match(path) is not None

    def intercept(self, request: RecordedRequest, server: Any) -> tuple[int, dict[str, str], bytes] | None:
        """Check the form and issue a token; every answer is made here."""
        state = _entra(server)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return _aadsts(400, "invalid_request", 900144, "The request body must contain the parameter "
                                                           "'grant_type'.")
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        match = _TOKEN_PATH.match(request.path)
        tenant = match.group(1) if match else ""
        if state is None or tenant != state.tenant_id:
            return _aadsts(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _aadsts(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        if form.get("client_id") != state.client_id:
            return _aadsts(400, "unauthorized_client", 700016,
                           f"Application with identifier '{form.get('client_id', '')}' was not found in the "
                           f"directory '{tenant}'.")
        if not hmac.compare_digest(form.get("client_secret", ""), state.client_secret):
            return _aadsts(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret "
                                                          "being sent in the request is the client secret value, "
                                                          "not the client secret ID.")
        if form.get("scope") != state.scope:
            return _aadsts(400, "invalid_scope", 1002012, f"The provided value for scope "
                                                         f"{form.get('scope', '')} is not valid.")
        if state.delay_s:
            time.sleep(state.delay_s)
        with state.lock:
            state.issued += 1
            token = f"eyJ0eXAi.fake-entra-{state.issued}"
            state.tokens[token] = time.monotonic() + state.lifetime
        return json_answer(200, {"token_type": "Bearer", "expires_in": state.lifetime, "ext_expires_in": state.lifetime,
                           "access_token": token})

    def authenticate(self, request: RecordedRequest, api_key: str) -> bool:
        """Never asked: :meth:`intercept` answers every request."""
        return True

    def parse(self, request: RecordedRequest, seq: int) -> FakeCall:
        raise CallError(400, "unreachable: answered by intercept", "invalid_request")

    def error(self, status: int, message: str, error_type: str, code: str | None, *,
              seq: int = 0) -> tuple[dict[str, str], bytes]:
        """An OAuth error body."""
        _, headers, body = json_answer(status, {"error": error_type, "error_description": message})
        return headers, body
