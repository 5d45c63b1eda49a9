"""OptionReader: how a provider reads and checks its options, once, with errors that say where.

Built-in providers mostly rely on the JSON Schemas; a plug-in provider (see
``llmclient.register_provider``) reads its options with this class in its constructor, so that a
wrong type or a missing key is a :class:`ConfigError` naming the client and the option, and
credentials are handled the same way as the built-in ones (env references read per request)::

    class EchoClient(llmclient.LeafClient):
        def __init__(self, *, name="echo", runtime=None, retry_policy=None, **options):
            read = OptionReader(options, provider="echo", client_name=name)
            base_url = read.ensure_string("base_url", required=True)
            auth = read.ensure_api_key(default_env="ECHO_API_KEY")
            read.ensure_known()              # or read.unread() to pass the rest to the body
            ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..auth.api_key import ApiKeyAuth
from ..errors import ConfigError
from ..secrets import EnvRef, to_ref
from .base import COMMON_OPTIONS

__all__ = ["OptionReader"]


class OptionReader:
    """Reads one client's options, remembering which were read.

    Args:
        options: The client's options.
        provider: The provider name, for messages.
        client_name: The client's name, for messages.
    """

    def __init__(self, options: Mapping[str, Any], *, provider: str, client_name: str) -> None:
        self._options = dict(options)
        self._read: set[str] = set(COMMON_OPTIONS)
        self._where = f"client {client_name!r} (provider {provider})"

    def _get(self, key: str, required: bool, default: Any) -> Any:
        self._read.add(key)
        if key not in self._options or self._options[key] is None:
            if required:
                raise ConfigError(f"{self._where}: option {key!r} is required")
            return default
        return to_ref(self._options[key])

    def _fail(self, key: str, wanted: str, value: Any) -> ConfigError:
        return ConfigError(f"{self._where}: option {key!r} must be {wanted} (got {type(value).__name__})")

    def ensure_string(self, key: str, *, required: bool = False, default: str | None = None) -> str | EnvRef | None:
        """A string option (or an env reference, resolved later)."""
        value = self._get(key, required, default)
        if value is not None and not isinstance(value, (str, EnvRef)):
            raise self._fail(key, "a string or env.NAME", value)
        return value

    def ensure_int(self, key: str, *, required: bool = False, default: int | None = None,
                   minimum: int | None = None) -> int | None:
        """An integer option, optionally with a minimum."""
        value = self._get(key, required, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "an integer", value)
        if minimum is not None and value < minimum:
            raise ConfigError(f"{self._where}: option {key!r} must be >= {minimum} (got {value})")
        return value

    def ensure_float(self, key: str, *, required: bool = False, default: float | None = None) -> float | None:
        """A number option."""
        value = self._get(key, required, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(key, "a number", value)
        return float(value)

    def ensure_bool(self, key: str, *, default: bool = False) -> bool:
        """A boolean option."""
        value = self._get(key, False, default)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def ensure_map(self, key: str, *, default: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A map option (string keys)."""
        value = self._get(key, False, default or {})
        if not isinstance(value, Mapping):
            raise self._fail(key, "a map", value)
        return dict(value)

    def ensure_list(self, key: str, *, default: list[Any] | None = None) -> list[Any]:
        """A list option."""
        value = self._get(key, False, default or [])
        if not isinstance(value, (list, tuple)):
            raise self._fail(key, "a list", value)
        return list(value)

    def ensure_api_key(self, *, key: str = "api_key", default_env: str | None = None, header: str = "Authorization",
                       prefix: str = "Bearer ", required: bool = True) -> ApiKeyAuth:
        """Auth from ``api_key`` (a string or env reference; else ``default_env``), read per request."""
        value = self._get(key, False, None)
        if value is not None and not isinstance(value, (str, EnvRef)):
            raise ConfigError(f"{self._where}: option {key!r} must be a string or env.NAME")
        return ApiKeyAuth(value, header=header, prefix=prefix, default_env=default_env, required=required,
                          client_name=self._where)

    def unread(self) -> dict[str, Any]:
        """The options not read so far (e.g. to send as body fields)."""
        return {k: v for k, v in self._options.items() if k not in self._read}

    def ensure_known(self) -> None:
        """Raise a ConfigError naming every option that was never read."""
        unknown = sorted(self.unread())
        if unknown:
            raise ConfigError(f"{self._where}: unknown option(s) {', '.join(map(repr, unknown))}")
