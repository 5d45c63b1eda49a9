"""The ``.baml`` front end: BAML ``client<llm>`` and ``retry_policy`` blocks to a raw config dict.

Its one responsibility is BAML syntax. :func:`parse_baml` is pure (text in, dict out) and
returns the raw config that :func:`llmclient.config.schema.validate_config` checks, in the
spellings BAML users write (``baml-fallback``, ``openai/azure``, ``initial_delay``...);
canonicalisation happens later, in ``canonical.py``, exactly as for a ``.json`` config.
:func:`load_baml` only reads files (one, or every ``*.baml`` of a folder) and merges them.

Every other top-level BAML declaration (``function``, ``class``, ``enum``, ``test``,
``generator``, ``template_string``, ``type`` aliases...) is skipped, so that a whole
``baml_src/`` folder loads. The tokenizer is a single hand-written pass over the text.
"""

from __future__ import annotations

import difflib
import re
import textwrap
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["load_baml", "parse_baml"]

_TRIVIA = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)*", re.S)
_BARE = re.compile(r'[^\s{}\[\],"]+')
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)\Z")
_ENV = re.compile(r"env\.([A-Za-z_][A-Za-z0-9_]*)\Z")
_QUOTED = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_BLOCK_OPEN = re.compile(r'(#+)"')
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_SKIP_STOP = re.compile(r'[{}"#/]')
_HEADER_WORD = re.compile(r'[^\s{}"#/]+')
_BOUNDARY = frozenset(" \t\r\n\f\v{}[](),")
_FIRST_WORD = re.compile(r'\s*"?([^\s"{}\[\],]*)"?')
_SECRET_MAPS = frozenset({"headers", "credentials"})
_SECRET_WORD = re.compile(r"key|secret|token(?!s)|authorization|password|credential", re.I)
_WORDS = {"true": True, "false": False, "null": None}
#: Top-level BAML declarations that hold no client configuration; skipped without a word.
_SKIPPED = frozenset({"function", "class", "enum", "test", "generator", "template_string", "type", "printer",
                      "dynamic", "override"})
_NAME_RULE = "use letters, digits, '_' and '-', starting with a letter or '_'"
_KINDS = {"client": "clients", "retry_policy": "retry_policies"}
_NOUNS = {"clients": "client", "retry_policies": "retry policy"}


def parse_baml(text: str, *, filename: str = "<string>") -> dict[str, Any]:
    """Parse BAML source into a raw config dict, ready for ``validate_config``.

    Use this when the BAML text is already in memory; :func:`load_baml` reads files.

    Args:
        text: The content of one ``.baml`` file.
        filename: The name used in error messages.

    Returns:
        ``{"clients": {name: {"provider": ..., "options": {...}, ...}},
        "retry_policies": {name: {...}}}``, in file order. Values are plain JSON data;
        ``env.NAME`` becomes ``{"env": "NAME"}``.

    Raises:
        ConfigError: On a syntax error, as ``file:line:col: message`` followed by the
            offending line and a caret under the column.
    """
    return _Parser(text, filename).parse()


def load_baml(path: Path) -> dict[str, Any]:
    """Read a ``.baml`` file, or every ``*.baml`` file under a folder, into one raw config.

    A folder is searched recursively and its files are read in sorted order, so the
    result does not depend on the file system. Use this for a whole ``baml_src/`` folder.

    Raises:
        ConfigError: A file cannot be read or has a syntax error, the folder holds no
            ``.baml`` file, or a client or retry policy is defined in two files (the
            message names both places).
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(found for found in path.rglob("*.baml") if found.is_file())
        if not files:
            raise ConfigError(f"{path}: this folder holds no .baml file")
    else:
        files = [path]
    merged: dict[str, dict[str, Any]] = {"clients": {}, "retry_policies": {}}
    origins: dict[tuple[str, str], str] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read the config ({exc.strerror or exc})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{file}: a .baml file must be UTF-8 text") from None
        parser = _Parser(text, str(file))
        config = parser.parse()
        for kind, entries in config.items():
            for name, value in entries.items():
                here = parser.location(parser.positions[kind, name])
                first = origins.get((kind, name))
                if first is not None:
                    raise ConfigError(f"{here}: {_NOUNS[kind]} {name!r} is already defined at {first}")
                origins[kind, name] = here
                merged[kind][name] = value
    return merged


class _Parser:
    """One pass over one file's text; ``pos`` is the index of the next unread character."""

    def __init__(self, text: str, filename: str) -> None:
        self.text = text[1:] if text.startswith("\ufeff") else text
        self.filename = filename
        self.pos = 0
        self.end = len(self.text)
        #: (kind, name) -> index of the declaration's name, for messages about duplicates.
        self.positions: dict[tuple[str, str], int] = {}
        #: The keys of the values being parsed (outermost first), to hide credentials in errors.
        self.keys: list[str] = []

    # -- top level --------------------------------------------------------------------------

    def parse(self) -> dict[str, Any]:
        """Parse every declaration; keep clients and retry policies, skip the rest."""
        result: dict[str, dict[str, Any]] = {"clients": {}, "retry_policies": {}}
        while True:
            self._skip_trivia()
            if self.pos >= self.end:
                return result
            start = self.pos
            word = _IDENT.match(self.text, start)
            if word is None:
                raise self._error(start, f"expected a declaration (client<llm>, retry_policy, function, class, "
                                         f"...), found {self._found(start)}")
            keyword = word.group()
            self.pos = word.end()
            if keyword in _KINDS:
                kind = _KINDS[keyword]
                if keyword == "client":
                    self._client_type()
                name, name_pos = self._declaration_name(_NOUNS[kind])
                if (kind, name) in self.positions:
                    first = self.location(self.positions[kind, name])
                    raise self._error(name_pos, f"{_NOUNS[kind]} {name!r} is already defined at {first}")
                self._skip_trivia()
                if not self.text.startswith("{", self.pos):
                    raise self._error(self.pos, f"expected '{{' after {_NOUNS[kind]} name")
                self.positions[kind, name] = name_pos
                result[kind][name] = self._map()
            elif keyword == "type":
                self._skip_type_alias()
            elif keyword in _SKIPPED or not difflib.get_close_matches(keyword, list(_KINDS), cutoff=0.75):
                self._skip_declaration(start, keyword)
            else:
                close = difflib.get_close_matches(keyword, list(_KINDS), n=1, cutoff=0.75)[0]
                shown = "client<llm>" if close == "client" else close
                raise self._error(start, f"unknown declaration {keyword!r}; did you mean {shown!r}?")

    def _client_type(self) -> None:
        """Read the ``<llm>`` of ``client<llm>``."""
        for expected in ("<", "llm", ">"):
            self._skip_trivia()
            if not self.text.startswith(expected, self.pos):
                raise self._error(self.pos, f"expected {expected!r} in 'client<llm>', found {self._found(self.pos)}")
            self.pos += len(expected)

    def _declaration_name(self, noun: str) -> tuple[str, int]:
        """Read and check the name of a client or retry policy."""
        self._skip_trivia()
        start = self.pos
        found = _BARE.match(self.text, start)
        if found is None or found.group().startswith(("#", "/")):
            raise self._error(start, f"expected a {noun} name, found {self._found(start)}")
        name = found.group()
        if not _NAME.match(name):
            raise self._error(start, f"{name!r} is not a valid {noun} name: {_NAME_RULE}")
        self.pos = found.end()
        return name, start

    def _skip_declaration(self, start: int, keyword: str) -> None:
        """Skip a block this front end ignores: its header, then a ``{ }`` body or a block
        string (``template_string``). Strings and comments inside may hold any brace."""
        text = self.text
        while True:
            self._skip_trivia()
            if self.pos >= self.end:
                raise self._error(start, f"this {keyword!r} declaration has no body ('{{' or '#\"')")
            char = text[self.pos]
            if char == "{":
                self._skip_braces()
                return
            if char == '"':
                self._quoted()
            elif char == "#" and _BLOCK_OPEN.match(text, self.pos):
                self._block_string()
                return
            else:
                word = _HEADER_WORD.match(text, self.pos)
                self.pos = word.end() if word else self.pos + 1

    def _skip_braces(self) -> None:
        """Skip from a ``{`` to its matching ``}``, jumping over strings and comments."""
        text, opened = self.text, [self.pos]
        self.pos += 1
        while opened:
            stop = _SKIP_STOP.search(text, self.pos)
            if stop is None:
                raise self._error(opened[-1], "this '{' is never closed")
            self.pos = stop.start()
            char = stop.group()
            if char == "{":
                opened.append(self.pos)
                self.pos += 1
            elif char == "}":
                opened.pop()
                self.pos += 1
            elif char == '"':
                self._quoted()
            elif char == "#" and _BLOCK_OPEN.match(text, self.pos):
                self._block_string()
            elif char == "/" and self._at_boundary() and text.startswith(("//", "/*"), self.pos):
                self._skip_trivia()
            else:
                self.pos += 1

    def _skip_type_alias(self) -> None:
        """Skip ``type Name = A | B``, continued on lines that end with ``=`` or ``|``, start
        with ``|``, or close brackets left open."""
        text, depth = self.text, 0
        while True:
            line_end = text.find("\n", self.pos)
            line_end = self.end if line_end < 0 else line_end
            code = re.sub(r"(^|\s)//.*", "", text[self.pos:line_end]).rstrip()
            depth += sum(code.count(c) for c in "([<") - sum(code.count(c) for c in ")]>")
            self.pos = line_end
            if line_end >= self.end:
                return
            rest = _TRIVIA.match(text, line_end)
            following = rest.end() if rest else line_end
            if not (depth > 0 or code.endswith(("=", "|")) or text.startswith("|", following)):
                return
            self.pos = line_end + 1

    # -- values -----------------------------------------------------------------------------

    def _map(self) -> dict[str, Any]:
        """Parse ``{ key value ... }`` (the ``{`` is at ``pos``); pairs may share a line and
        may be separated by commas; a value starts on its key's line (or is a ``{``/``[``)."""
        text, opened = self.text, self.pos
        self.pos += 1
        result: dict[str, Any] = {}
        keys: dict[str, int] = {}
        inline = False  # whether this key follows the previous value on its line
        while True:
            crossed = self._skip_trivia()
            inline = inline and not crossed
            if self.pos >= self.end:
                raise self._error(opened, "this '{' is never closed")
            if text[self.pos] == "}":
                self.pos += 1
                return result
            key_pos = self.pos
            key = self._key()
            if key in keys:
                raise self._error(key_pos, f"duplicate key {key!r} (first at {self.location(keys[key])})")
            keys[key] = key_pos
            key_end = self.pos
            hint = "; quote a value that contains spaces" if inline else ""
            if self._skip_trivia() and not text.startswith(("{", "["), self.pos):
                raise self._error(key_end, f"expected a value for {key!r} on the same line{hint}")
            if self.pos >= self.end or text[self.pos] in "}],":
                raise self._error(self.pos, f"expected a value for {key!r}, found {self._found(self.pos)}{hint}")
            self.keys.append(key)
            result[key] = self._value(f"a value for {key!r}")
            self.keys.pop()
            inline = not self._skip_trivia()
            if text.startswith(",", self.pos):
                self.pos, inline = self.pos + 1, False

    def _list(self) -> list[Any]:
        """Parse ``[ item, item ... ]``: items separated by commas, newlines or spaces."""
        text, opened = self.text, self.pos
        self.pos += 1
        items: list[Any] = []
        while True:
            self._skip_trivia()
            if self.pos >= self.end:
                raise self._error(opened, "this '[' is never closed")
            if text[self.pos] == "]":
                self.pos += 1
                return items
            items.append(self._value("a list item"))
            self._skip_trivia()
            if text.startswith(",", self.pos):
                self.pos += 1

    def _key(self) -> str:
        """A map key: a quoted string or a bare word (dashes and dots allowed)."""
        start = self.pos
        char = self.text[start]
        if char == '"':
            return self._quoted()
        found = _BARE.match(self.text, start)
        if found is None or char == "#":
            raise self._error(start, f"expected a key, found {self._found(start)}")
        key = found.group()
        if key.endswith(":"):
            raise self._error(found.end() - 1, "BAML has no ':' between a key and its value")
        self.pos = found.end()
        return key

    def _value(self, what: str) -> Any:
        """Any value: map, list, quoted or block string, or a bare word (typed)."""
        start = self.pos
        char = self.text[start] if start < self.end else ""
        if char == "{":
            return self._map()
        if char == "[":
            return self._list()
        if char == '"':
            return self._quoted()
        if char == "#" and _BLOCK_OPEN.match(self.text, start):
            return self._block_string()
        found = _BARE.match(self.text, start)
        if found is None:
            raise self._error(start, f"expected {what}, found {self._found(start)}")
        self.pos = found.end()
        return self._bare(found.group(), start)

    def _bare(self, word: str, start: int) -> Any:
        """Type a bare word: boolean, null, integer, float, ``env.NAME``, or a string."""
        if word in _WORDS:
            return _WORDS[word]
        if _INT.match(word):
            return int(word)
        if _FLOAT.match(word):
            return float(word)
        if word.startswith("env."):
            found = _ENV.match(word)
            if found is None:
                raise self._error(start + 4, "expected an environment variable name after 'env.' "
                                             "(letters, digits and '_', not starting with a digit)")
            return {"env": found.group(1)}
        return word

    def _quoted(self) -> str:
        """A ``"..."`` string on one line, with JSON's escapes."""
        start = self.pos
        found = _QUOTED.match(self.text, start)
        if found is None:
            raise self._error(start, "this string is never closed (a quoted string ends on its line; "
                                     "use a block string #\"...\"# for several lines)")
        self.pos = found.end()
        body = found.group(1)
        if "\\" not in body:
            return body
        parts: list[str] = []
        last = 0
        for escape in _ESCAPE.finditer(body):
            code = escape.group(1)
            if code[0] == "u" and len(code) == 5:
                replacement = chr(int(code[1:], 16))
            elif code in _ESCAPES:
                replacement = _ESCAPES[code]
            else:
                raise self._error(start + 1 + escape.start(), f"unknown escape '\\{code}' in a string "
                                  "(use \\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)")
            parts += [body[last:escape.start()], replacement]
            last = escape.end()
        parts.append(body[last:])
        value = "".join(parts)
        if any("\ud800" <= char <= "\udfff" for char in value):
            value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value

    def _block_string(self) -> str:
        """A block string ``#"..."#`` (or ``##"..."##``...): raw text, dedented and trimmed."""
        start = self.pos
        opening = _BLOCK_OPEN.match(self.text, start)
        assert opening is not None  # callers check
        closing = '"' + opening.group(1)
        end = self.text.find(closing, opening.end())
        if end < 0:
            raise self._error(start, f"this block string is never closed by '{closing}'")
        self.pos = end + len(closing)
        return textwrap.dedent(self.text[opening.end():end]).strip()

    # -- characters -------------------------------------------------------------------------

    def _skip_trivia(self) -> bool:
        """Skip whitespace and comments; return whether a line break was crossed."""
        start = self.pos
        found = _TRIVIA.match(self.text, start)
        self.pos = found.end() if found else start
        if self.text.startswith("/*", self.pos):
            raise self._error(self.pos, "this comment is never closed by '*/'")
        return "\n" in self.text[start:self.pos]

    def _at_boundary(self) -> bool:
        """Whether ``pos`` starts a token (so that ``//`` there starts a comment)."""
        return self.pos == 0 or self.text[self.pos - 1] in _BOUNDARY

    def _found(self, pos: int) -> str:
        """Describe what is at ``pos`` for an "expected ..., found ..." message."""
        if pos >= self.end:
            return "the end of the file"
        char = self.text[pos]
        return "a line break" if char in "\r\n" else repr(char)

    def location(self, pos: int) -> str:
        """``file:line:col`` of ``pos`` (1-based)."""
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return f"{self.filename}:{line}:{column}"

    def _error(self, pos: int, message: str) -> ConfigError:
        """A syntax error at ``pos``, showing its line with a caret under the column.

        A line whose key looks like a credential's (``api_key``, ``Authorization``...), or
        that is inside ``headers`` or ``credentials``, is shown without its value.
        """
        pos = min(pos, self.end)
        line_start = self.text.rfind("\n", 0, pos) + 1
        line_end = self.text.find("\n", pos)
        line = self.text[line_start:self.end if line_end < 0 else line_end].rstrip("\r")
        column = pos - line_start
        first = _FIRST_WORD.match(line)
        secret = any(key.lower() in _SECRET_MAPS or _SECRET_WORD.search(key) for key in self.keys)
        if first and (secret or _SECRET_WORD.search(first.group(1))):  # may hold a credential: show its key only
            line = line[:first.end()] + " ..."
        if column > 100:  # show a window of a very long line
            cut = column - 60
            line, column = "..." + line[cut:], column - cut + 3
        line = line[:column + 100] + ("..." if len(line) > column + 100 else "")
        caret = "".join(char if char == "\t" else " " for char in line[:column]) + "^"
        return ConfigError(f"{self.location(pos)}: {message}\n{line}\n{caret}")
