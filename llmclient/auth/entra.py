"""Microsoft Entra ID for Azure OpenAI: client-credentials tokens, or your own token provider.

BAML configures Entra ID with three options of an ``azure-openai`` client, ``tenant_id``,
``client_id`` and ``client_secret``; :class:`EntraClientCredentials` then trades them at the
Microsoft identity platform (``POST {authority}/{tenant}/oauth2/v2.0/token``, the OAuth 2.0
client-credentials grant, scope ``https://cognitiveservices.azure.com/.default``) for an access
token, and sends ``Authorization: Bearer <token>`` on every chat request instead of an
``api-key``. The token is cached until five minutes before it expires, fetched by one thread
while the others wait, and dropped after a 401 so that the call is retried once with a new one.
The client secret goes only into that token request's form body: it is never a header or a body
field of a chat request, and never appears in a log line, an error or a repr.

:class:`TokenProviderAuth` takes instead a zero-argument callable returning a bearer token --
the shape ``azure.identity.get_bearer_token_provider(credential, scope)`` returns -- and calls it
for every request, as the OpenAI SDK does (azure-identity's credentials cache their tokens
themselves). llmclient does not depend on azure-identity: any such callable works.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from ..errors import AuthError, ConfigError, LLMError, ProviderError
from ..models import HttpRequest
from ..redaction import redact_text
from ..secrets import EnvRef, resolve_optional, to_ref
from .base import AuthProvider

__all__ = ["EntraClientCredentials", "TokenProviderAuth", "DEFAULT_AUTHORITY", "COGNITIVE_SERVICES_SCOPE",
           "EXPIRY_MARGIN_S", "ENTRA_OPTIONS", "entra_auth_from_options"]

log = logging.getLogger(__name__)

#: The Microsoft identity platform of Azure's public cloud (sovereign clouds have their own).
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
#: The scope of Azure OpenAI tokens (newer Foundry resources may want ``https://ai.azure.com/.default``).
COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
#: A cached token is replaced this many seconds before it expires.
EXPIRY_MARGIN_S = 300.0
#: The options an ``azure-openai`` client reads for Entra ID (never request body fields).
#: ``tenant_id``, ``client_id`` and ``client_secret`` are BAML's; ``authority`` (the identity
#: platform's address: a sovereign cloud, or a test server) and ``scope`` are llmclient's.
ENTRA_OPTIONS = frozenset({"tenant_id", "client_id", "client_secret", "authority", "scope"})


class _Token:
    __slots__ = ("value", "expires_at")

    def __init__(self, value: str, expires_at: float) -> None:
        self.value = value
        self.expires_at = expires_at


def _user_header_wins(request: HttpRequest) -> bool:
    return any(name.lower() == "authorization" for name in request.headers)


class EntraClientCredentials(AuthProvider):
    """``Authorization: Bearer <token>`` from the OAuth 2.0 client-credentials flow, cached and single-flight.

    Args:
        tenant_id: The directory (tenant) id, an :class:`EnvRef`, or ``{"env": NAME}``;
            default ``AZURE_TENANT_ID``. Read when the first token is requested.
        client_id: The application (client) id; default ``AZURE_CLIENT_ID``.
        client_secret: The application's secret (better an env reference); required.
        transport: Returns the shared transport the token request is sent on.
        authority: The identity platform's address (default :data:`DEFAULT_AUTHORITY`;
            ``https://login.microsoftonline.us`` for Azure Government, a fake server in tests).
        scope: The token's scope (default :data:`COGNITIVE_SERVICES_SCOPE`).
        clock: Wall-clock seconds (``time.time``); tests inject one.
        timeout_s: Time limit of a token request.
        client_name: For messages.
    """

    def __init__(self, *, tenant_id: Any = None, client_id: Any = None, client_secret: Any = None,
                 transport: Callable[[], Any], authority: Any = None, scope: Any = None,
                 clock: Callable[[], float] = time.time, timeout_s: float = 30.0, client_name: str = "") -> None:
        self._tenant = to_ref(tenant_id) if tenant_id is not None else EnvRef("AZURE_TENANT_ID")
        self._client_id = to_ref(client_id) if client_id is not None else EnvRef("AZURE_CLIENT_ID")
        self._secret = to_ref(client_secret)
        self._authority = to_ref(authority) if authority is not None else DEFAULT_AUTHORITY
        self._scope = to_ref(scope) if scope is not None else COGNITIVE_SERVICES_SCOPE
        self._transport = transport
        self._clock = clock
        self._timeout_s = timeout_s
        self._where = f"client {client_name!r}" if client_name else "this azure-openai client"
        self._token: _Token | None = None
        self._refused = False  # the last token request was refused: a new one would be too
        self._lock = threading.Lock()
        #: How many token requests were sent (for tests and diagnostics).
        self.token_requests = 0

    def _setting(self, value: Any, what: str, variable: str) -> str:
        found = resolve_optional(value)
        if not found:
            source = f"environment variable {value.name} is not set" if isinstance(value, EnvRef) else "it is empty"
            raise ConfigError(f"Entra ID for {self._where}: no {what} ({source}; give options.{variable})")
        return str(found)

    def token_url(self) -> str:
        """``{authority}/{tenant}/oauth2/v2.0/token`` (env references read now)."""
        authority = str(resolve_optional(self._authority) or DEFAULT_AUTHORITY).rstrip("/")
        if "://" not in authority:
            authority = "https://" + authority
        tenant = self._setting(self._tenant, "tenant id", "tenant_id")
        return f"{authority}/{quote(tenant, safe='')}/oauth2/v2.0/token"

    def token_request(self) -> HttpRequest:
        """The client-credentials token request; its only secret is the client secret."""
        if self._secret is None:
            raise ConfigError(
                f"Entra ID for {self._where}: no client_secret. Without one BAML uses a managed identity, "
                "which llmclient does not fetch itself: give options.client_secret, or pass "
                "azure_ad_token_provider=azure.identity.get_bearer_token_provider(ManagedIdentityCredential(), "
                f"{COGNITIVE_SERVICES_SCOPE!r})")
        secret = self._setting(self._secret, "client secret", "client_secret")
        client_id = self._setting(self._client_id, "client id", "client_id")
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
                "scope": str(resolve_optional(self._scope) or COGNITIVE_SERVICES_SCOPE)}
        return HttpRequest("POST", self.token_url(), {"Content-Type": "application/x-www-form-urlencoded",
                                                      "Accept": "application/json"},
                           urlencode(form).encode(), False, (secret,))

    def access_token(self) -> str:
        """A token valid for at least five more minutes; one thread fetches, the others wait."""
        token = self._token
        if token is not None and self._clock() < token.expires_at - EXPIRY_MARGIN_S:
            return token.value
        with self._lock:
            token = self._token
            if token is not None and self._clock() < token.expires_at - EXPIRY_MARGIN_S:
                return token.value
            token = self._fetch()
            self._token = token
            return token.value

    def _fetch(self) -> _Token:
        from ..transport import Timeouts

        request = self.token_request()
        now = self._clock()
        self.token_requests += 1
        log.debug("requesting an Entra ID token for app %s from %s", _describe(self._client_id),
                  request.url.rsplit("/oauth2/", 1)[0])
        response = self._transport().send(request, Timeouts(connect=min(10.0, self._timeout_s),
                                                            request=self._timeout_s))
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200 or not isinstance(data, dict) or not data.get("access_token"):
            self._refused = True
            raise self._refusal(response, data, request.secrets)
        self._refused = False
        try:
            lifetime = float(data.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        return _Token(str(data["access_token"]), now + lifetime)

    def _refusal(self, response: Any, data: Any, secrets: tuple[str, ...]) -> LLMError:
        """The typed error for a token answer without a token (AADSTS JSON, or anything else)."""
        body = redact_text(response.body[:2000].decode("utf-8", "replace"), secrets)
        error = data.get("error") if isinstance(data, dict) else None
        detail = (data.get("error_description") if isinstance(data, dict) else None) or error or "no access_token"
        first_line = redact_text(str(detail), secrets).splitlines()[0] if str(detail).strip() else "no access_token"
        server_side = response.status_code >= 500 or response.status_code == 429
        cls: type[LLMError] = ProviderError if server_side else AuthError
        return cls(f"the Microsoft identity platform refused the client credentials of app "
                   f"{_describe(self._client_id)} (HTTP {response.status_code}): {first_line}",
                   provider="azure-openai", status_code=response.status_code, body=body,
                   code=redact_text(str(error), secrets) if error else None, retryable=server_side)

    def apply(self, request: HttpRequest) -> HttpRequest:
        if _user_header_wins(request):
            return request
        token = self.access_token()
        return request.with_headers({"Authorization": "Bearer " + token}, secrets=(token,))

    def refresh(self) -> bool:
        """After a 401: drop the cached token, so that the retry fetches a new one.

        Not when the 401 was the token endpoint's own refusal (a wrong secret stays wrong).
        """
        with self._lock:
            if self._refused:
                return False
            self._token = None
        return True

    def __repr__(self) -> str:
        return f"<EntraClientCredentials app={_describe(self._client_id)} tenant={_describe(self._tenant)}>"


def _describe(value: Any) -> str:
    """An id for messages: ``env.NAME`` for a reference (not read), else the id itself (not a secret)."""
    if isinstance(value, EnvRef):
        return f"env.{value.name}"
    return repr(str(value))


class TokenProviderAuth(AuthProvider):
    """``Authorization: Bearer <provider()>``, asking ``provider`` for a token on every request.

    ``provider`` is a zero-argument callable returning a bearer token string, such as the one
    ``azure.identity.get_bearer_token_provider(DefaultAzureCredential(),
    "https://cognitiveservices.azure.com/.default")`` returns; it must cache its tokens (azure-identity's
    credentials do). After a 401 the call is not retried: the provider decides when a token is renewed.

    Raises (from :meth:`apply`):
        AuthError: The provider raised, or returned something other than a non-empty string.
    """

    def __init__(self, provider: Callable[[], Any]) -> None:
        if not callable(provider):
            raise ConfigError(f"azure_ad_token_provider must be a callable returning a token, not "
                              f"{type(provider).__name__}")
        self._provider = provider

    def apply(self, request: HttpRequest) -> HttpRequest:
        if _user_header_wins(request):
            return request
        try:
            token = self._provider()
        except Exception as exc:
            raise AuthError(f"the azure_ad_token_provider raised {type(exc).__name__}", provider="azure-openai",
                            retryable=False) from exc
        if not isinstance(token, str) or not token.strip():
            raise AuthError(f"the azure_ad_token_provider returned {type(token).__name__}, not a token string",
                            provider="azure-openai", retryable=False)
        token = token.strip().removeprefix("Bearer ").strip()
        return request.with_headers({"Authorization": "Bearer " + token}, secrets=(token,))

    def __repr__(self) -> str:
        return f"<TokenProviderAuth {getattr(self._provider, '__qualname__', type(self._provider).__name__)}>"


def entra_auth_from_options(options: Mapping[str, Any], transport: Callable[[], Any], *,
                            client_name: str = "") -> EntraClientCredentials | None:
    """The client-credentials auth an ``azure-openai`` client's options ask for, or None.

    Entra ID is on when ``tenant_id`` or ``client_id`` is given, as in BAML; the other one then
    defaults to ``AZURE_TENANT_ID`` / ``AZURE_CLIENT_ID``.

    Raises:
        ConfigError: ``api_key`` is given too (BAML rejects both at load).
    """
    if options.get("tenant_id") is None and options.get("client_id") is None:
        if options.get("client_secret") is not None:
            raise ConfigError(f"client {client_name!r}: client_secret is given without tenant_id and client_id "
                              "(Entra ID needs them)")
        return None
    if options.get("api_key") is not None:
        raise ConfigError(f"client {client_name!r}: give api_key or Entra ID (tenant_id, client_id, client_secret), "
                          "not both")
    return EntraClientCredentials(tenant_id=options.get("tenant_id"), client_id=options.get("client_id"),
                                  client_secret=options.get("client_secret"), authority=options.get("authority"),
                                  scope=options.get("scope"), transport=transport, client_name=client_name)

