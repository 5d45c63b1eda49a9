"""Google OAuth for Vertex AI: service-account JWTs signed by hand, authorized-user refresh tokens.

Credentials are found, in this order: ``authorization`` (a raw bearer token),
``credentials`` (a file path, JSON text, or the key object), ``credentials_content`` (JSON
text), the file named by ``GOOGLE_APPLICATION_CREDENTIALS``, then gcloud's application-default
file. A service account signs an RS256 JWT with PyJWT (imported on first use) and trades it
at its ``token_uri`` for an access token; an authorized-user file trades its refresh token.
Token requests go through llmclient's shared transport. The access token is cached until five
minutes before it expires, fetched by one thread while the others wait, and dropped after a
401 so that the call is retried once with a new one. The private key never appears in a log,
an error or a repr.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ..errors import AuthError, ConfigError, LLMError, ProviderError
from ..models import HttpRequest
from ..redaction import redact_text
from ..secrets import resolve, resolve_optional, to_ref
from .base import AuthProvider

__all__ = ["GoogleCredentials", "GoogleAuth", "GOOGLE_TOKEN_AUDIENCE", "CLOUD_PLATFORM_SCOPE", "EXPIRY_MARGIN_S",
           "JWT_BEARER_GRANT", "adc_path", "google_project"]

log = logging.getLogger(__name__)

#: The JWT ``aud`` Google expects, whatever the file's token_uri.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: A cached token is replaced this many seconds before it expires.
EXPIRY_MARGIN_S = 300.0
JWT_LIFETIME_S = 3600


def adc_path(environ: Mapping[str, str] | None = None) -> Path:
    """gcloud's application-default credentials file (``gcloud auth application-default login``)."""
    env = os.environ if environ is None else environ
    if env.get("CLOUDSDK_CONFIG"):
        return Path(env["CLOUDSDK_CONFIG"]) / "application_default_credentials.json"
    if os.name == "nt" and env.get("APPDATA"):
        return Path(env["APPDATA"]) / "gcloud" / "application_default_credentials.json"
    return Path.home() / ".config" / "gcloud" / "application_default_credentials.json"


def google_project(credentials: Callable[[], GoogleCredentials] | None,
                   environ: Mapping[str, str] | None = None) -> str:
    """The Google Cloud project of a client that names none: its credentials', else ``GOOGLE_CLOUD_PROJECT``.

    Called when a Vertex client is built (never while a request is built), so that the
    adapter stays pure. ``credentials`` finds the client's credentials (reading the key
    file); None when a custom auth replaces them.

    Raises:
        ConfigError: The credentials cannot be read, or no project is named anywhere.
    """
    if credentials is not None:
        found = credentials().project_id
        if found:
            return str(found)
    env = (os.environ if environ is None else environ).get("GOOGLE_CLOUD_PROJECT")
    if env:
        return env
    raise ConfigError("no Google Cloud project: give options.project_id, use a credentials file that names "
                      "one, or set GOOGLE_CLOUD_PROJECT")


class GoogleCredentials:
    """One resolved credential: a static token, a service account, or an authorized user.

    Build it with :meth:`find`. ``info`` (which holds the private key or refresh token) is
    never shown: the repr names the kind, the account and where it came from.

    Attributes:
        kind: ``token``, ``service_account`` or ``authorized_user``.
        source: Where it was found (``options.credentials``, ``GOOGLE_APPLICATION_CREDENTIALS``...).
        project_id: The project the file names (``project_id`` or ``quota_project_id``), if any.
    """

    def __init__(self, kind: str, source: str, info: Mapping[str, Any] | None = None, token: str | None = None) -> None:
        self.kind = kind
        self.source = source
        self._info = dict(info or {})
        self._token = token
        self.project_id: str | None = self._info.get("project_id") or self._info.get("quota_project_id")
        if kind == "service_account":
            missing = [k for k in ("client_email", "private_key") if not self._info.get(k)]
            if missing:
                raise ConfigError(f"the service-account credentials from {source} lack {', '.join(missing)}")
        elif kind == "authorized_user":
            missing = [k for k in ("client_id", "client_secret", "refresh_token") if not self._info.get(k)]
            if missing:
                raise ConfigError(f"the authorized-user credentials from {source} lack {', '.join(missing)}")

    @property
    def account(self) -> str:
        """The service account's e-mail (or the OAuth client id); no secret."""
        return str(self._info.get("client_email") or self._info.get("client_id") or "")

    @property
    def token_uri(self) -> str:
        """Where tokens are requested (the file's ``token_uri``, else Google's)."""
        return str(self._info.get("token_uri") or GOOGLE_TOKEN_AUDIENCE)

    @classmethod
    def from_value(cls, value: Any, source: str) -> GoogleCredentials:
        """Credentials from an object, JSON text, or a file path (text not starting with ``{``)."""
        if isinstance(value, Mapping):
            return cls.from_info(value, source)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{source}: expected a service-account file path, its JSON text, or an object")
        text = value.strip()
        if text.startswith("{"):
            try:
                info = json.loads(text)
            except ValueError as exc:  # the message has a position only, never the text (it holds the key)
                raise ConfigError(f"{source}: the credentials JSON is invalid (line {getattr(exc, 'lineno', '?')})"
                                  ) from None
            return cls.from_info(info, source)
        return cls.from_file(Path(text).expanduser(), source)

    @classmethod
    def from_file(cls, path: Path, source: str) -> GoogleCredentials:
        """Credentials from a JSON key file."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read credentials file {str(path)!r} ({exc.strerror})") from None
        try:
            info = json.loads(text)
        except ValueError:
            raise ConfigError(f"{source}: credentials file {str(path)!r} is not valid JSON") from None
        return cls.from_info(info, f"{source} ({path})")

    @classmethod
    def from_info(cls, info: Any, source: str) -> GoogleCredentials:
        """Credentials from a parsed key object (``type`` service_account or authorized_user)."""
        if not isinstance(info, Mapping):
            raise ConfigError(f"{source}: the credentials must be a JSON object")
        kind = info.get("type")
        if kind not in ("service_account", "authorized_user"):
            raise ConfigError(f"{source}: credentials of type {kind!r} are not supported "
                              "(service_account or authorized_user)")
        return cls(str(kind), source, info)

    @classmethod
    def find(cls, *, authorization: Any = None, credentials: Any = None, credentials_content: Any = None,
             environ: Mapping[str, str] | None = None) -> GoogleCredentials:
        """The first credential found, in the documented order.

        Raises:
            ConfigError: None found, or one that cannot be read.
        """
        env = os.environ if environ is None else environ
        token = resolve_optional(to_ref(authorization), environ=environ)
        if token:
            return cls("token", "options.authorization", token=str(token).removeprefix("Bearer ").strip())
        if credentials is not None:
            return cls.from_value(resolve(to_ref(credentials), what="options.credentials", environ=environ),
                                  "options.credentials")
        if credentials_content is not None:
            content = resolve(to_ref(credentials_content), what="options.credentials_content", environ=environ)
            if isinstance(content, str) and not content.strip().startswith("{"):
                raise ConfigError("options.credentials_content must be the key file's JSON text")
            return cls.from_value(content, "options.credentials_content")
        named = env.get("GOOGLE_APPLICATION_CREDENTIALS")
        if named:
            return cls.from_file(Path(named).expanduser(), "GOOGLE_APPLICATION_CREDENTIALS")
        default = adc_path(env)
        if default.is_file():
            return cls.from_file(default, "gcloud application-default credentials")
        raise ConfigError("no Google credentials: give options.credentials (a service-account key file), "
                          "credentials_content or authorization, set GOOGLE_APPLICATION_CREDENTIALS, or run "
                          "'gcloud auth application-default login'")

    def token_request(self, now: float) -> HttpRequest:
        """The token request: a signed JWT assertion, or a refresh-token grant."""
        if self.kind == "service_account":
            assertion = self.assertion(now)
            form = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
            secrets: tuple[str, ...] = (assertion,)
        elif self.kind == "authorized_user":
            form = {"grant_type": "refresh_token", "client_id": str(self._info["client_id"]),
                    "client_secret": str(self._info["client_secret"]),
                    "refresh_token": str(self._info["refresh_token"])}
            secrets = (form["client_secret"], form["refresh_token"])
        else:
            raise ConfigError("a raw authorization token cannot be refreshed")
        return HttpRequest("POST", self.token_uri, {"Content-Type": "application/x-www-form-urlencoded",
                                                    "Accept": "application/json"},
                           urlencode(form).encode(), False, secrets)

    def assertion(self, now: float) -> str:
        """The RS256 JWT a service account trades for an access token (valid one hour from ``now``)."""
        import jwt

        iat = int(now)
        claims = {"iat": iat, "exp": iat + JWT_LIFETIME_S, "iss": self._info["client_email"],
                  "aud": GOOGLE_TOKEN_AUDIENCE, "scope": CLOUD_PLATFORM_SCOPE}
        headers = {"typ": "JWT", "alg": "RS256"}
        if self._info.get("private_key_id"):
            headers["kid"] = str(self._info["private_key_id"])
        try:
            return jwt.encode(claims, self._info["private_key"], algorithm="RS256", headers=headers)
        except Exception as exc:  # never let a library message quote the key
            raise ConfigError(f"the service account's private_key from {self.source} cannot sign "
                              f"({type(exc).__name__}); is it the PEM key of the JSON file?") from None

    @property
    def static_token(self) -> str | None:
        """The raw bearer token of an ``authorization`` credential."""
        return self._token

    def __repr__(self) -> str:
        account = f" {self.account}" if self.account else ""
        return f"<GoogleCredentials {self.kind}{account} from {self.source}>"


class _Token:
    __slots__ = ("value", "expires_at")

    def __init__(self, value: str, expires_at: float) -> None:
        self.value = value
        self.expires_at = expires_at


class GoogleAuth(AuthProvider):
    """``Authorization: Bearer <access token>`` for Vertex AI, with a cached, single-flight token.

    Args:
        find: Returns the credentials; called once, on the first request.
        transport: Returns the shared transport the token request is sent on.
        clock: Wall-clock seconds (``time.time``); tests inject one.
        timeout_s: Time limit of a token request.
    """

    def __init__(self, find: Callable[[], GoogleCredentials], transport: Callable[[], Any], *,
                 clock: Callable[[], float] = time.time, timeout_s: float = 30.0) -> None:
        self._find = find
        self._transport = transport
        self._clock = clock
        self._timeout_s = timeout_s
        self._credentials: GoogleCredentials | None = None
        self._token: _Token | None = None
        self._lock = threading.Lock()
        self.token_requests = 0

    def credentials(self) -> GoogleCredentials:
        """The credentials, found on first use."""
        found = self._credentials
        if found is None:
            with self._lock:
                if self._credentials is None:
                    self._credentials = self._find()
                found = self._credentials
        return found

    def access_token(self) -> str:
        """A token valid for at least five more minutes; one thread fetches, the others wait."""
        credentials = self.credentials()
        if credentials.static_token is not None:
            return credentials.static_token
        token = self._token
        if token is not None and self._clock() < token.expires_at - EXPIRY_MARGIN_S:
            return token.value
        with self._lock:
            token = self._token
            if token is not None and self._clock() < token.expires_at - EXPIRY_MARGIN_S:
                return token.value
            token = self._fetch(credentials)
            self._token = token
            return token.value

    def _fetch(self, credentials: GoogleCredentials) -> _Token:
        from ..transport import Timeouts

        now = self._clock()
        request = credentials.token_request(now)
        self.token_requests += 1
        log.debug("requesting a Google access token for %s from %s", credentials.account or credentials.kind,
                  credentials.token_uri)
        response = self._transport().send(request, Timeouts(connect=min(10.0, self._timeout_s),
                                                            request=self._timeout_s))
        body = redact_text(response.body[:2000].decode("utf-8", "replace"), request.secrets)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200 or not isinstance(data, dict) or not data.get("access_token"):
            error = data.get("error") if isinstance(data, dict) else None
            detail = (data.get("error_description") if isinstance(data, dict) else None) or error or "no token"
            cls: type[LLMError] = ProviderError if response.status_code >= 500 else AuthError
            raise cls(f"the token endpoint refused {credentials!r}: {redact_text(str(detail), request.secrets)}",
                      provider="vertex-ai", status_code=response.status_code, body=body,
                      code=str(error) if error else None, retryable=response.status_code >= 500)
        try:
            lifetime = float(data.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        return _Token(str(data["access_token"]), now + lifetime)

    def apply(self, request: HttpRequest) -> HttpRequest:
        for name in request.headers:
            if name.lower() == "authorization":  # the user's own header wins
                return request
        token = self.access_token()
        return request.with_headers({"Authorization": "Bearer " + token}, secrets=(token,))

    def refresh(self) -> bool:
        """After a 401: drop the cached token and retry once (not for a raw ``authorization`` token)."""
        credentials = self._credentials
        if credentials is None or credentials.static_token is not None:
            return False
        self._token = None
        return True

    def __repr__(self) -> str:
        return f"<GoogleAuth {self._credentials!r}>" if self._credentials else "<GoogleAuth (not loaded yet)>"
