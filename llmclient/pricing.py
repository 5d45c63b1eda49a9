"""What a call cost: a price table per provider and model, and the cost of a usage under it.

The table shipped with the package (``llmclient/prices.json``) is dated and names a source
for every row; it is read on first use, never at ``import llmclient``. Prices are US dollars
per million tokens, kept as :class:`~decimal.Decimal` so that sums are exact. A model the
table does not list has no price: :func:`cost` returns None rather than a guess, and so
does a usage the server did not report (``Usage.known`` False). A dated model name (such as
``gpt-4o-2024-08-06``) resolves to its family's row only where the row lists it as an alias,
because snapshots are sometimes priced differently (``gpt-4o-2024-05-13`` is).

Add or override prices for the whole process with :func:`set_price` (or :func:`set_prices`
with the ``settings.prices`` shape of a config), or for one computation with the
``prices=`` argument of :func:`cost` and :func:`cost_of`::

    llmclient.pricing.set_price("openai", "ft:gpt-4o:acme", input="3.75", output="15")
    completion.cost                                  # Decimal('0.0001275'), or None

How a usage is priced: input tokens not read from a cache at ``input``; cache reads at
``cached_input`` and cache writes at ``cache_write`` (each billed as input when the row has
no such price); output at ``output``, reasoning tokens (counted inside the output) at
``reasoning`` when the row bills them differently. Providers differ on whether their input
count includes cache reads (OpenAI and Gemini: yes; Anthropic and Bedrock: no); the table
says so per provider. A ``long_context`` tier replaces the prices of a call whose prompt is
above its threshold; a price the tier does not give makes such a call unpriced.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Union

from .errors import ConfigError

if TYPE_CHECKING:
    from .models import Completion, Usage

__all__ = ["Price", "PriceInput", "cost", "cost_of", "price_of", "set_price", "set_prices", "reset_prices",
           "table_date", "priced_models"]

log = logging.getLogger(__name__)

#: A price as callers may give it: a Decimal, a string ("2.50"), an int or a float (read via str()).
PriceInput = Union[Decimal, str, int, float]

_MILLION = Decimal(1_000_000)
_PRICE_FIELDS = ("input", "output", "cached_input", "cache_write", "reasoning")
#: Providers whose input token count excludes cache reads and writes (reported apart).
_INPUT_EXCLUDES_CACHED = frozenset({"anthropic", "aws-bedrock"})


@dataclass(frozen=True, slots=True)
class Price:
    """One model's prices, US dollars per million tokens (None: billed as input / as output).

    Attributes:
        input: Input (prompt) tokens not read from a cache.
        output: Output tokens (reasoning included, unless ``reasoning`` is set).
        cached_input: Input tokens read from the provider's prompt cache.
        cache_write: Input tokens written to the prompt cache (Anthropic's 5-minute writes).
        reasoning: Reasoning/thinking tokens, where billed apart from other output.
        long_above: Prompt size above which ``long`` replaces these prices.
        long: The prices of a prompt above ``long_above`` tokens (None fields: not known).
        source: Where the price comes from (a key of the table's ``sources``, or ``"user"``).
    """

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None
    long_above: int | None = None
    long: Price | None = None
    source: str = "user"


class _Table:
    """The shipped rows (loaded once, lazily) and the process's own additions, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.shipped: dict[str, dict[str, Price]] | None = None
        self.date: str | None = None
        self.excludes_cached: set[str] = set(_INPUT_EXCLUDES_CACHED)
        self.user: dict[str, dict[str, Price]] = {}

    def load(self) -> dict[str, dict[str, Price]]:
        shipped = self.shipped
        if shipped is not None:
            return shipped
        with self.lock:
            if self.shipped is None:
                from importlib.resources import files

                data = json.loads(files("llmclient").joinpath("prices.json").read_text(encoding="utf-8"))
                self.shipped, self.date = _parse_table(data, where="llmclient/prices.json"), data.get("date")
                for provider, spec in data["providers"].items():
                    if spec.get("input_includes_cached") is False:
                        self.excludes_cached.add(provider)
            return self.shipped


_TABLE = _Table()


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, str, int, float)):
        raise ConfigError(f"{where}: a price must be a number or a numeric string, not {type(value).__name__}")
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ConfigError(f"{where}: {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise ConfigError(f"{where}: a price must be a finite number >= 0, not {value!r}")
    return number


def _price(spec: Any, where: str, *, source: str = "user", partial: bool = False) -> Price:
    """A :class:`Price` from a dict of per-million prices (``partial``: a long-context tier)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: a price must be an object like {{\"input\": \"2.50\", \"output\": \"10\"}}")
    known = set(_PRICE_FIELDS) | {"source", "aliases", "long_context", "above_input_tokens"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown price field(s) {', '.join(unknown)} "
                          f"(known: {', '.join(_PRICE_FIELDS)}, long_context, aliases)")
    values = {k: _decimal(spec[k], f"{where}.{k}") for k in _PRICE_FIELDS if spec.get(k) is not None}
    if not partial and ("input" not in values or "output" not in values):
        raise ConfigError(f"{where}: a price needs at least \"input\" and \"output\" (US dollars per 1M tokens)")
    long_spec = spec.get("long_context")
    long_above, long = None, None
    if long_spec is not None:
        above = long_spec.get("above_input_tokens") if isinstance(long_spec, Mapping) else None
        if not isinstance(above, int) or isinstance(above, bool) or above < 1:
            raise ConfigError(f"{where}.long_context: needs \"above_input_tokens\", an integer >= 1")
        long_above = above
        long = _price({k: v for k, v in long_spec.items() if k != "above_input_tokens"},
                      f"{where}.long_context", source=source, partial=True)
    if partial:  # a tier: a missing price is unknown, marked with -1 and refused at use
        return Price(values.get("input", Decimal(-1)), values.get("output", Decimal(-1)),
                     values.get("cached_input"), values.get("cache_write"), values.get("reasoning"), source=source)
    return Price(values["input"], values["output"], values.get("cached_input"), values.get("cache_write"),
                 values.get("reasoning"), long_above, long, str(spec.get("source") or source))


def _parse_table(data: Mapping[str, Any], *, where: str) -> dict[str, dict[str, Price]]:
    out: dict[str, dict[str, Price]] = {}
    for provider, spec in data["providers"].items():
        rows: dict[str, Price] = {}
        for model, row in spec["models"].items():
            price = _price(row, f"{where}: providers.{provider}.models.{model}", source=row.get("source", "?"))
            rows[model] = price
            for alias in row.get("aliases") or ():
                rows.setdefault(alias, price)
        out[provider] = rows
    return out


def set_price(provider: str, model: str, *, input: PriceInput, output: PriceInput,
              cached_input: PriceInput | None = None, cache_write: PriceInput | None = None,
              reasoning: PriceInput | None = None) -> None:
    """Add or replace the price of ``model`` on ``provider`` for this process (per million tokens).

    ``provider`` is the name a completion carries (``openai``, ``azure-openai``,
    ``anthropic``, ``google-ai``, ``vertex-ai``, ``aws-bedrock``, ``openai-generic``...);
    ``model`` the model name the answer reports (``Completion.model``).

    Raises:
        ConfigError: A price that is not a number >= 0.
    """
    spec = {"input": input, "output": output, "cached_input": cached_input, "cache_write": cache_write,
            "reasoning": reasoning}
    price = _price(spec, f"price of {provider}/{model}")
    with _TABLE.lock:
        _TABLE.user.setdefault(provider, {})[model] = price


def set_prices(prices: Mapping[str, Any], *, where: str = "prices") -> None:
    """Add or replace many prices: ``{provider: {model: {"input": ..., "output": ...}}}``.

    The shape of a config's ``settings.prices``; checked whole before anything changes.

    Raises:
        ConfigError: Naming the provider and model of a bad entry.
    """
    parsed = _user_table(prices, where=where)
    with _TABLE.lock:
        for provider, rows in parsed.items():
            _TABLE.user.setdefault(provider, {}).update(rows)


def _user_table(prices: Mapping[str, Any], *, where: str) -> dict[str, dict[str, Price]]:
    if not isinstance(prices, Mapping):
        raise ConfigError(f"{where}: must be an object {{provider: {{model: {{\"input\": ..., \"output\": ...}}}}}}")
    out: dict[str, dict[str, Price]] = {}
    for provider, models in prices.items():
        if not isinstance(models, Mapping):
            raise ConfigError(f"{where}.{provider}: must be an object of models")
        out[str(provider)] = {str(m): _price(spec, f"{where}.{provider}.{m}") for m, spec in models.items()}
    return out


def reset_prices() -> None:
    """Forget every price added with :func:`set_price` / :func:`set_prices` (the shipped table stays)."""
    with _TABLE.lock:
        _TABLE.user.clear()


def table_date() -> str | None:
    """The date of the shipped price table (``YYYY-MM-DD``)."""
    _TABLE.load()
    return _TABLE.date


def priced_models() -> dict[str, dict[str, Price]]:
    """Every priced model by provider: the shipped table's rows (aliases included) with this process's additions."""
    shipped = _TABLE.load()
    with _TABLE.lock:
        merged = {p: dict(rows) for p, rows in shipped.items()}
        for provider, rows in _TABLE.user.items():
            merged.setdefault(provider, {}).update(rows)
    return merged


def price_of(provider: str | None, model: str | None,
             prices: Mapping[str, Mapping[str, Any]] | None = None) -> Price | None:
    """The price of ``model`` on ``provider``: ``prices`` first, then set_price's, then the shipped table."""
    if not provider or not model:
        return None
    if prices:
        row = (prices.get(provider) or {}).get(model)
        if row is not None:
            return row if isinstance(row, Price) else _price(row, f"prices.{provider}.{model}")
    own = _TABLE.user.get(provider)
    if own is not None and model in own:
        return own[model]
    return _TABLE.load().get(provider, {}).get(model)


def cost(usage: Usage, provider: str | None, model: str | None, *,
         prices: Mapping[str, Mapping[str, Any]] | None = None) -> Decimal | None:
    """What ``usage`` cost on ``provider``'s ``model`` in US dollars; None when it cannot be known.

    Args:
        usage: The call's token counts.
        provider: The provider name (``Completion.provider``).
        model: The model the answer names (``Completion.model``).
        prices: ``{provider: {model: Price or {"input": ..., ...}}}`` that win over every other.
    """
    if not usage.known:
        return None
    price = price_of(provider, model, prices)
    if price is None:
        return None
    includes_cached = provider not in _TABLE.excludes_cached
    cached, written = usage.cached_input_tokens, usage.cache_creation_input_tokens
    fresh = usage.input_tokens - cached - written if includes_cached else usage.input_tokens
    prompt = fresh + cached + written
    if price.long_above is not None and prompt > price.long_above:
        price = _long_tier(price)
        if price is None:
            return None
    reasoning = min(usage.reasoning_tokens, usage.output_tokens) if price.reasoning is not None else 0
    amounts = ((max(fresh, 0), price.input), (cached, price.cached_input if price.cached_input is not None
                                              else price.input),
               (written, price.cache_write if price.cache_write is not None else price.input),
               (usage.output_tokens - reasoning, price.output), (reasoning, price.reasoning or price.output))
    if any(rate < 0 for count, rate in amounts if count):
        return None  # a long-context tier without this price
    return sum((Decimal(count) * rate for count, rate in amounts if count), Decimal(0)) / _MILLION


def _long_tier(price: Price) -> Price | None:
    long = price.long
    if long is None:
        return None
    # A tier's missing cache prices are unknown (-1), not the short prompt's.
    return replace(long, cached_input=long.cached_input if long.cached_input is not None else Decimal(-1),
                   cache_write=long.cache_write if long.cache_write is not None else Decimal(-1),
                   reasoning=long.reasoning)


def cost_of(completion: Completion, *, prices: Mapping[str, Mapping[str, Any]] | None = None) -> Decimal | None:
    """What ``completion`` cost (see :func:`cost`); what ``Completion.cost`` returns."""
    return cost(completion.usage, completion.provider, completion.model, prices=prices)
