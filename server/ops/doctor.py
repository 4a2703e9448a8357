"""``lookalike doctor``: the go/no-go table an organiser runs the evening before.

It runs beside ``lookalike up`` (or against ``LOOKALIKE_REDIS_URL``) on the machine that
will draw, with the settings the event will run with, and checks what an event day needs:
the models load and how fast they draw here (and so the queue wait a crowd will see),
Redis keeps its data, the disk holds the pictures, the secrets are set, the captcha is
on, the public URL reaches the server, the clocks agree and the pages are built. Any
no-go makes the exit status 1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import redis.asyncio
from redis import RedisError

from server.ops.supervisor import read_state
from server.settings import PREFIX, Settings, SettingsError
from server.state.connection import async_client, configured_redis_url, redact_url

Status = Literal["go", "no-go", "info"]

CROWDS = (100, 400, 1000)  # active players the queue wait is predicted for
MAX_CLOCK_SKEW_S = 1.0  # rate limits and deadlines mix this server's clock and Redis'
URL_TIMEOUT_S = 3.0
DISK_MARGIN = 2.0  # free disk wanted per byte of expected pictures (logs, the AOF, slack)
# A drawing's WebP when none could be made here: a quarter byte per pixel at 512x512.
DEFAULT_BYTES_PER_DRAWING = 512 * 512 // 4
CRASH_LOOP = 3  # crashes in a row of one part that make a no-go
PAGES = ("play", "board", "admin")


@dataclass(frozen=True)
class Check:
    """One row of the table."""

    name: str
    status: Status
    detail: str


@dataclass
class Measured:
    """What the model check measured, for the rows after it."""

    seconds_per_drawing: float = 0.0
    bytes_per_drawing: int = 0


def run_doctor(
    settings: Settings, *, as_json: bool = False, environ: Mapping[str, str] | None = None
) -> int:
    """Print the table (or JSON); 1 if any check is a no-go, else 0. ``environ`` holds the
    worker's settings (the GPU service reads its own)."""
    checks = asyncio.run(examine(settings, environ or {}))
    go = not any(check.status == "no-go" for check in checks)
    if as_json:
        rows = [dataclasses.asdict(check) for check in checks]
        print(json.dumps({"go": go, "checks": rows}, ensure_ascii=False, indent=2))
    else:
        print(render(checks, go))
    return 0 if go else 1


def render(checks: list[Check], go: bool) -> str:
    width = max(len(check.name) for check in checks)
    lines = [f"{c.status.upper():<6}  {c.name:<{width}}  {c.detail}" for c in checks]
    failed = [check.name for check in checks if check.status == "no-go"]
    lines.append("GO: ready for the event" if go else "NO-GO: " + ", ".join(failed))
    return "\n".join(lines)


async def examine(settings: Settings, environ: Mapping[str, str]) -> list[Check]:
    """Every check, in the order of the table."""
    checks = _settings_checks(settings)
    measured = Measured()
    url = configured_redis_url(settings.redis_url, settings.data_dir)
    if not url:
        checks.append(
            Check("redis", "no-go", f"none running: start `lookalike up` or set {PREFIX}REDIS_URL")
        )
        checks += await _model_checks(settings, None, measured, environ)
    else:
        client = async_client(url)
        try:
            checks += await _redis_checks(client, url)
            checks += await _model_checks(settings, client, measured, environ)
        finally:
            await client.aclose()
    checks.append(_disk_check(settings, measured))
    checks.append(await _public_url_check(settings))
    checks.append(_pages_check())
    checks.append(restarts_check(settings.data_dir))
    return checks


def _settings_checks(settings: Settings) -> list[Check]:
    try:
        settings.checked()
        checks = [Check("settings", "go", f"{settings.mode} mode")]
    except SettingsError as exc:
        checks = [Check("settings", "no-go", str(exc))]
    for name, why in (
        ("secret_key", "a random one per start breaks captcha challenges across restarts"),
        ("organiser_password", "no organiser console (development prints a one-time one)"),
    ):
        variable = PREFIX + name.upper()
        if getattr(settings, name):
            checks.append(Check(name.replace("_", " "), "go", f"{variable} is set"))
        else:
            checks.append(Check(name.replace("_", " "), "no-go", f"{variable} is not set: {why}"))
    if settings.captcha_provider == "off":
        checks.append(Check("captcha", "no-go", f"off: set {PREFIX}CAPTCHA_PROVIDER"))
    else:
        checks.append(Check("captcha", "go", settings.captcha_provider))
    return checks


async def _redis_checks(client: redis.asyncio.Redis, url: str) -> list[Check]:
    try:
        info = await client.info("server")
        before = time.time()
        seconds, micros = await client.time()
        after = time.time()
        config = await client.config_get("appendonly")
        config |= await client.config_get("save")
    except redis.ResponseError as exc:  # CONFIG refused (a managed Redis)
        return [
            Check("redis", "go", redact_url(url)),
            Check("persistence", "no-go", f"cannot read it ({exc}): check with the provider"),
        ]
    except (RedisError, OSError) as exc:
        return [Check("redis", "no-go", f"{redact_url(url)} unreachable: {exc}")]
    checks = [Check("redis", "go", f"{redact_url(url)} (Redis {info.get('redis_version')})")]
    if config.get("appendonly") == "yes" or config.get("save"):
        kinds = [
            *(["append-only file"] if config.get("appendonly") == "yes" else []),
            *([f"snapshots ({config['save']})"] if config.get("save") else []),
        ]
        checks.append(Check("persistence", "go", ", ".join(kinds)))
    else:
        checks.append(
            Check("persistence", "no-go", "off (appendonly no, save ''): a restart loses the event")
        )
    skew = (seconds + micros / 1e6) - (before + after) / 2
    status: Status = "go" if abs(skew) <= MAX_CLOCK_SKEW_S + (after - before) else "no-go"
    checks.append(Check("clock", status, f"this machine and Redis differ by {skew:+.3f} s"))
    return checks


async def _model_checks(
    settings: Settings,
    client: redis.asyncio.Redis | None,
    measured: Measured,
    environ: Mapping[str, str],
) -> list[Check]:
    try:
        seconds, size, version, batch = await asyncio.to_thread(_measure, client, environ)
    except ImportError as exc:
        missing = f"{exc.name} is not installed: run this where a worker runs"
        return [Check("models", "no-go", missing)]
    except Exception as exc:  # any load failure is this row's no-go
        return [Check("models", "no-go", f"{type(exc).__name__}: {exc}")]
    measured.seconds_per_drawing, measured.bytes_per_drawing = seconds, size
    per_minute = 60 / seconds
    checks = [
        Check("models", "go", version),
        Check(
            "throughput",
            "go",
            f"{per_minute:.0f} drawings a minute ({seconds:.3f} s each in batches of "
            f"{batch}), one worker",
        ),
        Check(
            "assumption",
            "info",
            f"an active player submits once every {settings.doctor_submit_interval_s:g} s "
            f"({PREFIX}DOCTOR_SUBMIT_INTERVAL_S); one worker; an M/D/1 queue",
        ),
    ]
    for players in CROWDS:
        wait = expected_wait(players / settings.doctor_submit_interval_s, seconds)
        checks.append(Check(f"wait at {players}", "info", _describe_wait(wait, settings)))
    return checks


def _measure(client: Any, environ: Mapping[str, str]) -> tuple[float, int, str, int]:
    """Load the models as a worker does (with the worker's settings, from the same
    environment), time its warm-up batch, and encode one drawing: seconds per drawing,
    bytes per drawing, the model version, the batch size."""
    from pipelines.images import encode_webp, to_uint8
    from pipelines.settings import Settings as WorkerSettings
    from pipelines.worker import Worker

    # A worker needs a client to be built; the doctor never sends it a command.
    settings = WorkerSettings.from_env(environ)
    worker = Worker.load(settings, client if client is not None else redis.asyncio.Redis())
    picture = to_uint8(worker.pipeline.generator(["a duck"], [0]))[0].cpu()
    return (
        worker.seconds_per_drawing,
        len(encode_webp(picture)),
        worker.version,
        settings.batch_size,
    )


def expected_wait(arrivals_per_s: float, seconds_per_drawing: float) -> float:
    """Mean seconds from submitting to a drawn picture with one worker: an M/D/1 queue
    (Poisson arrivals, a fixed service time), the drawing itself included; infinite
    when the arrivals outrun the worker."""
    load = arrivals_per_s * seconds_per_drawing
    if load >= 1:
        return math.inf
    return seconds_per_drawing + load * seconds_per_drawing / (2 * (1 - load))


def _describe_wait(wait: float, settings: Settings) -> str:
    if wait > settings.queue_max_wait_s:
        return (
            f"overloaded: new drawings are refused (BUSY) past a {settings.queue_max_wait_s:g} s "
            "wait; add a worker or a faster GPU"
        )
    return f"about {wait:.1f} s from submit to score"


def _disk_check(settings: Settings, measured: Measured) -> Check:
    per_drawing = measured.bytes_per_drawing or DEFAULT_BYTES_PER_DRAWING
    needed = int(settings.doctor_expected_drawings * per_drawing * DISK_MARGIN)
    where = settings.images_dir
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    detail = (
        f"{_gb(free)} free at {where}; {settings.doctor_expected_drawings} drawings of "
        f"{per_drawing / 1e3:.0f} kB need {_gb(needed)} with margin "
        f"({PREFIX}DOCTOR_EXPECTED_DRAWINGS)"
    )
    return Check("disk", "go" if free >= needed else "no-go", detail)


def _gb(size: float) -> str:
    return f"{size / 1e9:.1f} GB"


def _public_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


async def _public_url_check(settings: Settings) -> Check:
    url = _public_url(settings)
    unset = "" if settings.public_url else f" ({PREFIX}PUBLIC_URL unset: the listen address)"
    try:
        async with httpx.AsyncClient(timeout=URL_TIMEOUT_S) as http:
            answer = await http.get(url + "/healthz")
        health = answer.json() if answer.status_code == 200 else {}
    except (httpx.HTTPError, ValueError) as exc:
        return Check("public url", "no-go", f"{url}{unset} does not answer: {exc!r}")
    if not isinstance(health, dict) or health.get("ok") is not True:
        return Check("public url", "no-go", f"{url}/healthz: {answer.status_code} {health}")
    return Check("public url", "go", f"{url} answers (workers: {health.get('workers')}){unset}")


def _pages_check() -> Check:
    from server.app import WEB_DIST

    missing = [page for page in PAGES if not (WEB_DIST / f"{page}.html").exists()]
    if missing:
        build = "`npm ci && npm run build` in web/"
        return Check("pages", "no-go", f"not built ({', '.join(missing)}): {build}")
    return Check("pages", "go", str(WEB_DIST))


def restarts_check(data_dir: Path) -> Check:
    """The crashes the supervisor of ``lookalike up`` counted: a no-go while a part keeps
    dying (:data:`CRASH_LOOP` in a row), else information."""
    states = read_state(data_dir)
    crashed = {name: state for name, state in states.items() if state.crashes}
    if not crashed:
        return Check("restarts", "go", "no part of `lookalike up` has crashed")
    detail = "; ".join(
        f"{name} crashed {state.crashes}x (last exit {state.last_exit}, "
        f"{time.strftime('%H:%M:%S', time.localtime(state.last_crash_at or 0))})"
        for name, state in crashed.items()
    )
    looping = any(state.in_a_row >= CRASH_LOOP for state in crashed.values())
    return Check("restarts", "no-go" if looping else "info", detail + ": see its log")
