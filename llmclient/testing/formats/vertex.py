"""Vertex AI as the fake server speaks it: Gemini and Claude routes, and a Google OAuth token endpoint.

Bodies are rendered by the Gemini API format (:mod:`.google`) and the Anthropic format
(:mod:`.anthropic`); only the paths are Vertex's:
``/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent`` (and
``:streamGenerateContent?alt=sse``), ``.../publishers/anthropic/models/{m}:rawPredict`` (and
``:streamRawPredict``, whose body must carry ``anthropic_version`` and no ``model``).

``POST /token`` plays Google's OAuth endpoint. After :func:`trust_service_account` it checks a
service account's RS256 JWT assertion against the given public key (PyJWT, imported on first
use), or, after :func:`trust_refresh_token`, an authorized user's refresh token, and issues
``ya29.fake-N`` tokens that expire; from then on the Vertex routes accept only live tokens
(401 ``UNAUTHENTICATED`` otherwise). :func:`revoke_tokens` makes every issued token invalid.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from llmclient.testing.formats.anthropic import AnthropicFormat
from llmclient.testing.formats.base import CallError, FakeCall, RecordedRequest, WireFormat, json_answer
from llmclient.testing.formats.google import GoogleAIFormat

__all__ = ["GoogleTokenFormat", "VertexClaudeFormat", "VertexGeminiFormat", "revoke_tokens", "trust_refresh_token",
           "trust_service_account", "token_requests"]

_STATE = "vertex-oauth"
_PREFIX = r"^/v1(?:beta1)?/projects/([^/]+)/locations/([^/]+)/publishers/"
_GEMINI = re.compile(_PREFIX + r"google/models/([^/:]+):(generateContent|streamGenerateContent|countTokens)$")
_CLAUDE = re.compile(_PREFIX + r"anthropic/models/([^/:]+):(rawPredict|streamRawPredict)$")
_AUDIENCE = "https://oauth2.googleapis.com/token"
_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential."
)


@dataclass
class _OAuth:
    """One server's trusted keys and issued tokens (kept in ``server.state``)."""

    public_keys: list[Any] = field(default_factory=list)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    lifetime: int = 3600
    tokens: dict[str, float] = field(default_factory=dict)
    issued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _oauth(server: Any, create: bool = False) -> _OAuth | None:
    state = server.state.get(_STATE)
    if state is None and create:
        state = server.state.setdefault(_STATE, _OAuth())
    return state if isinstance(state, _OAuth) else None


def trust_service_account(server: Any, public_key_pem: str | bytes, *, token_lifetime: int = 3600) -> None:
    """Accept JWTs signed by this key at ``POST /token``; Vertex routes then need issued tokens.

    Args:
        server: The :class:`~llmclient.testing.FakeLLMServer`.
        public_key_pem: The service account's RSA public key (PEM).
        token_lifetime: ``expires_in`` of the tokens issued, in seconds.
    """
    state = _oauth(server, create=True)
    assert state is not None
    state.public_keys.append(public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem)
    state.lifetime = token_lifetime


def trust_refresh_token(server: Any, refresh_token: str, client_id: str, *, token_lifetime: int = 3600) -> None:
    """Accept this authorized user's refresh token at ``POST /token``."""
    state = _oauth(server, create=True)
    assert state is not None
    state.refresh_tokens[refresh_token] = client_id
    state.lifetime = token_lifetime


def revoke_tokens(server: Any) -> None:
    """Make every access token issued so far invalid (the next Vertex call gets a 401)."""
    state = _oauth(server)
    if state is not None:
        with state.lock:
            state.tokens.clear()


def token_requests(server: Any) -> int:
    """How many token requests ``POST /token`` has received."""
    return sum(1 for r in server.requests if r.path == "/token")



def _token_refused(state: _OAuth | None, request: RecordedRequest) -> tuple[int, dict[str, str], bytes] | None:
    """A 401 for a Vertex request without a live issued token, once a credential is trusted."""
    if state is None:
        return None
    header = request.headers.get("authorization", "")
    token = header[7:] if header.startswith("Bearer ") else ""
    with state.lock:
        expires = state.tokens.get(token)
    if expires is not None and time.monotonic() < expires:
        return None
    return json_answer(401, {"error": {"code": 401, "message": _UNAUTHENTICATED, "status": "UNAUTHENTICATED"}})


class GoogleTokenFormat(WireFormat):
    """``POST /token``: Google's OAuth 2 token endpoint (jwt-bearer and refresh_token grants)."""

    name: ClassVar[str] = "google-oauth"

    def route(self, method: str, path: str) -> bool:
        """Only ``POST /token``."""
        return method == "POST" and path == "/token"

    def intercept(self, request: RecordedRequest, server: Any) -> tuple[int, dict[str, str], bytes] | None:
        """Check the grant and issue a token; every answer is made here."""
        state = _oauth(server)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return json_answer(400, {"error": "invalid_request", "error_description": "expected a form body"})
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = form.get("grant_type")
        if state is None:
            return json_answer(400, {"error": "invalid_client", "error_description": "no credential is trusted"})
        if grant == _JWT_GRANT:
            refusal = self._check_assertion(state, form.get("assertion", ""))
        elif grant == "refresh_token":
            known = state.refresh_tokens.get(form.get("refresh_token", ""))
            ok = known is not None and known == form.get("client_id") and bool(form.get("client_secret"))
            refusal = None if ok else "Bad Request"
        else:
            return json_answer(400, {"error": "unsupported_grant_type", "error_description": f"grant {grant!r}"})
        if refusal is not None:
            return json_answer(400, {"error": "invalid_grant", "error_description": refusal})
        with state.lock:
            state.issued += 1
            token = f"ya29.fake-{state.issued}"
            state.tokens[token] = time.monotonic() + state.lifetime
        return json_answer(200, {"access_token": token, "expires_in": state.lifetime, "token_type": "Bearer"})

    def _check_assertion(self, state: _OAuth, assertion: str) -> str | None:
        """None when the JWT verifies with a trusted key and has Google's claims, else the reason."""
        import jwt

        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return "Invalid JWT: malformed"
        if header.get("alg") != "RS256" or header.get("typ") != "JWT" or not header.get("kid"):
            return "Invalid JWT header: need alg RS256, typ JWT and kid"
        for key in state.public_keys:
            try:
                claims = jwt.decode(assertion, key, algorithms=["RS256"], audience=_AUDIENCE,
                                    options={"require": ["iat", "exp", "iss", "aud", "scope"]})
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                return f"Invalid JWT: {type(exc).__name__}"
            if _SCOPE not in str(claims.get("scope", "")).split():
                return "Invalid JWT: scope must include cloud-platform"
            if int(claims["exp"]) - int(claims["iat"]) > 3600:
                return "Invalid JWT: Token must be a short-lived token (60 minutes)"
            return None
        return "Invalid JWT Signature."

    def parse(self, request: RecordedRequest, seq: int) -> FakeCall:
        raise CallError(400, "unreachable: answered by intercept", "invalid_request")

    def error(self, status: int, message: str, error_type: str, code: str | None, *,
              seq: int = 0) -> tuple[dict[str, str], bytes]:
        """An OAuth error body."""
        _, headers, body = json_answer(status, {"error": error_type, "error_description": message})
        return headers, body


class VertexGeminiFormat(GoogleAIFormat):
    """Gemini on Vertex: the Gemini API's bodies at Vertex's project/location paths."""

    name: ClassVar[str] = "vertex-gemini"
    #: Vertex's CountTokensRequest takes the request's fields top-level (no generateContentRequest).
    count_fields: ClassVar[frozenset[str]] = frozenset({"contents", "systemInstruction", "tools", "generationConfig",
                                                        "model", "instances"})

    def route(self, method: str, path: str) -> bool:
        """``.../publishers/google/models/{m}:generateContent`` and ``:streamGenerateContent``."""
        return method == "POST" and _GEMINI.match(path) is not None

    def authenticate(self, request: RecordedRequest, api_key: str) -> bool:
        """With a server ``api_key``: ``Authorization: Bearer <api_key>``."""
        return request.headers.get("authorization", "") == "Bearer " + api_key

    def intercept(self, request: RecordedRequest, server: Any) -> tuple[int, dict[str, str], bytes] | None:
        """Once a credential is trusted, only tokens issued by ``/token`` are accepted."""
        return _token_refused(_oauth(server), request)

    def parse(self, request: RecordedRequest, seq: int) -> FakeCall:
        """Parsed as the Gemini API would parse ``/models/{m}:{action}``."""
        match = _GEMINI.match(request.path)
        assert match is not None
        return super().parse(replace(request, path=f"/models/{match.group(3)}:{match.group(4)}"), seq)


class VertexClaudeFormat(AnthropicFormat):
    """Claude on Vertex: Anthropic bodies (``anthropic_version``, no ``model``) at ``rawPredict``."""

    name: ClassVar[str] = "vertex-claude"

    def route(self, method: str, path: str) -> bool:
        """``.../publishers/anthropic/models/{m}:rawPredict`` and ``:streamRawPredict``."""
        return method == "POST" and _CLAUDE.match(path) is not None

    def authenticate(self, request: RecordedRequest, api_key: str) -> bool:
        """With a server ``api_key``: ``Authorization: Bearer <api_key>``."""
        return request.headers.get("authorization", "") == "Bearer " + api_key

    def intercept(self, request: RecordedRequest, server: Any) -> tuple[int, dict[str, str], bytes] | None:
        """Once a credential is trusted, only tokens issued by ``/token`` are accepted."""
        return _token_refused(_oauth(server), request)

    def parse(self, request: RecordedRequest, seq: int) -> FakeCall:
        """Anthropic's parse, after Vertex's own checks; the model comes from the path."""
        match = _CLAUDE.match(request.path)
        assert match is not None
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if isinstance(body, dict):
            if "model" in body:
                raise CallError(400, "model: Extra inputs are not permitted", "invalid_request_error")
            if body.get("anthropic_version") != "vertex-2023-10-16":
                raise CallError(400, "anthropic_version: must be vertex-2023-10-16", "invalid_request_error")
        call = super().parse(request, seq)
        model = match.group(3)
        return replace(call, model=model, models=(model,))
