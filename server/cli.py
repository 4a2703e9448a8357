"""The ``lookalike`` command: run the event, or its parts, from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.logs import configure_logging
from server.settings import PREFIX, Settings, SettingsError

if TYPE_CHECKING:
    from pipelines.verify import Claim
    from server.ops.supervisor import WorkerProcess
    from server.organiser.console import Console

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
        cmd.add_argument(
            "--lan",
            action="store_true",
            help="let phones on the local network in: listen on every interface, and the "
            "QR code carries this machine's LAN address (LOOKALIKE_PUBLIC_URL wins)",
        )
    sub.add_parser("worker", help="run a GPU worker against LOOKALIKE_REDIS_URL")
    doctor = sub.add_parser(
        "doctor", help="the go/no-go check for the evening before, beside `lookalike up`"
    )
    doctor.add_argument("--lan", action="store_true", help="check the URL `up --lan` prints")
    doctor.add_argument("--json", action="store_true", help="the table as JSON, for scripts")
    _add_organiser_commands(sub)
    args = parser.parse_args(argv)

    overrides = {k: v for k in ("host", "port") if (v := getattr(args, k, None)) is not None}
    try:
        # The doctor reports missing production settings as a no-go of its own.
        settings = Settings.from_env(os.environ, check=args.command != "doctor", **overrides)
    except SettingsError as exc:
        print(f"lookalike: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    if getattr(args, "lan", False):
        from server.ops.lan import NoLanAddress, on_lan

        try:
            settings = on_lan(settings, host_given="host" in overrides)
        except NoLanAddress as exc:
            print(f"lookalike: {exc}", file=sys.stderr)
            return 2
    if args.command == "doctor":
        from server.ops.doctor import run_doctor

        return run_doctor(settings, as_json=args.json, environ=os.environ)
    if args.command in ORGANISER_COMMANDS:
        return run_organiser_command(settings, args)
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
    from server.live.screen import server_options

    _require_redis(settings)
    settings = rehearsal_password(settings)
    if settings.public_url:
        print(f"lookalike: phones join at {settings.public_url.rstrip('/')}/play", flush=True)
    uvicorn.run(create_app(settings), **server_options(host=settings.host, port=settings.port))
    return 0


def rehearsal_password(settings: Settings) -> Settings:
    """Development mode without an organiser password: a one-time one for this run,
    printed to the terminal and never logged. (Production refuses to start without.)"""
    if settings.production or settings.organiser_password:
        return settings
    password = secrets.token_urlsafe(12)
    print(
        f"lookalike: organiser password for this run (development mode): {password}",
        flush=True,
    )
    return settings.model_copy(update={"organiser_password": password})


def run_worker(settings: Settings) -> int:
    """The GPU worker, with its own settings from the same environment."""
    from pipelines.worker import main as worker_main

    _require_redis(settings)
    return worker_main(os.environ)


def run_all(settings: Settings) -> int:
    """Embedded Redis (unless a URL is set), one worker process, and the web server;
    the supervisor restarts the first two when they die."""
    from server.ops.supervisor import Part, WorkerProcess, supervised
    from server.state.connection import EmbeddedRedis

    url, embedded = settings.redis_url, None
    if not url:
        embedded = EmbeddedRedis(settings.data_dir / "redis")
        url = embedded.start()
    worker = WorkerProcess(
        [sys.executable, "-m", "server.cli", "worker"], {**os.environ, f"{PREFIX}REDIS_URL": url}
    )
    parts: list[Part] = [worker] if embedded is None else [embedded, worker]
    # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into SystemExit
    # lets the supervisor stop the worker and the embedded Redis too.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        worker.start()
        if not _worker_ready(url, worker):
            return worker.poll() or 1
        with supervised(parts, settings.data_dir):
            return run_server(settings.model_copy(update={"redis_url": url}))
    finally:
        for part in reversed(parts):
            part.stop()


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _worker_ready(url: str, worker: WorkerProcess) -> bool:
    """Wait until the worker's first heartbeat, or its exit (e.g. no model weights)."""
    from server.state import keys
    from server.state.connection import sync_client

    client = sync_client(url)
    log.info("waiting for the worker to load its models…")
    try:
        while worker.poll() is None:
            if client.zcard(keys.WORKERS) > 0:
                return True
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=0.2)  # the first heartbeat is in Redis: no event to await
        return False
    finally:
        client.close()


# --------------------------------------------------------------- organisers
ORGANISER_COMMANDS = ("event", "export", "verify")


def _add_organiser_commands(sub: Any) -> None:
    event = sub.add_parser("event", help="create, list, open and close events")
    actions = event.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create an event")
    create.add_argument("--title", required=True)
    create.add_argument("--target", type=Path, help="target picture (default: the demo duck)")
    create.add_argument("--opens", help="when it opens: ISO 8601 or unix seconds")
    create.add_argument("--closes", help="when it closes: ISO 8601 or unix seconds")
    create.add_argument(
        "--hold-for-review", action="store_true", help="drawings need approval to be shown"
    )
    create.add_argument("--current", action="store_true", help="make it the current event")
    actions.add_parser("list", help="list events, the current one marked with *")
    for name, help_text in (
        ("open", "take entries from now on"),
        ("close", "take no more entries"),
        ("set-current", "make it the event /play and /board show"),
    ):
        actions.add_parser(name, help=help_text).add_argument("event_id")

    export = sub.add_parser("export", help="export winners, all submissions or the audit log")
    export.add_argument("kind", choices=("winners", "submissions", "audit"))
    export.add_argument("--event", help="event id (default: the current event)")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--top", type=int, help="winners: only the first N")
    export.add_argument("--output", "-o", type=Path, help="write here instead of to stdout")

    verify = sub.add_parser(
        "verify", help="draw and score a submission again; exit status 1 if the score differs"
    )
    verify.add_argument("submission_id")


def run_organiser_command(settings: Settings, args: argparse.Namespace) -> int:
    """``event``, ``export`` and ``verify``: straight against Redis, audited as the CLI."""
    from server.errors import ApiError

    try:
        return asyncio.run(_organiser_command(settings, args))
    except ApiError as exc:
        print(f"lookalike {args.command}: {exc.message}", file=sys.stderr)
        return 1


def _admin_redis_url(settings: Settings) -> str:
    """LOOKALIKE_REDIS_URL, or the embedded Redis of a running `lookalike up`."""
    from server.state.connection import configured_redis_url

    url = configured_redis_url(settings.redis_url, settings.data_dir)
    if url:
        return url
    raise SystemExit(f"lookalike: set {PREFIX}REDIS_URL, or run this beside `lookalike up`")


async def _organiser_command(settings: Settings, args: argparse.Namespace) -> int:
    import socket

    from server.organiser.audit import Actor
    from server.organiser.console import Console
    from server.state.connection import async_client
    from server.state.pictures import ImageStore
    from server.state.store import Store

    client = async_client(_admin_redis_url(settings))
    try:
        actor = Actor("cli", f"cli@{socket.gethostname()}")
        console = Console(Store(client), ImageStore(settings.images_dir), settings, actor)
        if args.command == "event":
            return await _event_command(console, args)
        if args.command == "export":
            return await _export_command(console, args)
        return await _verify_command(console, args.submission_id)
    finally:
        await client.aclose()


async def _event_command(console: Console, args: argparse.Namespace) -> int:
    from server.organiser.inputs import parse_time

    if args.action == "list":
        current = await console.store.current_event_id()
        for record in await console.store.events():
            mark = "*" if record.id == current else " "
            phase = record.phase
            print(f"{mark} {record.id}  {phase:<9}  {record.title}")
        return 0
    if args.action == "create":
        record = await console.create_event(
            args.title,
            target=None if args.target is None else args.target.read_bytes(),
            opens_at=None if args.opens is None else parse_time(args.opens),
            closes_at=None if args.closes is None else parse_time(args.closes),
            hold_for_review=args.hold_for_review,
            make_current=args.current,
        )
    else:
        act = {
            "open": console.open_event,
            "close": console.close_event,
            "set-current": console.set_current_event,
        }[args.action]
        record = await act(args.event_id)
    print(record.id)
    return 0


async def _export_command(console: Console, args: argparse.Namespace) -> int:
    event_id = args.event
    if event_id is None and args.kind != "audit":
        event_id = await console.store.current_event_id()
    text = await console.export(
        args.kind,
        args.format,
        event_id=event_id,
        top=args.top,
        base_url=console.settings.public_url.rstrip("/"),
    )
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


async def verification_claim(console: Console, submission_id: str) -> Claim:
    """What ``lookalike verify`` re-checks: the recorded score of a drawn submission and
    the target picture it was scored against.

    Raises:
        ApiError: there is no such submission.
        NotVerifiable: it has no score, or its target picture is gone.
    """
    from pipelines.verify import Claim, NotVerifiable
    from server.organiser.console import check_id, found

    lookup = console.store.submission(check_id(submission_id, "a submission"))
    record = await found(lookup, "submission")
    if record.status != "DONE" or record.score is None:
        raise NotVerifiable(f"submission {record.id} is {record.status}, expected DONE")
    target_key = record.target_key or (await console.store.event(record.event_id)).target_key
    if not console.images.exists(target_key):
        raise NotVerifiable(f"the target picture {target_key} is not in {console.images.root}")
    return Claim(
        submission_id=record.id,
        prompt=record.normalised,
        seed=record.seed,
        target=await asyncio.to_thread(console.images.path(target_key).read_bytes),
        score=record.score,
        model_version=record.model_version,
        picture_key=record.image_key or "",
    )


async def _verify_command(console: Console, submission_id: str) -> int:
    from pipelines.verify import NotVerifiable

    try:
        claim = await verification_claim(console, submission_id)
    except NotVerifiable as exc:
        print(f"lookalike verify: {exc}", file=sys.stderr)
        return 2
    try:
        from pipelines.models import ModelUnavailable
        from pipelines.settings import Settings as WorkerSettings
        from pipelines.settings import SettingsError as WorkerSettingsError
        from pipelines.verify import verify  # torch & co., loaded when it runs: as a worker
    except ImportError as exc:
        print(
            f"lookalike verify needs the models' packages ({exc.name}): run it where "
            "a worker runs",
            file=sys.stderr,
        )
        return 2
    try:
        verdict = await asyncio.to_thread(verify, WorkerSettings.from_env(os.environ), claim)
    except (ModelUnavailable, WorkerSettingsError) as exc:
        print(f"lookalike verify: {exc}", file=sys.stderr)
        return 2
    print(verdict.report())
    return 0 if verdict.matches else 1


if __name__ == "__main__":
    sys.exit(main())
