"""Messages for schema violations: what the user should change, at its JSON path, never a secret.

Messages are written here rather than taken from jsonschema, for two reasons: jsonschema's
messages quote the offending value, which may be a credential, and they describe schema
keywords rather than what the user should change. A value is quoted only when it is a scalar
at a path that cannot hold a secret. Used by :mod:`llmclient.config.schema`, which finds the
problems; this module only words them.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["JsonPath", "Problem", "SECRET_KEYS", "NAME", "NAME_RULE", "describe", "did_you_mean", "format_path",
           "kind_of", "sort_key"]

JsonPath = tuple[str | int, ...]
Problem = tuple[JsonPath, str]

#: Option names whose values (and everything inside them) are never quoted in a message.
SECRET_KEYS: frozenset[str] = frozenset({"api_key", "authorization", "secret_access_key", "session_token",
                                          "access_key_id", "credentials_content", "credentials", "headers"})
#: A name a client, retry policy or path segment may have without quoting.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
NAME_RULE = "use letters, digits, '_' and '-', starting with a letter or '_'"

_KINDS: Mapping[type, str] = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string",
                              dict: "object", list: "array"}
_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
_SIZES = {"minItems": "least {} item(s)", "maxItems": "most {} item(s)", "minLength": "least {} character(s)",
          "maxLength": "most {} character(s)", "minProperties": "least {} key(s)", "maxProperties": "most {} key(s)"}


def format_path(path: Iterable[str | int]) -> str:
    """Write a path as JSONPath: ``$.clients.GPT4.options.strategy[0]``."""
    parts = ["$"]
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif NAME.match(part):
            parts.append(f".{part}")
        else:
            parts.append(f"[{json.dumps(part)}]")
    return "".join(parts)


def describe(error: Any, prefix: JsonPath) -> Iterator[Problem]:
    """Turn one jsonschema error into problems a user can act on (and that hold no secret)."""
    path: JsonPath = (*prefix, *error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    custom = _custom_message(schema, error.validator)
    if error.validator == "additionalProperties":
        yield from _unknown_keys(error.instance, schema, path)
    elif error.validator in ("anyOf", "oneOf"):
        yield from _alternatives(error, schema, path, prefix, custom)
    elif custom:
        yield path, custom
    elif "propertyNames" in error.relative_schema_path:
        yield path, f"{error.instance!r} is not a valid name: {NAME_RULE}"
    else:
        yield path, _message(error, _is_secret(path))


def _custom_message(schema: Mapping[str, Any], keyword: Any) -> str | None:
    """The schema's own ``errorMessage`` for ``keyword`` (a string, or a dict by keyword)."""
    message = schema.get("errorMessage")
    if isinstance(message, dict):
        message = message.get(keyword)
    return message if isinstance(message, str) else None


def _unknown_keys(instance: Any, schema: Mapping[str, Any], path: JsonPath) -> Iterator[Problem]:
    """One problem per unknown key, at the key's path, with a close match or a hint."""
    known = sorted(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    hints: Mapping[str, str] = schema.get("x-unknown-key-hints", {})
    for key in instance:
        if key in known or any(re.search(pattern, str(key)) for pattern in patterns):
            continue
        message = f"unknown key {key!r}" + did_you_mean(str(key), known)
        hint = hints.get(str(key), hints.get("*"))
        yield (*path, key), f"{message} ({hint})" if hint else message


def _alternatives(
    error: Any, schema: Mapping[str, Any], path: JsonPath, prefix: JsonPath, custom: str | None
) -> Iterator[Problem]:
    """Describe an anyOf/oneOf failure by what the user most likely meant."""
    instance = error.instance
    groups = _required_groups(error.validator_value)
    if groups is not None and isinstance(instance, dict):
        head = custom or f"exactly one of {_join_groups(groups)} is needed"
        given = [group for group in groups if all(key in instance for key in group)]
        if given:
            yield path, f"{head} (given: {_join_groups(given, 'and')})"
            return
        partial = any(key in instance for group in groups for key in group)
        if not (partial and "dependentRequired" in schema):  # else the dependency error says it
            yield path, f"{head} (none given)"
        return
    branches: dict[Any, list[Any]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    plausible = [subs for subs in branches.values()
                 if not any(sub.validator == "type" and not sub.relative_path for sub in subs)]
    if len(plausible) == 1:  # the instance has the type of exactly one alternative: explain it
        for sub in plausible[0]:
            yield from describe(sub, prefix)
    elif custom:
        yield path, custom + _enum_suggestion(error, path)
    elif error.validator == "oneOf" and not error.context:
        yield path, "matches more than one of the allowed forms"
    else:
        yield path, f"does not match any of the allowed forms{_got(instance, _is_secret(path))}"


def _enum_suggestion(error: Any, path: JsonPath) -> str:
    """A close match for a mistyped word among the enums of an anyOf's alternatives."""
    if not isinstance(error.instance, str) or _is_secret(path):
        return ""
    words = [str(word) for sub in error.context or () if sub.validator == "enum" for word in sub.validator_value]
    return did_you_mean(error.instance, words)


def _required_groups(branches: Any) -> list[list[str]] | None:
    """The key groups of ``oneOf: [{required: [...]}, ...]``, or None for other shapes."""
    if not isinstance(branches, list) or not all(isinstance(b, dict) and list(b) == ["required"] for b in branches):
        return None
    return [list(branch["required"]) for branch in branches]


def _join_groups(groups: list[list[str]], word: str = "or") -> str:
    """``[[a, b], [c]]`` -> ``"a with b or c"``."""
    names = [" with ".join(group) for group in groups]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"


def _message(error: Any, secret: bool) -> str:
    """A message for one failed keyword; quotes the value only when ``secret`` is false."""
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    show = not secret and _is_scalar(instance)
    got = _got(instance, secret)
    if keyword == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        return f"must be of type {' or '.join(types)}{got}"
    if keyword in ("enum", "const"):
        allowed = expected if keyword == "enum" else [expected]
        words = ", ".join(repr(value) for value in allowed)
        if not show:
            return f"must be one of {words}"
        suggestion = did_you_mean(str(instance), [str(value) for value in allowed])
        return f"{instance!r} is not one of {words}{suggestion}"
    if keyword in _BOUNDS:
        return f"must be {_BOUNDS[keyword]} {expected}{got}"
    if keyword == "pattern":
        return f"must match {expected}{got}"
    if keyword in _SIZES:
        return "must have at " + _SIZES[keyword].format(expected)
    if keyword == "uniqueItems":
        return "must not contain duplicates"
    if keyword == "required":
        return re.sub(r" is a required property$", " is required", error.message)
    if keyword == "dependentRequired":
        found = re.match(r"^(.*) is a dependency of (.*)$", error.message)
        return f"{found[2]} also needs {found[1]}" if found else "a required key is missing"
    if keyword == "not":
        return "this combination is not allowed"
    return str(error.message) if show else f"is not valid ({keyword})"


def _got(instance: Any, secret: bool) -> str:
    """`` (got string 'x')``, or only the type when the value may be (or hold) a secret."""
    if not secret and _is_scalar(instance):
        return f" (got {kind_of(instance)} {instance!r})"
    return f" (got {kind_of(instance)})"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'openai'?"`` when a choice is close to ``word`` (case ignored)."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else ""


def _is_secret(path: JsonPath) -> bool:
    """Whether a value at ``path`` may be (or contain) a credential."""
    return any(isinstance(part, str) and part in SECRET_KEYS for part in path)


def _is_scalar(value: Any) -> bool:
    """Whether ``value`` is a JSON scalar (which a message may quote, outside secret paths)."""
    return value is None or isinstance(value, (str, int, float, bool))


def kind_of(value: Any) -> str:
    """The JSON type name of ``value`` (Python's for non-JSON values)."""
    return _KINDS.get(type(value), type(value).__name__)


def sort_key(problem: Problem) -> tuple[tuple[tuple[int, str], ...], str]:
    """Sort by path (array indexes numerically), then message."""
    path, message = problem
    key = tuple((0, f"{part:012d}") if isinstance(part, int) else (1, part) for part in path)
    return key, message
