"""BAML values: maps, lists, strings and bare words, read by one scanner over one file's text.

The value half of the ``.baml`` front end (:mod:`llmclient.config.baml` reads the
declarations and skips what it does not read): :class:`BamlScanner` holds the text and the
position, reads a value at the position with BAML's typing of bare words (booleans, null,
numbers, ``env.NAME``), skips whitespace and comments, and words syntax errors as
``file:line:col: message`` with the line and a caret under the column, never showing a value
that may be a credential.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

from ..errors import ConfigError

__all__ = ["BamlScanner", "BARE", "BLOCK_OPEN", "TRIVIA"]

#: Whitespace and comments; a bare word; the opening of a block string (``#"``, ``##"``...).
TRIVIA = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)*", re.S)
BARE = re.compile(r'[^\s{}\[\],"]+')
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)\Z")
_ENV = re.compile(r"env\.([A-Za-z_][A-Za-z0-9_]*)\Z")
_QUOTED = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
BLOCK_OPEN = re.compile(r'(#+)"')
#: BAML's escapes (its ``unescape_string``): any other backslash stays as it is, as in BAML.
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)", re.S)
_ESCAPES = {'"': '"', "\\": "\\", "'": "'", "n": "\n", "r": "\r", "t": "\t", "0": "\0"}
#: The rest of an unquoted value after its first word: BAML's unquoted strings run on, spaces
#: included, until a character that ends them (``# @ { } ( ) [ ] < > , ' "``), a ``//``
#: comment or the end of the line.
_UNQUOTED_TAIL = re.compile(r"(?:[ \t]+(?!//|/\*)[^\s{}\[\](),\"#@<>']+)+")
_LINE_END = re.compile(r"[ \t]*(?:\r?\n|//|\Z)")
_BOUNDARY = frozenset(" \t\r\n\f\v{}[](),")
_FIRST_WORD = re.compile(r'\s*"?([^\s"{}\[\],]*)"?')
_SECRET_MAPS = frozenset({"headers", "credentials"})
_SECRET_WORD = re.compile(r"key|secret|token(?!s)|authorization|password|credential", re.I)
_WORDS = {"true": True, "false": False, "null": None}


class BamlScanner:
    """One file's text and a position in it; ``pos`` is the index of the next unread character."""

    def __init__(self, text: str, filename: str) -> None:
        self.text = text[1:] if text.startswith("\ufeff") else text
        self.filename = filename
        self.pos = 0
        self.end = len(self.text)
        #: The keys of the values being parsed (outermost first), to hide credentials in errors.
        self.keys: list[str] = []

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
            stacked = key in keys and bool(self.keys) and self._stacks(result[key])  # within options
            if key in keys and not stacked:
                raise self._error(key_pos, f"duplicate key {key!r} (first at {self.location(keys[key])})")
            keys.setdefault(key, key_pos)
            key_end = self.pos
            hint = "; quote a value that contains spaces" if inline else ""
            if self._skip_trivia() and not text.startswith(("{", "["), self.pos):
                raise self._error(key_end, f"expected a value for {key!r} on the same line{hint}")
            if self.pos >= self.end or text[self.pos] in "}],":
                raise self._error(self.pos, f"expected a value for {key!r}, found {self._found(self.pos)}{hint}")
            self.keys.append(key)
            value = self._value(f"a value for {key!r}")
            self.keys.pop()
            if stacked:  # BAML stacks repeated blocks (``safetySettings { } safetySettings { }``) into a list
                if not isinstance(value, dict):
                    raise self._error(key_pos, f"duplicate key {key!r} (first at {self.location(keys[key])}): "
                                               "only blocks ({ ... }) stack")
                previous = result[key]
                result[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                result[key] = value
            inline = not self._skip_trivia()
            if text.startswith(",", self.pos):
                self.pos, inline = self.pos + 1, False

    @staticmethod
    def _stacks(previous: Any) -> bool:
        """Whether a key seen before with ``previous`` may repeat: a block, or blocks stacked already."""
        return isinstance(previous, dict) or (isinstance(previous, list) and bool(previous)
                                              and all(isinstance(v, dict) for v in previous))

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
        found = BARE.match(self.text, start)
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
        if char == "#" and BLOCK_OPEN.match(self.text, start):
            return self._block_string()
        found = BARE.match(self.text, start)
        if found is None:
            raise self._error(start, f"expected {what}, found {self._found(start)}")
        self.pos = found.end()
        tail = _UNQUOTED_TAIL.match(self.text, self.pos)
        if tail is not None and _LINE_END.match(self.text, tail.end()):
            # Several words to the end of the line: one string, as BAML reads ``name Hello World``.
            # Words followed by more on the line (``{ client A weight 2 }``) stay pairs.
            self.pos = tail.end()
            return found.group() + tail.group()
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
        """A ``"..."`` string on one line, unescaped as BAML does (``\\n \\t \\r \\0 \\' \\" \\\\ \\xHH``).

        Any other backslash is kept with the character after it, as BAML keeps it (a regex
        such as ``"\\(?\\d{3}\\)?"`` in an ``@check`` reaches the template as written).
        """
        start = self.pos
        found = _QUOTED.match(self.text, start)
        if found is None:
            raise self._error(start, "this string is never closed (a quoted string ends on its line; "
                                     "use a block string #\"...\"# for several lines)")
        self.pos = found.end()
        body = found.group(1)
        if "\\" not in body:
            return body
        return _ESCAPE.sub(_unescape, body)

    def _block_string(self) -> str:
        """A block string ``#"..."#`` (or ``##"..."##``...): raw text, dedented and trimmed."""
        start = self.pos
        opening = BLOCK_OPEN.match(self.text, start)
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
        found = TRIVIA.match(self.text, start)
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


def _unescape(escape: re.Match[str]) -> str:
    code = escape.group(1)
    if code[0] == "x" and len(code) == 3:
        return chr(int(code[1:], 16))
    return _ESCAPES.get(code, escape.group(0))
