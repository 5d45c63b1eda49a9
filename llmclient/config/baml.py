"""The ``.baml`` front end: BAML ``client<llm>`` and ``retry_policy`` blocks to a raw config dict.

Its one responsibility is BAML syntax. :func:`parse_baml` is pure (text in, dict out) and
returns the raw config that :func:`llmclient.config.schema.validate_config` checks, in the
spellings BAML users write (``baml-fallback``, ``openai/azure``, ``initial_delay``...);
canonicalisation happens later, in ``canonical.py``, exactly as for a ``.json`` config.
:func:`load_baml` only reads files (one, or every ``*.baml`` of a folder) and merges them.

Every other top-level BAML declaration (``function``, ``class``, ``enum``, ``test``,
``generator``, ``template_string``, ``type`` aliases...) is skipped, so that a whole
``baml_src/`` folder loads. The tokenizer is a single hand-written pass over the text; this
module reads the declarations, :mod:`llmclient.config.baml_values` the values inside them.
"""

from __future__ import annotations

import difflib
import logging
import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .baml_values import BARE, BLOCK_OPEN, TRIVIA, BamlScanner

__all__ = ["load_baml", "parse_baml"]

log = logging.getLogger(__name__)

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_SKIP_STOP = re.compile(r'[{}"#/]')
_PAREN_STOP = re.compile(r'[(){"]')
#: Where the next top-level declaration may start: a keyword at the beginning of a line.
_NEXT_DECLARATION = re.compile(r"^(?:client|retry_policy|function|class|enum|test|generator|template_string|"
                               r"string_template|type|printer)\b", re.M)
_HEADER_WORD = re.compile(r'[^\s{}()"#/]+')
#: Top-level BAML declarations that hold no client configuration; skipped without a word.
_SKIPPED = frozenset({"function", "class", "enum", "test", "generator", "template_string", "string_template", "type",
                      "printer",
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
        ConfigError: On a syntax error in a client or retry policy, as ``file:line:col:
            message`` followed by the offending line and a caret under the column. A
            declaration of any other kind that cannot be read is logged as a warning
            naming its file and line, and the parser goes on with the next one, as BAML does.
    """
    parser = _Parser(text, filename)
    config = parser.parse()
    _warn(parser)
    return config


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
        _warn(parser)
        for kind, entries in config.items():
            for name, value in entries.items():
                here = parser.location(parser.positions[kind, name])
                first = origins.get((kind, name))
                if first is not None:
                    raise ConfigError(f"{here}: {_NOUNS[kind]} {name!r} is already defined at {first}")
                origins[kind, name] = here
                merged[kind][name] = value
    return merged


def _warn(parser: _Parser) -> None:
    for warning in parser.warnings:
        log.warning("%s; the declarations after it were read", warning)


class _Parser(BamlScanner):
    """Reads the declarations of one file: clients and retry policies kept, everything else skipped."""

    def __init__(self, text: str, filename: str) -> None:
        super().__init__(text, filename)
        #: (kind, name) -> index of the declaration's name, for messages about duplicates.
        self.positions: dict[tuple[str, str], int] = {}
        #: ``file:line:col: skipped ...`` for each declaration that could not be read.
        self.warnings: list[str] = []

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
            if word is None:  # BAML reads on past a line it cannot parse; so do we, with a warning
                self._passed_over(start, None, self._error(start, f"expected a declaration (client<llm>, "
                                                                  f"retry_policy, function, class, ...), found "
                                                                  f"{self._found(start)}"))
                continue
            keyword = word.group()
            self.pos = word.end()
            if keyword in _KINDS:
                kind = _KINDS[keyword]
                if keyword == "client":
                    self._client_type()  # ``client<llm>``, or the bare ``client`` BAML's grammar allows
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
                try:
                    self._skip_declaration(start, keyword)
                except ConfigError as err:  # one unreadable declaration never stops the clients around it
                    self._passed_over(start, keyword, err)
            else:
                close = difflib.get_close_matches(keyword, list(_KINDS), n=1, cutoff=0.75)[0]
                shown = "client<llm>" if close == "client" else close
                raise self._error(start, f"unknown declaration {keyword!r}; did you mean {shown!r}?")

    def _passed_over(self, start: int, keyword: str | None, err: ConfigError) -> None:
        """Record a warning for what could not be read at ``start`` and move to the next
        top-level declaration (a known keyword at the start of a line)."""
        what = f"a {keyword!r} declaration" if keyword else "text"
        first_line = err.message.splitlines()[0]
        self.warnings.append(f"{self.location(start)}: skipped {what} it could not read ({first_line})")
        found = _NEXT_DECLARATION.search(self.text, self.text.find("\n", start) + 1 if "\n" in self.text[start:]
                                         else self.end)
        self.pos = found.start() if found else self.end

    def _client_type(self) -> None:
        """Read the ``<llm>`` of ``client<llm>``; BAML also takes a bare ``client Name {``."""
        self._skip_trivia()
        if not self.text.startswith("<", self.pos):
            return
        for expected in ("<", "llm", ">"):
            self._skip_trivia()
            if not self.text.startswith(expected, self.pos):
                raise self._error(self.pos, f"expected {expected!r} in 'client<llm>', found {self._found(self.pos)}")
            self.pos += len(expected)

    def _declaration_name(self, noun: str) -> tuple[str, int]:
        """Read and check the name of a client or retry policy."""
        self._skip_trivia()
        start = self.pos
        found = BARE.match(self.text, start)
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
            crossed = self._skip_trivia()
            if self.pos >= self.end or (crossed and _NEXT_DECLARATION.match(text, self.pos)
                                        and text[self.pos - 1] == "\n"):
                raise self._error(start, f"this {keyword!r} declaration has no body ('{{' or '#\"')")
            char = text[self.pos]
            if char == "{":
                self._skip_braces()
                return
            if char == "(":  # an argument list: it may hold attributes with {{ jinja }} and strings
                self._skip_parens()
            elif char == '"':
                self._quoted()
            elif char == "#" and BLOCK_OPEN.match(text, self.pos):
                self._block_string()
                return
            else:
                word = _HEADER_WORD.match(text, self.pos)
                self.pos = word.end() if word else self.pos + 1

    def _skip_parens(self) -> None:
        """Skip from a ``(`` to its matching ``)``: ``@assert(name, {{ this > 0 }})``, strings,
        nested parentheses and braces included."""
        self._skip_balanced("(", ")", _PAREN_STOP)

    def _skip_braces(self) -> None:
        """Skip from a ``{`` to its matching ``}``, jumping over strings and comments."""
        self._skip_balanced("{", "}", _SKIP_STOP)

    def _skip_balanced(self, opening: str, closing: str, stops: re.Pattern[str]) -> None:
        """Skip from ``opening`` at ``pos`` to its match; ``stops`` finds the characters that matter."""
        text, opened = self.text, [self.pos]
        self.pos += 1
        while opened:
            stop = stops.search(text, self.pos)
            if stop is None:
                raise self._error(opened[-1], f"this {opening!r} is never closed")
            self.pos = stop.start()
            char = stop.group()
            if char == opening:
                opened.append(self.pos)
                self.pos += 1
            elif char == closing:
                opened.pop()
                self.pos += 1
            elif char == "{":  # braces inside parentheses: {{ jinja }}, a map
                self._skip_braces()
            elif char == '"':
                self._quoted()
            elif char == "#" and BLOCK_OPEN.match(text, self.pos):
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
            rest = TRIVIA.match(text, line_end)
            following = rest.end() if rest else line_end
            if not (depth > 0 or code.endswith(("=", "|")) or text.startswith("|", following)):
                return
            self.pos = line_end + 1
