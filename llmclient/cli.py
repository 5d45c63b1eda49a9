"""The ``llmclient`` command: run, batch, validate, demo and fake-server.

Exit codes: 0 success, 1 the call failed (an LLMError, printed to stderr), 2 a bad command
line or config.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Sequence

from .errors import ConfigError, LLMError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmclient", description="One blocking interface to every LLM provider.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="send one prompt through a configured client")
    run.add_argument("--config", required=True, help="a .json or .baml config, or a folder of .baml files")
    run.add_argument("--client", required=True, help="the client's name in the config")
    run.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    run.add_argument("--max-tokens", type=int, default=None)
    run.add_argument("--temperature", type=float, default=None)
    run.add_argument("prompt", help="the prompt (one user turn)")

    validate = commands.add_parser("validate", help="check a config and build each of its clients")
    validate.add_argument("config", help="a .json or .baml config, or a folder of .baml files")

    commands.add_parser("demo", help="show the main job against the built-in fake provider (no API key needed)")

    batch = commands.add_parser("batch", help="run a JSONL file of requests through a client (resumable)")
    batch.add_argument("--config", required=True, help="a .json or .baml config, or a folder of .baml files")
    batch.add_argument("--client", required=True, help="the client's name in the config")
    batch.add_argument("--input", required=True, help='JSONL: {"id", "messages" or "prompt", "params"?} per line')
    batch.add_argument("--output", required=True, help="JSONL results; an existing file is resumed")
    batch.add_argument("--workers", type=int, default=32, help="calls in flight (default 32)")
    batch.add_argument("--requests-per-minute", type=float, default=None)
    batch.add_argument("--tokens-per-minute", type=float, default=None)
    batch.add_argument("--progress-every", type=float, default=10.0, help="seconds between progress log lines")
    batch.add_argument("--dask", metavar="SCHEDULER_ADDRESS", default=None, help="run on this Dask cluster")
    batch.add_argument("--max-concurrency", type=int, default=None, help="with --dask: cluster-wide calls in flight")

    fake = commands.add_parser("fake-server", help="serve the fake provider on 127.0.0.1 until Ctrl-C")
    fake.add_argument("--port", type=int, default=0)
    fake.add_argument("--api-key", default=None, help="require this key")
    fake.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream chunks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
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
    """Exit 0 when every line has a successful record, 1 when some failed, 130 when interrupted."""
    import logging

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.dask:
        from .batch import run_dask

        summary = run_dask(args.config, args.input, args.output, client=args.dask, client_name=args.client,
                           max_concurrency=args.max_concurrency, requests_per_minute=args.requests_per_minute,
                           tokens_per_minute=args.tokens_per_minute, progress_every=args.progress_every)
    else:
        from .batch import run

        summary = run(args.config, client=args.client, input=args.input, output=args.output, workers=args.workers,
                      requests_per_minute=args.requests_per_minute, tokens_per_minute=args.tokens_per_minute,
                      progress_every=args.progress_every)
    sys.stdout.write(summary.format() + "\n")
    if summary.interrupted or not summary.complete:
        return 130
    return 1 if summary.failed or summary.input_errors else 0


def _validate(path: str) -> int:
    from .config.loader import load_config

    with load_config(path) as registry:
        failures = []
        for name in registry.names():
            try:
                registry.client(name)
            except ConfigError as err:
                failures.append(f"{name}: {err.message}")
        if failures:
            raise ConfigError(f"{path}: {len(failures)} client(s) cannot be built", problems=failures)
        sys.stdout.write(f"{path}: ok, {len(registry.names())} client(s): {', '.join(registry.names())}\n")
    return 0


def _fake_server(args: argparse.Namespace) -> int:
    from .testing import FakeLLMServer

    with FakeLLMServer(port=args.port, api_key=args.api_key, chunk_delay=args.chunk_delay) as server:
        sys.stdout.write(f"fake provider server on {server.url} (OpenAI base_url {server.openai_base_url}); "
                         "Ctrl-C stops it\n")
        sys.stdout.flush()
        threading.Event().wait()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
