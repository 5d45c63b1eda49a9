"""AWS request signing: SigV4 with botocore's credential chain, or a Bedrock API key as a bearer token.

Only ``botocore.auth.SigV4Auth`` signs; llmclient sends the bytes itself on its shared
transport. botocore is imported the first time a request is signed, or when a client without
a ``region`` looks for the profile's (``import llmclient`` must not import it). Credentials
are looked up when a request is made, not when the client is built, and again for every
request (and every retry), so that rotated environment variables, refreshed
SSO/instance-role credentials and edited credential files keep working; a region that was
not given is looked up once, when the client is built (:meth:`AwsCredentialSource.settle_region`).
Nothing here logs, formats or reprs a secret.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlsplit

from ..errors import AuthError, ConfigError
from ..models import HttpRequest
from ..secrets import resolve, resolve_optional, to_ref
from .base import AuthProvider

__all__ = ["AwsCredentialSource", "SigV4Auth", "BedrockAuth", "BEARER_ENV"]

#: Where botocore (and llmclient) look for a Bedrock API key.
BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"


class AwsCredentialSource:
    """Where a client's AWS region and credentials come from, looked up lazily.

    Explicit keys (plain values or env references) are read on every request; otherwise
    botocore's default chain runs (environment, shared files, SSO, container, instance
    metadata) for ``profile`` or the default profile. Refreshable credentials refresh
    themselves; static ones (environment, files) are looked up again on every request.

    Args:
        region: The region, or None for ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the
            profile's region.
        access_key_id: An explicit key id (must come with ``secret_access_key``).
        secret_access_key: The explicit secret key.
        session_token: A session token for temporary explicit keys.
        profile: A named profile of the shared config files (not together with keys).
        client_name: For messages.
    """

    def __init__(self, *, region: Any = None, access_key_id: Any = None, secret_access_key: Any = None,
                 session_token: Any = None, profile: Any = None, client_name: str = "") -> None:
        where = f"client {client_name!r}: " if client_name else ""
        if (access_key_id is None) != (secret_access_key is None):
            raise ConfigError(f"{where}give both access_key_id and secret_access_key, or neither")
        if session_token is not None and access_key_id is None:
            raise ConfigError(f"{where}session_token needs access_key_id and secret_access_key")
        if profile is not None and access_key_id is not None:
            raise ConfigError(f"{where}give a profile or access keys, not both")
        self._region = to_ref(region)
        self._access_key_id = to_ref(access_key_id)
        self._secret_access_key = to_ref(secret_access_key)
        self._session_token = to_ref(session_token)
        self._profile = to_ref(profile)
        self.client_name = client_name
        self._lock = threading.Lock()
        self._session: Any = None
        self._resolver: Any = None
        self._cached: Any = None
        self._load_lock = threading.Lock()
        self._settled: str | ConfigError | None = None

    @property
    def explicit(self) -> bool:
        """Whether explicit keys were given (the default chain is not used)."""
        return self._access_key_id is not None

    def _botocore_session(self) -> Any:
        with self._lock:
            if self._session is None:
                import botocore.session  # type: ignore[import-untyped]

                profile = resolve_optional(self._profile)
                self._session = botocore.session.Session(profile=profile) if profile else botocore.session.Session()
            return self._session

    def settle_region(self) -> None:
        """Look the region up now (when the client is built) unless ``region`` was given.

        Then building a request (the adapter's URL) and signing it read no environment
        variable or file, and both use the same region. A lookup that finds none is not
        an error yet: :meth:`region` raises it for every request.
        """
        if self._region is None and self._settled is None:
            try:
                self._settled = self.region()
            except ConfigError as err:
                self._settled = err

    def region(self) -> str:
        """The region to call and sign for (see :meth:`settle_region`).

        Raises:
            ConfigError: No region anywhere.
        """
        if self._region is not None:
            return str(resolve(self._region, what="option region"))
        settled = self._settled
        if settled is not None:
            if isinstance(settled, ConfigError):
                raise settled.with_traceback(None)
            return settled
        found = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not found:
            try:
                found = self._botocore_session().get_config_variable("region")
            except Exception:  # a broken profile: report the missing region instead
                found = None
        if not found:
            raise ConfigError("no AWS region: give options.region, or set AWS_REGION / AWS_DEFAULT_REGION "
                              "or a region in the profile", client_name=self.client_name or None)
        return str(found)

    def credentials(self) -> Any:
        """Frozen botocore credentials (access key, secret key, token) for one request.

        Raises:
            ConfigError: An env reference of an explicit key is not set.
            AuthError: botocore's chain found no credentials.
        """
        from botocore.credentials import Credentials, RefreshableCredentials  # type: ignore[import-untyped]

        if self._access_key_id is not None:
            token = resolve(self._session_token, what="session_token") if self._session_token is not None else None
            return Credentials(str(resolve(self._access_key_id, what="access_key_id")),
                               str(resolve(self._secret_access_key, what="secret_access_key")),
                               str(token) if token else None).get_frozen_credentials()
        cached = self._cached
        if not isinstance(cached, RefreshableCredentials):
            cached = self._load()
        if cached is None:
            raise AuthError("no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, "
                            "SSO or an instance role, or give access_key_id and secret_access_key",
                            provider="aws-bedrock", client_name=self.client_name or None, retryable=False)
        return cached.get_frozen_credentials()

    def _load(self) -> Any:
        from botocore.credentials import RefreshableCredentials, create_credential_resolver

        with self._load_lock:
            cached = self._cached
            if isinstance(cached, RefreshableCredentials):  # another thread just loaded them
                return cached
            try:
                if self._resolver is None:
                    self._resolver = create_credential_resolver(self._botocore_session())
                found = self._resolver.load_credentials()
            except Exception as exc:  # botocore's provider errors (bad profile, SSO expired...)
                raise AuthError(f"could not load AWS credentials: {type(exc).__name__}", provider="aws-bedrock",
                                client_name=self.client_name or None, retryable=False) from None
            # Keep refreshable credentials (they refresh themselves); look static ones up again next time.
            self._cached = found if isinstance(found, RefreshableCredentials) else None
            return found

    def forget(self) -> bool:
        """Drop cached chain credentials (after a 401); True when there was something to drop."""
        if self.explicit:
            return False
        self._cached = None
        return True

    def __repr__(self) -> str:
        keys = "explicit" if self.explicit else "default chain"
        profile = f" profile={self._profile!r}" if self._profile is not None else ""
        return f"<AwsCredentialSource {keys}{profile}>"


class SigV4Auth(AuthProvider):
    """Signs each request with AWS Signature Version 4 over the exact bytes sent.

    A fresh signature (new ``X-Amz-Date``) is made for every attempt, including retries.
    ``X-Amz-Security-Token`` is added (and signed) when the credentials have a session token.

    Args:
        source: Where region and credentials come from.
        service: The signing name (``bedrock`` for Bedrock Runtime).
    """

    def __init__(self, source: AwsCredentialSource, *, service: str = "bedrock") -> None:
        self.source = source
        self.service = service

    def apply(self, request: HttpRequest) -> HttpRequest:
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]

        credentials = self.source.credentials()
        region = self.source.region()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("authorization", "x-amz-date", "x-amz-security-token")}
        aws_request = AWSRequest(method=request.method, url=request.url, data=request.body, headers=headers)
        _quiet_signer(credentials, self.service, region).add_auth(aws_request)
        signed = {name: str(value) for name, value in aws_request.headers.items()}
        secrets = [credentials.secret_key] + ([credentials.token] if credentials.token else [])
        return HttpRequest(request.method, request.url, signed, request.body, request.stream,
                           tuple(request.secrets) + tuple(secrets))

    def refresh(self) -> bool:
        """After a 401: drop cached chain credentials and sign once more with fresh ones."""
        return self.source.forget()

    def __repr__(self) -> str:
        return f"<SigV4Auth service={self.service!r} {self.source!r}>"


class BedrockAuth(AuthProvider):
    """Bedrock's built-in auth: a Bedrock API key as a bearer token, else SigV4.

    The API key comes from ``api_key`` (a value or env reference), else, when no explicit
    AWS keys or profile were given, from ``AWS_BEARER_TOKEN_BEDROCK`` if it is set when the
    request is made. A bearer token is refused over plain http, as botocore does.

    Args:
        source: Region and credentials for SigV4.
        api_key: A Bedrock API key, or None.
        uses_chain: Whether SigV4 would use the default chain (then the env key may replace it).
    """

    def __init__(self, source: AwsCredentialSource, *, api_key: Any = None, uses_chain: bool = True) -> None:
        self.source = source
        self.sigv4 = SigV4Auth(source, service="bedrock")
        self._api_key = to_ref(api_key)
        self._uses_chain = uses_chain

    def _bearer(self) -> str | None:
        if self._api_key is not None:
            return str(resolve(self._api_key, what="api_key"))
        if self._uses_chain:
            return os.environ.get(BEARER_ENV) or None
        return None

    def apply(self, request: HttpRequest) -> HttpRequest:
        for name in request.headers:
            if name.lower() == "authorization":  # the user's own header wins
                return request
        token = self._bearer()
        if token is None:
            return self.sigv4.apply(request)
        if urlsplit(request.url).scheme != "https":
            raise ConfigError("a Bedrock API key (bearer token) is only sent over https; "
                              f"endpoint {urlsplit(request.url).netloc} is plain http",
                              client_name=self.source.client_name or None)
        return request.with_headers({"Authorization": "Bearer " + token}, secrets=(token,))

    def refresh(self) -> bool:
        """After a 401: SigV4 may retry with freshly loaded credentials; a fixed API key may not."""
        return self._bearer() is None and self.sigv4.refresh()

    def __repr__(self) -> str:
        key = "api_key" if self._api_key is not None else BEARER_ENV + " or SigV4"
        return f"<BedrockAuth {key} {self.source!r}>"


_SIGNER: list[Any] = []


def _quiet_signer(credentials: Any, service: str, region: str) -> Any:
    """A ``SigV4Auth`` whose ``add_auth`` does not log the canonical request (it holds the token).

    The class is made once, on first use, because botocore is imported lazily.
    """
    if not _SIGNER:
        import botocore.auth  # type: ignore[import-untyped]

        class _Quiet(botocore.auth.SigV4Auth):  # type: ignore[misc]
            def add_auth(self, request: Any) -> None:
                request.context["timestamp"] = botocore.auth.get_current_datetime().strftime(
                    botocore.auth.SIGV4_TIMESTAMP)
                self._modify_request_before_signing(request)
                canonical = self.canonical_request(request)
                signature = self.signature(self.string_to_sign(request, canonical), request)
                self._inject_signature_to_request(request, signature)

        _SIGNER.append(_Quiet)
    return _SIGNER[0](credentials, service, region)
