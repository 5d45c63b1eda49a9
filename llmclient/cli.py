"""The ``llmclient`` command: run, batch, validate, demo and fake-server.

Exit codes: 0 success, 1 the call failed (an LLMError, printed to stderr), 2 a bad command
line or config (one line naming the flag or the problems, no traceback).

llmclient's own log records go to stderr: WARNING and above by default, INFO with ``-v``,
DEBUG with ``-vv``, only ERROR with ``-q``. Logging is configured here, for the command's
duration only: the library itself only ever has its NullHandler.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from .errors import ConfigError, LLMError

if TYPE_CHECKING:
    from decimal import Decimal

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``llmclient batch: error: argument --workers: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(text: str, kind: Callable[[str], float], rule: str, ok: Callable[[float], bool]) -> float:
    try:
        value = kind(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and ok(value)):
        raise argparse.ArgumentTypeError(f"must be {rule} (got {text!r})")
    return value


def _count(text: str) -> int:
    """An integer >= 1 (workers, tokens, concurrency)."""
    return int(_number(text, int, "an integer >= 1", lambda v: v >= 1))


def _dollars(text: str) -> Decimal:
    """A ``--max-cost`` value: US dollars > 0, kept exact."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip().lstrip("$"))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected US dollars such as 2.50, got {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 US dollars, got {text!r}")
    return value


def _positive(text: str) -> float:
    """A finite number > 0 (budgets, intervals)."""
    return _number(text, float, "a number > 0", lambda v: v > 0)


def _non_negative(text: str) -> float:
    """A finite number >= 0 (temperature, delays)."""
    return _number(text, float, "a number >= 0", lambda v: v >= 0)


def _port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    return int(_number(text, int, "a port number from 0 to 65535", lambda v: 0 <= v <= 65535))


def _verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="log more: -v INFO, -vv DEBUG (default: warnings and errors)")
    parser.add_argument("-q", "--quiet", action="store_true", default=default, help="log errors only")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="llmclient", description="One blocking interface to every LLM provider.")
    _verbosity(parser, None)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="send one prompt through a configured client")
    run.add_argument("--config", required=True, help="a .json or .baml config, or a folder of .baml files")
    run.add_argument("--client", required=True, help="the client's name in the config")
    run.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    run.add_argument("--max-tokens", type=_count, default=None)
    run.add_argument("--temperature", type=_non_negative, default=None)
    run.add_argument("prompt", help="the prompt (one user turn)")

    validate = commands.add_parser("validate", help="check a config and build each of its clients")
    validate.add_argument("config", help="a .json or .baml config, or a folder of .baml files")

    commands.add_parser("demo", help="show the main job against the built-in fake provider (no API key needed)")

    batch = commands.add_parser("batch", help="run a JSONL file of requests through a client (resumable)")
    batch.add_argument("--config", required=True, help="a .json or .baml config, or a folder of .baml files")
    batch.add_argument("--client", required=True, help="the client's name in the config")
    batch.add_argument("--input", required=True, help='JSONL: {"id", "messages" or "prompt", "params"?} per line, '
                       'or OpenAI Batch API lines {"custom_id", "method", "url", "body"}')
    batch.add_argument("--output", required=True, help="JSONL results; an existing file is resumed")
    batch.add_argument("--output-format", choices=("llmclient", "openai"), default="llmclient",
                       help="llmclient records (default) or the OpenAI Batch API's output lines")
    batch.add_argument("--retry-failed", action="store_true",
                       help="redo the lines whose record in --output is a failure (each id keeps one record)")
    batch.add_argument("--workers", type=_count, default=32, help="calls in flight (default 32)")
    batch.add_argument("--requests-per-minute", type=_positive, default=None)
    batch.add_argument("--tokens-per-minute", type=_positive, default=None)
    batch.add_argument("--max-cost", metavar="USD", type=_dollars, default=None,
                       help="take no new line once the output's answers cost this many US dollars "
                            "(a resumed run counts what the output already spent)")
    batch.add_argument("--progress-every", type=_positive, default=10.0, help="seconds between progress log lines")
    batch.add_argument("--dask", metavar="SCHEDULER_ADDRESS", default=None, help="run on this Dask cluster")
    batch.add_argument("--max-concurrency", type=_count, default=None,
                       help="with --dask: cluster-wide calls in flight")

    fake = commands.add_parser("fake-server", help="serve the fake provider on 127.0.0.1 until Ctrl-C")
    fake.add_argument("--port", type=_port, default=0)
    fake.add_argument("--api-key", default=None, help="require this key")
    fake.add_argument("--chunk-delay", type=_non_negative, default=0.0, help="seconds between stream chunks")
    fake.add_argument("--close-delimited", action="store_true",
                      help="answer with Connection: close and no Content-Length or chunked encoding")
    for command in commands.choices.values():
        _verbosity(command, argparse.SUPPRESS)  # -v/-q also accepted after the command
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    restore = _configure_logging(args)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "validate":
            return _validate(args.config)
        if args.command == "batch":
            return _batch(args)
        if args.command == "demo":
            from .demo import run_demo

            return run_demo()
        return _fake_server(args)
    except ConfigError as err:
        sys.stderr.write(f"config error: {err}\n")
        return 2
    except LLMError as err:
        sys.stderr.write(f"{type(err).__name__}: {err}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        restore()


def _configure_logging(args: argparse.Namespace) -> Callable[[], None]:
    """Send llmclient's log records to stderr at the level the flags ask for; returns the undo.

    A batch's progress lines (INFO, ``llmclient.batch.progress``) show unless ``-q``.
    """
    level = (logging.ERROR if args.quiet else logging.DEBUG if (args.verbose or 0) >= 2
             else logging.INFO if args.verbose else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger("llmclient"), logging.getLogger("llmclient.batch.progress")]
    levels = [logger.level for logger in loggers]
    loggers[0].addHandler(handler)
    loggers[0].setLevel(level)
    if args.command == "batch" and not args.quiet:
        loggers[1].setLevel(min(level, logging.INFO))

    def restore() -> None:
        loggers[0].removeHandler(handler)
        for logger, old in zip(loggers, levels, strict=True):
            logger.setLevel(old)

    return restore


def _run(args: argparse.Namespace) -> int:
    from .config.loader import load_config

    params = {k: v for k, v in (("max_tokens", args.max_tokens), ("temperature", args.temperature)) if v is not None}
    with load_config(args.config) as registry:
        client = registry.client(args.client)
        if args.stream:
            with client.stream(args.prompt, **params) as stream:
                for chunk in stream:
                    sys.stdout.write(chunk.text)
                    sys.stdout.flush()
            sys.stdout.write("\n")
        else:
            sys.stdout.write(client.complete(args.prompt, **params).text + "\n")
    return 0


def _batch(args: argparse.Namespace) -> int:
    """The output file's final state: 0 every line has a successful record, 1 some records are
    failures (this run's or earlier ones), 130 interrupted or lines left without a record."""
    if args.dask:
        from .batch import run_dask

        if args.max_cost is not None:
            raise ConfigError("batch: --max-cost is not supported with --dask yet; run without --dask")

        summary = run_dask(args.config, args.input, args.output, client=args.dask, client_name=args.client,
                           max_concurrency=args.max_concurrency, requests_per_minute=args.requests_per_minute,
                           tokens_per_minute=args.tokens_per_minute, progress_every=args.progress_every,
                           retry_failed=args.retry_failed, output_format=args.output_format)
    else:
        from .batch import run

        summary = run(args.config, client=args.client, input=args.input, output=args.output, workers=args.workers,
                      requests_per_minute=args.requests_per_minute, tokens_per_minute=args.tokens_per_minute,
                      progress_every=args.progress_every, retry_failed=args.retry_failed,
                      output_format=args.output_format, max_cost=args.max_cost)
    sys.stdout.write(summary.format() + "\n")
    if summary.interrupted or not summary.complete:
        return 130
    return 1 if summary.failures else 0


def _validate(path: str) -> int:
    from .config.loader import load_config

    with load_config(path) as registry:
        failures = []
        deferred = registry.deferred_names()  # already warned about at load, as BAML would on use
        for name in registry.names():
            if name in deferred:
                continue
            try:
                registry.client(name)
            except ConfigError as err:
                failures.append(f"{name}: {err.message}")
        if failures:
            raise ConfigError(f"{path}: {len(failures)} client(s) cannot be built", problems=failures)
        later = f" ({len(deferred)} will fail when used: {', '.join(deferred)})" if deferred else ""
        sys.stdout.write(f"{path}: ok, {len(registry.names())} client(s): {', '.join(registry.names())}{later}\n")
    return 0


#: The client option that takes each provider's fake-server address.
_FAKE_URL_OPTIONS = {"openai": "base_url", "azure-openai": "endpoint", "anthropic": "base_url",
                     "google-ai": "base_url", "vertex-ai": "base_url", "google-oauth": "token_uri",
                     "aws-bedrock": "endpoint_url"}


def _fake_server(args: argparse.Namespace) -> int:
    """Print one ``PROVIDER OPTION URL`` line per wire format served (stdout), then serve until killed."""
    from .testing import FakeLLMServer

    with FakeLLMServer(port=args.port, api_key=args.api_key, chunk_delay=args.chunk_delay,
                       close_delimited=args.close_delimited) as server:
        for provider, url in server.base_urls().items():
            sys.stdout.write(f"{provider:<13} {_FAKE_URL_OPTIONS.get(provider, 'base_url'):<13} {url}\n")
        sys.stdout.flush()
        sys.stderr.write(f"fake provider server on {server.url}; Ctrl-C stops it\n")
        threading.Event().wait()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
