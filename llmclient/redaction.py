"""The one redaction path: every header, URL and body that reaches a log line, an error or a repr.

Credentials are removed three ways, because each catches what the others miss:

* by header name (``Authorization``, ``api-key``, ``x-api-key``, ``x-goog-api-key``,
  ``X-Amz-Security-Token``, cookies...), whatever the value;
* by URL query parameter name (``key``, ``X-Amz-Signature``, ``access_token``...);
* by value: the exact secrets a request was signed with, and well-known key shapes
  (``sk-...``, ``AIza...``, ``ya29....``, AWS access key ids, PEM private keys,
  ``Signature=<hex>``), wherever they appear in a text such as an echoed error body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["REDACTED", "SENSITIVE_HEADERS", "RedactedCause", "redact_headers", "redact_url", "redact_text"]

REDACTED = "[REDACTED]"

#: Header names (lower case) whose values are credentials.
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "x-goog-api-key",
        "x-amz-security-token",
        "x-amz-content-sha256-signature",
        "cookie",
        "set-cookie",
    }
)

_SENSITIVE_QUERY = frozenset(
    {"key", "api_key", "api-key", "access_token", "token", "sig", "signature", "x-amz-signature",
     "x-amz-security-token", "x-amz-credential", "code"}
)

_SECRET_PATTERNS = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----"
    r"|\bsk-[A-Za-z0-9_\-]{8,}"
    r"|\bAIza[0-9A-Za-z_\-]{20,}"
    r"|\bya29\.[0-9A-Za-z_\-\.]{10,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|(?<=Signature=)[0-9a-f]{64}"
    r"|(?<=Bearer )[A-Za-z0-9_\-\.=:/+]{8,}",
    re.DOTALL,
)

_QUERY_IN_TEXT = re.compile(
    r"(?i)([?&](?:" + "|".join(re.escape(k) for k in sorted(_SENSITIVE_QUERY)) + r")=)[^&\s'\")]+")

#: Secrets shorter than this are not searched for by value (they would match ordinary words).
_MIN_SECRET_LEN = 6


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return a copy of ``headers`` with every credential-bearing value replaced.

    Used for reprs, log lines and the ``build_request`` debugging view; the real
    request keeps its headers.
    """
    return {
        name: (REDACTED if name.lower() in SENSITIVE_HEADERS else value)
        for name, value in headers.items()
    }


def redact_url(url: str) -> str:
    """Return ``url`` with credential-bearing query parameters and userinfo removed."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in _SENSITIVE_QUERY for k, _ in pairs):
            query = urlencode([(k, REDACTED if k.lower() in _SENSITIVE_QUERY else v) for k, v in pairs])
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove the given secret values and well-known credential shapes from ``text``.

    Args:
        text: Any text that may echo a credential, e.g. a proxy's error page.
        secrets: The exact values used to authenticate the request that produced it.
    """
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_LEN and secret in text:
            text = text.replace(secret, REDACTED)
    return _SECRET_PATTERNS.sub(REDACTED, text)


class RedactedCause(Exception):
    """Stands in for a lower layer's exception as the ``__cause__`` of an llmclient error.

    A requests or urllib3 exception can quote the URL it failed on, query string and all
    (Google's ``?key=``), so it is never chained as it is: this keeps its type and its
    redacted text, which is what a traceback needs to tell what happened underneath.
    """

    @classmethod
    def of(cls, exc: BaseException, secrets: Iterable[str] = ()) -> RedactedCause:
        """The stand-in for ``exc``: ``module.Type: redacted message``."""
        text = _QUERY_IN_TEXT.sub(lambda m: m.group(1) + REDACTED, str(exc))
        return cls(f"{type(exc).__module__}.{type(exc).__qualname__}: {redact_text(text, secrets)}")
