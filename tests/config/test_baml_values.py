"""Tests for llmclient.config.baml_values: BAML values, syntax errors with a caret, and a round trip.

Values (every kind, lists, nested maps, comments, line endings), the syntax errors of values
and declarations (file, line, column, the line and a caret, never a credential), and random
configs rendered to BAML text and parsed back.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest

from llmclient.config.baml import parse_baml
from llmclient.errors import ConfigError


def options_of(body: str) -> dict[str, Any]:
    """Parse ``body`` as the options of a client and return them."""
    result: dict[str, Any] = parse_baml(f"client<llm> X {{\n provider openai\n options {{\n{body}\n }}\n}}\n")
    return dict(result["clients"]["X"]["options"])


def error_of(text: str, filename: str = "c.baml") -> str:
    """The message of the ConfigError that parsing ``text`` raises."""
    with pytest.raises(ConfigError) as caught:
        parse_baml(text, filename=filename)
    return str(caught.value)


# -- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "value"), [
    ("gpt-4", "gpt-4"),
    ("anthropic.claude-3-sonnet", "anthropic.claude-3-sonnet"),
    ("openai/azure", "openai/azure"),
    ("us-west-2", "us-west-2"),
    ("https://x.y/z", "https://x.y/z"),
    ("http://127.0.0.1:8080/v1?x=1&y=2", "http://127.0.0.1:8080/v1?x=1&y=2"),
    ("gpt-3.5-turbo", "gpt-3.5-turbo"),
    ("a//b", "a//b"),
    ("007", "007"),
    ("1.", "1."),
    ("round_robin", "round_robin"),
    ('"gpt-4"', "gpt-4"),
    ('"two words, {braces} [brackets] // not a comment"', "two words, {braces} [brackets] // not a comment"),
    # BAML's escapes (its unescape_string): \n \r \t \0 \' \" \\ \xHH; any other backslash stays.
    (r'"tab\t nl\n cr\r quote\" apostrophe\' backslash\\ nul\0 hex\x41"',
     "tab\t nl\n cr\r quote\" apostrophe' backslash\\ nul\0 hexA"),
    (r'"kept: \q \/ \b \u00e9 \(?\d{3}\)?"', "kept: \\q \\/ \\b \\u00e9 \\(?\\d{3}\\)?"),
    ("caf\u00e9 \U0001f600", "caf\u00e9 \U0001f600"),
    ('"true"', "true"),
    ('"123"', "123"),
    ('"env.X"', "env.X"),
    ('""', ""),
    ("0", 0),
    ("42", 42),
    ("-7", -7),
    ("1000", 1000),
    ("0.7", 0.7),
    ("-0.5", -0.5),
    ("1e3", 1000.0),
    ("2.5E-2", 0.025),
    ("true", True),
    ("false", False),
    ("null", None),
    ("env.OPENAI_API_KEY", {"env": "OPENAI_API_KEY"}),
    ("env._x1", {"env": "_x1"}),
    ('#"block"#', "block"),
    ('#"{ "json": true } // kept"#', '{ "json": true } // kept'),
    ('#"\n    line one\n      indented { }\n    line three\n  "#', "line one\n  indented { }\nline three"),
    ('##"say "#hi"# then }"##', 'say "#hi"# then }'),
    ("[]", []),
    ("{}", {}),
])
def test_every_value_kind(source: str, value: Any) -> None:
    parsed = options_of(f"    v {source}")["v"]
    assert parsed == value
    assert type(parsed) is type(value)


def test_lists_separated_by_commas_newlines_or_spaces() -> None:
    options = options_of("""
    a [x, y, z]
    b [x y z]
    c [
      x
      y,
      z,
    ]
    d [ 1, 2.5, true, null, "s", env.K ]
    """)
    assert options["a"] == options["b"] == options["c"] == ["x", "y", "z"]
    assert options["d"] == [1, 2.5, True, None, "s", {"env": "K"}]


def test_nested_maps_and_lists() -> None:
    options = options_of("""
    providers [ { client GPT4 weight 2 } { client Claude weight 1 } ]
    outer { inner { deepest [ [1, 2] [3] { k v } ] } , other 1 }
    pairs { a 1, b 2, c 3 }
    headers {
      "anthropic-beta" "prompt-caching-2024-07-31"
      x-api-version 2024-06-01
    }
    """)
    assert options["providers"] == [{"client": "GPT4", "weight": 2}, {"client": "Claude", "weight": 1}]
    assert options["outer"] == {"inner": {"deepest": [[1, 2], [3], {"k": "v"}]}, "other": 1}
    assert options["pairs"] == {"a": 1, "b": 2, "c": 3}
    assert options["headers"] == {"anthropic-beta": "prompt-caching-2024-07-31", "x-api-version": "2024-06-01"}


def test_keys_with_dashes_dots_and_quotes() -> None:
    options = options_of('    api-version 2024-02-01\n    a.b c\n    "with space" 1\n    "" empty')
    assert options == {"api-version": "2024-02-01", "a.b": "c", "with space": 1, "": "empty"}


def test_fallback_strategy_is_a_list_and_baml_strategy_word_is_a_string() -> None:
    config = parse_baml("""
client<llm> F { provider baml-fallback options { strategy [ GPT4 Claude ] } }
client<llm> R { provider baml-strategy options { strategy round_robin providers [ { client GPT4 } ] } }
""")
    assert config["clients"]["F"]["options"]["strategy"] == ["GPT4", "Claude"]
    assert config["clients"]["R"]["options"]["strategy"] == "round_robin"


def test_comments_everywhere() -> None:
    text = """// leading comment
/* block
   comment */ client<llm> /* here */ A /* and here */ { // after the brace
  provider /* between key and value */ openai // after a value
  // a whole line
  options {
    model gpt-4//still-the-word
    url https://example.com/a//b // a comment after a URL
    list [ // after a bracket
      one, // after an item
      /* before an item */ two
      "three" // after a string
    ] /* after a list */
    text #"// inside a block string"# // after a block string
  }
}
retry_policy P { // policy
  max_retries 1 /* end */ }
// last line without a newline"""
    config = parse_baml(text)
    assert config["clients"]["A"] == {
        "provider": "openai",
        "options": {"model": "gpt-4//still-the-word", "url": "https://example.com/a//b",
                    "list": ["one", "two", "three"], "text": "// inside a block string"},
    }
    assert config["retry_policies"] == {"P": {"max_retries": 1}}


def test_slashes_inside_a_bare_word_are_not_a_comment() -> None:
    options = options_of("    model gpt-4//x\n    url https://host//path // comment")
    assert options == {"model": "gpt-4//x", "url": "https://host//path"}


def test_windows_line_endings_and_tabs() -> None:
    text = "client<llm> A {\r\n\tprovider openai\r\n\toptions {\r\n\t\tmodel gpt-4\r\n\t}\r\n}\r\n"
    assert parse_baml(text) == {"clients": {"A": {"provider": "openai", "options": {"model": "gpt-4"}}},
                                "retry_policies": {}}


def test_a_map_may_open_on_the_next_line() -> None:
    config = parse_baml("client<llm> A\n{\n  provider openai\n  options\n  {\n    model m\n  }\n}\n")
    assert config["clients"]["A"] == {"provider": "openai", "options": {"model": "m"}}


# -- errors ---------------------------------------------------------------------------------


def test_error_names_file_line_and_column_and_shows_the_line_with_a_caret() -> None:
    text = "client<llm> A {\n  provider openai\n}\n\nclient<llm> Foo\n    options [\n  ]\n}\n"
    assert error_of(text, "clients.baml") == (
        "clients.baml:6:5: expected '{' after client name\n"
        "    options [\n"
        "    ^"
    )


@pytest.mark.parametrize(("text", "line", "message"), [
    ("}\n", 1, "expected a declaration"),
    ("function F() -> string {\n  client A\n  prompt #\"x\"#\n", 1, "'{' is never closed"),
    ("class C {\n  x string @description(\"open)\n}\n", 1, "string is never closed"),
    ("function F(x: int) -> int\n", 1, "this 'function' declaration has no body"),
])
def test_a_declaration_it_cannot_read_is_a_warning_and_the_clients_after_it_load(
        text: str, line: int, message: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="llmclient.config.baml")
    config = parse_baml(text + "client<llm> After {\n  provider openai\n}\n", filename="c.baml")
    assert config["clients"] == {"After": {"provider": "openai"}}
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and warnings[0].startswith(f"c.baml:{line}:") and message in warnings[0]


def test_baml_forms_the_grammar_allows() -> None:
    config = parse_baml(
        "client Bare {\n  provider openai\n  options {\n    greeting Hello there\n"
        "    note two words // a comment\n    model gpt-4o\n  }\n}\n"
        "function F(x: string @assert(long, {{ this|length > 1 }})) -> int @check(big, {{ this > 3 }}) {\n"
        "  client Bare\n  prompt #\"{{ x }}\"#\n}\n"
        "class P {\n  v string @check(phone, {{ this|regex_match(\"\\(?\\d{3}\\)?\") }})\n}\n"
        "string_template T #\"x\"#\n")
    assert config["clients"] == {"Bare": {"provider": "openai", "options": {
        "greeting": "Hello there", "note": "two words", "model": "gpt-4o"}}}


@pytest.mark.parametrize(("text", "line", "column", "message"), [
    ('client<llm> A {\n  options {\n    model "gpt-4\n  }\n}', 3, 11, "string is never closed"),
    ("client<llm> A {\n  provider openai\n", 1, 15, "'{' is never closed"),
    ("client<llm> A {\n  options {\n    strategy [ a, b\n", 3, 14, "'[' is never closed"),
    ("client<llm> A {\n  options {\n    model }\n}", 3, 11, "expected a value for 'model', found '}'"),
    ("client<llm> A {\n  provider\n    openai\n}", 2, 11, "expected a value for 'provider' on the same line"),
    ("client<llm> A {\n  options { d Hello World }\n}", 2, 27,
     "expected a value for 'World', found '}'; quote a value that contains spaces"),
    ("client<llm> A {\n  options { a 1\n  b }\n}", 3, 5, "expected a value for 'b', found '}'"),
    ("client<llm> A {\n  options { s [a,, b] }\n}", 2, 18, "expected a list item, found ','"),
    ("client<llm> A {\n  options { s [, b] }\n}", 2, 16, "expected a list item, found ','"),
    ("client<llm> A {\n  options { base_url env.1X }\n}", 2, 26, "expected an environment variable name"),
    ("retry_polcy P {\n}", 1, 1, "unknown declaration 'retry_polcy'; did you mean 'retry_policy'?"),
    ("clinet<llm> A {\n}", 1, 1, "did you mean 'client<llm>'?"),
    ("client<lm> A {\n}", 1, 8, "expected 'llm' in 'client<llm>'"),
    ("client<llm> 9A {\n}", 1, 13, "'9A' is not a valid client name"),
    ("client<llm> {\n}", 1, 13, "expected a client name, found '{'"),
    ("retry_policy {\n}", 1, 14, "expected a retry policy name, found '{'"),
    ("client<llm> A { provider openai }\nclient<llm>  A { provider openai }", 2, 14,
     "client 'A' is already defined at c.baml:1:13"),
    ("client<llm> A {\n  provider openai\n  provider anthropic\n}", 3, 3,
     "duplicate key 'provider' (first at c.baml:2:3)"),
    ("client<llm> A {\n  options { api_key: x }\n}", 2, 20, "BAML has no ':' between a key and its value"),
    ("client<llm> A {\n  options { { } }\n}", 2, 13, "expected a key, found '{'"),
    ("client<llm> A { provider openai }\n/* never closed\n", 2, 1, "comment is never closed"),
    ('client<llm> A {\n  options { p #"open\n\n}', 2, 15, "block string is never closed by '\"#'"),
])
def test_syntax_errors_point_at_the_exact_line_and_column(text: str, line: int, column: int, message: str) -> None:
    error = error_of(text)
    first, shown, caret = error.split("\n")
    assert first.startswith(f"c.baml:{line}:{column}: "), error
    assert message in first
    source_line = text.split("\n")[line - 1]
    assert shown == source_line
    assert caret == " " * (column - 1) + "^"


def test_the_spaces_hint_is_given_only_when_the_key_shares_the_previous_value_line() -> None:
    assert error_of("client<llm> A {\n  options { a 1\n  b }\n}").split("\n")[0].endswith("found '}'")
    assert error_of("client<llm> A {\n  options { a 1, b }\n}").split("\n")[0].endswith("found '}'")
    assert error_of("client<llm> A {\n  options { a 1 b }\n}").split("\n")[0].endswith("contains spaces")


def test_repeated_blocks_inside_options_stack_as_in_baml() -> None:
    # BAML's Vertex docs: "stack different safety settings with a new safetySettings header for each one".
    block = "    safetySettings {{\n      category {}\n    }}\n"
    options = options_of("".join(block.format(c) for c in "ABC"))
    assert options == {"safetySettings": [{"category": "A"}, {"category": "B"}, {"category": "C"}]}
    assert "duplicate key 'options'" in error_of("client<llm> A {\n  options { }\n  options { }\n}")
    assert "only blocks" in error_of("client<llm> A {\n  options {\n    s { a 1 }\n    s 2\n  }\n}")


def test_words_to_the_end_of_their_line_are_one_value_as_in_baml() -> None:
    assert options_of("    d Hello World\n    e one two three // c\n    f x") == {
        "d": "Hello World", "e": "one two three", "f": "x"}
    assert options_of("    p { client A weight 2 }") == {"p": {"client": "A", "weight": 2}}  # pairs on a line


def test_the_caret_follows_tabs() -> None:
    error = error_of("client<llm> A {\n\t\toptions { m }\n}")
    assert error.split("\n")[1:] == ["\t\toptions { m }", "\t\t            ^"]


def test_an_error_never_shows_a_credential_on_its_line() -> None:
    error = error_of('client<llm> A {\n  options {\n    api_key "sk-secret-123\n  }\n}')
    assert "sk-secret" not in error
    assert error.startswith("c.baml:3:13: ")
    assert error.split("\n")[1] == '    api_key ...'
    header = error_of('client<llm> A {\n  options { headers {\n    Authorization "Bearer tok123 }\n}}}')
    assert "tok123" not in header
    custom = error_of('client<llm> A {\n  options { headers {\n    "X-Custom" "tok123\n}}}')
    assert "tok123" not in custom
    assert custom.split("\n")[1:] == ['    "X-Custom" ...', "               ^"]
    elsewhere = error_of('client<llm> A {\n  options { headers { }\n    model "gpt-4\n}}}')
    assert elsewhere.split("\n")[1] == '    model "gpt-4'  # other lines are shown whole


def test_a_very_long_line_is_shown_as_a_window_around_the_column() -> None:
    text = "client<llm> A {\n  options { s [" + "abc, " * 100 + ",, ] }\n}"
    error = error_of(text)
    _, shown, caret = error.split("\n")
    assert len(shown) < 200
    assert shown[len(caret) - 1] == ","


# -- round trip: random configs rendered to BAML and parsed back --------------------------------

_BARE_SAFE = re.compile(r"[A-Za-z_][A-Za-z0-9_./:-]*\Z")
_WORDS_TYPED = ("true", "false", "null")
_WORDS = ["gpt-4", "us-west-2", "openai/azure", "https://x.y/z", "a.b.c", "env", "round_robin", "x"]
_TEXTS = ["two words", "", "quote \" and \\ backslash", "tab\tnew\nline", "{ [ , ] }", "// not a comment",
          "/* nor this */", "#\"hash\"#", "true", "null", "12", "-3.5", "env.NAME", "caf\u00e9 \U0001f600", "\x01"]


def _random_value(rng: random.Random, depth: int) -> Any:
    """A random JSON-shaped value: scalars, env references, and (not too deep) maps and lists."""
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rng.choice(_WORDS + _TEXTS) + (str(rng.randrange(100)) if rng.random() < 0.3 else "")
    if kind == 1:
        return rng.randrange(-10**6, 10**6)
    if kind == 2:
        return rng.choice([0.5, -2.25, 1e-7, 3.0e21, rng.uniform(-1000, 1000)])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return {"env": rng.choice(["OPENAI_API_KEY", "_X", "a1"])}
    if kind == 5:
        return rng.choice(_WORDS)
    if kind in (6, 7):
        return _random_map(rng, depth + 1)
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def _random_map(rng: random.Random, depth: int) -> dict[str, Any]:
    """A random map with up to four keys (bare-safe and quoted-only ones)."""
    keys = [rng.choice(["model", "api-version", "a.b", "x_y", "max_tokens", "with space", "k" + str(i)])
            for i in range(rng.randrange(5))]
    return {key: _random_value(rng, depth) for key in keys}


def _render(value: Any, rng: random.Random, indent: str = "") -> str:
    """Render ``value`` as BAML, choosing separators, comments and string forms at random."""
    inner = indent + "  "
    comment = rng.choice(["", "", " // c", " /* c */"])
    if isinstance(value, dict) and list(value) == ["env"] and isinstance(value["env"], str):
        return f"env.{value['env']}"
    if isinstance(value, dict):
        if not value:
            return "{}"
        pairs = [f"{_render_key(key, rng)} {_render(item, rng, inner)}" for key, item in value.items()]
        if rng.random() < 0.3:
            return "{ " + rng.choice([" ", ", "]).join(pairs) + " }"
        return "{" + comment + "\n" + "".join(f"{inner}{pair}{rng.choice(['', ',', ' // note'])}\n"
                                              for pair in pairs) + indent + "}"
    if isinstance(value, list):
        items = [_render(item, rng, inner) for item in value]
        if rng.random() < 0.5:
            return "[" + rng.choice([", ", " "]).join(items) + rng.choice(["", ","] if items else [""]) + "]"
        lines = "".join(f"{inner}{item}{rng.choice(['', ','])}\n" for item in items)
        return "[" + comment + "\n" + lines + indent + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value)
    return _render_string(value, rng)


def _render_string(text: str, rng: random.Random) -> str:
    """A bare word when that reads back as the same string, else a block or quoted string."""
    if _BARE_SAFE.match(text) and text not in _WORDS_TYPED and not text.startswith("env.") and rng.random() < 0.7:
        return text
    if text and text == text.strip() and '"#' not in text and "\n" not in text and rng.random() < 0.3:
        return f'#"{text}"#'
    return _baml_quoted(text)


def _baml_quoted(text: str) -> str:
    """``text`` as a BAML quoted string: BAML's escapes (\\\\ \\" \\n \\r \\t \\0 \\xHH), the rest as it is."""
    named = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}
    return '"' + "".join(named.get(c, f"\\x{ord(c):02x}" if ord(c) < 32 else c) for c in text) + '"'


def _render_key(key: str, rng: random.Random) -> str:
    """A key, bare when it can be, sometimes quoted anyway."""
    return key if _BARE_SAFE.match(key) and rng.random() < 0.8 else _baml_quoted(key)


def _render_config(config: dict[str, Any], rng: random.Random) -> str:
    """A whole file: policies and clients in random order, with a function block among them."""
    blocks = [f"// generated\nretry_policy {name} {_render(policy, rng)}" for name, policy in
              config["retry_policies"].items()]
    blocks += [f"client<llm> {name} {_render(client, rng)}" for name, client in config["clients"].items()]
    blocks.insert(rng.randrange(len(blocks) + 1), 'function F(x: string) -> string {\n  prompt #"{{ x }} }"#\n}')
    rng.shuffle(blocks)
    return "\n\n".join(blocks) + "\n"


@pytest.mark.parametrize("seed", range(300))
def test_random_configs_survive_a_round_trip_through_baml_text(seed: int) -> None:
    rng = random.Random(seed)
    config: dict[str, Any] = {"clients": {}, "retry_policies": {}}
    for index in range(rng.randrange(1, 5)):
        client: dict[str, Any] = {"provider": rng.choice(["openai", "openai/azure", "baml-fallback"])}
        if rng.random() < 0.5:
            client["retry_policy"] = f"P{index}"
        client["options"] = _random_map(rng, 0)
        config["clients"][f"C{index}_{rng.choice(['a', 'b-c'])}"] = client
    for index in range(rng.randrange(3)):
        config["retry_policies"][f"P{index}"] = {"max_retries": rng.randrange(5),
                                                 "strategy": {"type": "constant_delay", "delay_ms": 10}}
    text = _render_config(config, rng)
    parsed = parse_baml(text)
    assert parsed == config, text
    assert json.dumps(parsed, sort_keys=True) == json.dumps(config, sort_keys=True)  # same types too
