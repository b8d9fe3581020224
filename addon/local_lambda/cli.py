"""``local-lambda``: serve the functions of a functions file over the Lambda Invoke API.

    local-lambda --functions configs/functions.yaml          (or python -m local_lambda ...)

Prints ``local-lambda listening on http://HOST:PORT`` once the workers are warm (``--port 0``
picks a free port), then one line per function. SIGINT/SIGTERM end it and its workers.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from local_lambda.console import ConsoleEcho
from local_lambda.errors import FunctionsFileError
from local_lambda.functions import FunctionSpec, FunctionTable
from local_lambda.functions_file import load_functions
from local_lambda.runtimes import module_for
from local_lambda.server import LocalLambda
from local_lambda.sigv4 import SignatureVerifier
from local_lambda.workers import DEFAULT_IDLE_TIMEOUT, WorkerManager

# The README, scripts/demo and configs/example.yaml use the same port.
DEFAULT_PORT = 9001


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="local-lambda", description="A local AWS Lambda Invoke API server."
    )
    parser.add_argument("--functions", required=True, help="the functions YAML file")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0: a free one)",
    )
    parser.add_argument(
        "--access-key", default="test", help="accepted access key id (default test)"
    )
    parser.add_argument("--secret-key", default="test", help="accepted secret key (default test)")
    parser.add_argument("--no-verify", action="store_true", help="accept any or no signature")
    parser.add_argument("--region", default="us-east-1", help="region in ARNs and AWS_REGION")
    parser.add_argument("--account-id", default="123456789012", help="account id in ARNs")
    parser.add_argument(
        "--max-concurrency",
        type=_positive_int,
        default=1000,
        help="server-wide concurrent invocations (default 1000, as AWS's account limit)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_positive_seconds,
        default=DEFAULT_IDLE_TIMEOUT,
        help=f"seconds an idle worker stays warm (default {DEFAULT_IDLE_TIMEOUT:g})",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print invocation logs")
    return parser.parse_args(argv)


def describe(spec: FunctionSpec) -> str:
    extras = [
        spec.runtime if spec.runtime != "python" else "python",
        f"timeout {spec.timeout:g} s",
        f"{spec.memory_size} MB",
    ]
    if spec.aliases:
        extras.append("aliases " + ", ".join(f"{a}->{v}" for a, v in spec.aliases.items()))
    if spec.reserved_concurrency is not None:
        extras.append(f"reserved concurrency {spec.reserved_concurrency}")
    return f"  {spec.name}: {spec.handler} ({'; '.join(extras)})"


async def serve(args: argparse.Namespace, specs: dict[str, FunctionSpec]) -> None:
    table = FunctionTable(specs, args.region, args.account_id)
    manager = WorkerManager(
        specs,
        args.region,
        args.max_concurrency,
        args.idle_timeout,
        (args.access_key, args.secret_key),
    )
    verifier = (
        None
        if args.no_verify
        else SignatureVerifier(args.access_key, args.secret_key, region=args.region)
    )
    echo = None if args.quiet else ConsoleEcho()
    server = LocalLambda(table, manager, verifier, echo)
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        await manager.start()
        shown_host = f"[{host}]" if ":" in host else host
        print(f"local-lambda listening on http://{shown_host}:{port}", flush=True)
        print(
            f"signature check: {'off' if verifier is None else 'on, access key ' + args.access_key}"
        )
        print("functions:")
        for spec in specs.values():
            print(describe(spec))
        sys.stdout.flush()
        await stop.wait()
    finally:
        await server.close()
        await runner.cleanup()
        if echo is not None:
            echo.close()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        specs = load_functions(args.functions)
    except FunctionsFileError as exc:
        print(f"local-lambda: error: {exc}", file=sys.stderr)
        sys.exit(2)
    problems = [
        f"function '{spec.name}': {problem}"
        for spec in specs.values()
        if (problem := module_for(spec.runtime).missing(spec))
    ]
    if problems:
        for problem in problems:
            print(f"local-lambda: error: {args.functions}: {problem}", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(serve(args, specs))
    except OSError as exc:
        print(
            f"local-lambda: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        sys.exit(1)
