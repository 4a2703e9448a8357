"""The ``lookalike`` command: run the event, or its parts, from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from server.connection import redis_for
from server.logs import configure_logging
from server.settings import PREFIX, Settings, SettingsError

log = logging.getLogger("lookalike")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lookalike`` console script."""
    parser = argparse.ArgumentParser(prog="lookalike", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("up", "run everything on this machine: embedded Redis, web server and a worker"),
        ("serve", "run the web server against LOOKALIKE_REDIS_URL"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--host", default=None, help="listen address (LOOKALIKE_HOST)")
        cmd.add_argument("--port", type=int, default=None, help="listen port (LOOKALIKE_PORT)")
    sub.add_parser("worker", help="run a GPU worker against LOOKALIKE_REDIS_URL")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"lookalike: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    overrides = {k: v for k in ("host", "port") if (v := getattr(args, k, None)) is not None}
    if overrides:
        settings = Settings.from_env(os.environ, **overrides)
    if args.command == "worker":
        return run_worker(settings)
    if args.command == "serve":
        return run_server(settings)
    return run_all(settings)


def _require_redis(settings: Settings) -> None:
    if not settings.redis_url:
        raise SystemExit(
            f"lookalike: set {PREFIX}REDIS_URL (or use `lookalike up` for an embedded Redis)"
        )


def run_server(settings: Settings) -> int:
    import uvicorn

    from server.app import create_app

    _require_redis(settings)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ws_max_size=64 * 1024,
        ws_per_message_deflate=False,
        proxy_headers=False,  # client IPs are resolved by our own trusted-proxy rules
        log_config=None,  # keep our handlers: JSON in production, secrets redacted
    )
    return 0


def run_worker(settings: Settings) -> int:
    from pipelines.models import ModelUnavailable
    from pipelines.worker import Worker
    from server.connection import async_client
    from server.metrics import serve_worker_metrics

    _require_redis(settings)
    serve_worker_metrics(settings)

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        client = async_client(settings.redis_url)
        try:
            worker = await asyncio.to_thread(Worker.load, settings, client)
            log.info("worker %s ready: %s", worker.name, worker.version)
            await worker.run(stop)
        finally:
            await client.aclose()

    try:
        asyncio.run(work())
    except ModelUnavailable as exc:
        print(f"lookalike worker: {exc}", file=sys.stderr)
        return 3
    return 0


def run_all(settings: Settings) -> int:
    """Embedded Redis (unless a URL is set), one worker process, and the web server."""
    with redis_for(settings.redis_url, settings.data_dir) as url:
        env = {**os.environ, f"{PREFIX}REDIS_URL": url}
        worker = subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], env=env)
        try:
            if not _worker_ready(url, worker):
                return worker.returncode or 1
            return run_server(dataclasses.replace(settings, redis_url=url))
        finally:
            worker.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=20)
            if worker.poll() is None:
                worker.kill()


def _worker_ready(url: str, worker: subprocess.Popen[bytes]) -> bool:
    """Wait until the worker's first heartbeat, or its exit (e.g. no model weights)."""
    from server import keys
    from server.connection import sync_client

    client = sync_client(url)
    log.info("waiting for the worker to load its models…")
    try:
        while worker.poll() is None:
            if client.zcard(keys.WORKERS) > 0:
                return True
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=0.2)
        return False
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
