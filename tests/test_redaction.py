"""The one redaction path: headers by name, URLs by parameter, texts by value and by key shape."""

from __future__ import annotations

import pytest

from llmclient.models import HttpRequest
from llmclient.redaction import REDACTED, redact_headers, redact_text, redact_url

SECRET = "not-a-known-shape-8f2k1Q"


@pytest.mark.parametrize("name", ["Authorization", "authorization", "api-key", "X-Api-Key", "x-goog-api-key",
                                  "X-Amz-Security-Token", "Proxy-Authorization", "Cookie"])
def test_sensitive_headers_are_replaced_whatever_the_case(name: str) -> None:
    out = redact_headers({name: SECRET, "Content-Type": "application/json"})
    assert out == {name: REDACTED, "Content-Type": "application/json"}


def test_redact_headers_returns_a_copy() -> None:
    headers = {"Authorization": "Bearer " + SECRET}
    redact_headers(headers)
    assert headers["Authorization"] == "Bearer " + SECRET


@pytest.mark.parametrize(
    "url, leaked",
    [
        ("https://generativelanguage.googleapis.com/v1beta/models/x:generate?key=" + SECRET + "&alt=sse", SECRET),
        ("https://bucket.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4&X-Amz-Signature=abcdef0123456789", "abcdef0123456789"),
        ("https://host/p?access_token=" + SECRET, SECRET),
        ("https://user:" + SECRET + "@proxy.example:8080/v1", SECRET),
    ],
)
def test_urls_lose_credential_parameters_and_userinfo(url: str, leaked: str) -> None:
    out = redact_url(url)
    assert leaked not in out
    assert REDACTED in out or "%5BREDACTED%5D" in out


def test_url_keeps_harmless_parameters_and_is_unchanged_without_secrets() -> None:
    url = "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
    assert redact_url(url) == url
    out = redact_url("https://h/p?alt=sse&key=" + SECRET)
    assert "alt=sse" in out and SECRET not in out


@pytest.mark.parametrize(
    "text, secret",
    [
        ("Incorrect API key provided: sk-proj-abcdefghijklmnop1234.", "sk-proj-abcdefghijklmnop1234"),
        ("key AIzaSyA1234567890abcdefghijklmnopqrs is invalid", "AIzaSyA1234567890abcdefghijklmnopqrs"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9.payload.sig"),
        ("token ya29.a0AfH6SMBxxxxxxxxxxxxxxx here", "ya29.a0AfH6SMBxxxxxxxxxxxxxxx"),
        ("id AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
        ("Signature=" + "ab" * 32, "ab" * 32),
    ],
)
def test_known_key_shapes_are_removed_from_texts(text: str, secret: str) -> None:
    out = redact_text(text)
    assert secret not in out
    assert REDACTED in out


def test_pem_private_keys_are_removed_whole() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nabc\n-----END PRIVATE KEY-----"
    out = redact_text('{"private_key": "' + pem + '", "x": 1}')
    assert "MIIEvQ" not in out and "BEGIN PRIVATE KEY" not in out
    assert out == '{"private_key": "' + REDACTED + '", "x": 1}'
    rsa = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----"
    assert redact_text(rsa) == REDACTED


def test_exact_secrets_are_removed_by_value() -> None:
    text = f"your key {SECRET} was echoed twice: {SECRET}"
    assert redact_text(text, [SECRET]) == f"your key {REDACTED} was echoed twice: {REDACTED}"
    # Without being told, an unknown shape survives: the by-value path is what catches it.
    assert SECRET in redact_text(text)


def test_short_secrets_are_not_searched_for() -> None:
    assert redact_text("the cat sat", ["cat"]) == "the cat sat"


def test_plain_text_is_untouched() -> None:
    text = "The server had an error while processing your request. Sorry about that!"
    assert redact_text(text, [SECRET]) == text


def test_http_request_repr_never_shows_credentials() -> None:
    request = HttpRequest("POST", "https://h/v1?key=" + SECRET, {"Authorization": "Bearer " + SECRET,
                                                               "api-key": SECRET, "Accept": "x"},
                          b'{"a": 1}', secrets=(SECRET,))
    text = repr(request)
    assert SECRET not in text
    assert "Authorization" in text and REDACTED in text and "'Accept': 'x'" in text
    assert "<8 bytes>" in text
    assert SECRET not in str(request)
