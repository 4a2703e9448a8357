"""The submission path: accepted prompts per second through the whole API, one process.

    python -m benchmarks.submit                  # 10 s per phase at the goal's 1,000/s
    python -m benchmarks.submit --quick          # a second per phase, 100/s

The server is the real app under uvicorn (one process) with the ALTCHA captcha on: every
submission carries a freshly solved payload, verified and marked used (solving is the
client's cost, so the payloads are solved before the clock starts). Rate limits are set
high so that the benchmark measures the path, not the limiter. No worker runs, so each
new prompt stays queued and each participant submits one new prompt; duplicates of
prompts already drawn are mixed in (``--duplicates``, a share) and answered at once.

Each request goes through captcha verification, the limits, validation, the dedup and
enqueue script, and the ETA lookups, over HTTP/1.1 keep-alive from a raw client.

Phases, each against the same server:

1. baseline: ``{ __typename }`` as fast as it goes, the floor of HTTP + GraphQL here;
2. capacity: submissions as fast as they go (closed loop, ``--connections`` in flight);
3. the goal's load: submissions offered at ``--rate`` per second (open loop: latency is
   counted from when a request was due, so a server that falls behind shows it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import random
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from benchmarks.harness import (
    child,
    cpu_seconds,
    embedded_redis,
    machine,
    percentile,
    raise_open_files,
)

MODULE = "benchmarks.submit"
SUBMIT = """mutation($p: String!, $c: String) { submitPrompt(prompt: $p, captcha: $c) {
  id status score imageUrl deduplicated queuePosition etaSeconds } }"""
FLOOR = "{ __typename }"


# ------------------------------------------------------------------------- the client


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.reply: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.reply is not None and not self.reply.done():
            self.reply.set_exception(ConnectionError(f"connection lost: {exc}"))

    async def post(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.reply = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.reply

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at) if b"\r\n" in head[at:] else None])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        if self.reply is not None and not self.reply.done():
            self.reply.set_result((status, body))


def http_post(port: int, body: Mapping[str, object], token: str | None = None) -> bytes:
    data = json.dumps(body).encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\n{auth}Content-Length: {len(data)}\r\n\r\n"
    ).encode() + data


@dataclass
class Outcome:
    """What came back for one request."""

    kind: str  # "fresh", "duplicate" or "floor"
    due: float
    done: float
    accepted: bool
    code: str = ""


@dataclass
class Phase:
    """The outcomes of one phase and how long it ran."""

    name: str
    seconds: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    server_cpu_s: float = float("nan")  # CPU time the server process used meanwhile
    note: str = ""  # why it ended early, if it did

    def cpu_ms_per_request(self) -> float:
        return 1000 * self.server_cpu_s / len(self.outcomes) if self.outcomes else float("nan")

    def accepted_per_s(self, kind: str | None = None) -> float:
        hits = [o for o in self.outcomes if o.accepted and (kind is None or o.kind == kind)]
        return len(hits) / self.seconds if self.seconds else float("nan")

    def latencies_ms(self, kind: str) -> list[float]:
        return [(o.done - o.due) * 1000 for o in self.outcomes if o.kind == kind and o.accepted]

    def errors(self) -> Counter[str]:
        return Counter(o.code for o in self.outcomes if not o.accepted)


def judge(kind: str, status: int, body: bytes) -> tuple[bool, str]:
    """Accepted, or the error code the API answered with."""
    if status != 200:
        return False, f"HTTP {status}"
    reply = json.loads(body)
    if reply.get("errors"):
        return False, str(reply["errors"][0].get("extensions", {}).get("code", "ERROR"))
    if kind == "floor":
        return True, ""
    submission = reply["data"]["submitPrompt"]
    expected = "DONE" if kind == "duplicate" else "QUEUED"
    if submission["status"] != expected:
        return False, f"status {submission['status']}"
    return True, ""


# ------------------------------------------------------------------------ the workload


class Exhausted(Exception):
    """Every prepared participant has submitted: the server outran --capacity-guess."""


@dataclass
class Workload:
    """Participants, solved captchas and prompts, all made before the clock starts."""

    port: int
    fresh_tokens: list[str]
    duplicate_tokens: list[str]
    drawn: list[str]
    captchas: list[str]
    duplicates: float
    serial: Iterator[int] = field(default_factory=itertools.count)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def next_request(self) -> tuple[str, bytes]:
        """The next submission: a duplicate of a drawn prompt, or a new prompt."""
        n = next(self.serial)
        captcha = self.captchas[n]
        if self.rng.random() < self.duplicates:
            token = self.duplicate_tokens[n % len(self.duplicate_tokens)]
            prompt = self.rng.choice(self.drawn)
            body = {"query": SUBMIT, "variables": {"p": prompt, "c": captcha}}
            return "duplicate", http_post(self.port, body, token)
        if not self.fresh_tokens:
            raise Exhausted(f"all {n} prepared submissions were sent; raise --capacity-guess")
        token = self.fresh_tokens.pop()
        body = {"query": SUBMIT, "variables": {"p": f"a fresh duck number {n}", "c": captcha}}
        return "fresh", http_post(self.port, body, token)

    def floor_request(self) -> tuple[str, bytes]:
        return "floor", http_post(self.port, {"query": FLOOR})


async def prepare(
    redis_url: str, data_dir: Path, secret: str, args: argparse.Namespace
) -> Workload:
    """Join the participants, draw the prompts to duplicate, solve the captchas."""
    from server.abuse import dedup
    from server.abuse.captcha.altcha import AltchaVerifier, solve_altcha
    from server.resources import ensure_current_event
    from server.state.connection import async_client
    from server.state.pictures import ImageStore
    from server.state.store import Store

    client = async_client(redis_url)
    store = Store(client)
    try:
        event_id = await ensure_current_event(store, ImageStore(data_dir / "images"), "Bench")

        async def join(name: str) -> tuple[str, object]:
            joined = await store.join(event_id, name, dedup.nickname_key(name))
            assert joined is not None
            return joined[1], joined[0]

        # Prompts already drawn and scored: what the duplicates ask for again.
        _, painter = await join("painter")
        drawn = [f"a drawn duck number {i}" for i in range(args.drawn)]
        for prompt in drawn:
            record = await store.submit(
                participant=painter,  # type: ignore[arg-type]
                prompt=dedup.prepare(prompt, 300),
            )
            await store.complete(record.id, score=0.5, image_key="0" * 64, model_version="b")
        total = int(args.seconds * (args.capacity_guess + args.rate)) + 100
        fresh = [(await join(f"f{i}"))[0] for i in range(total)]
        duplicate = [(await join(f"d{i}"))[0] for i in range(64)]
        verifier = AltchaVerifier(
            secret_key=secret, max_number=args.captcha_max_number, expires_s=3600, redis=client
        )
        captchas = [solve_altcha(await verifier.challenge()) for _ in range(total * 2)]
    finally:
        await client.aclose()
    return Workload(0, fresh, duplicate, drawn, captchas, args.duplicates)


# ---------------------------------------------------------------------------- phases


async def connections(port: int, count: int) -> list[HttpConnection]:
    loop = asyncio.get_running_loop()
    opened = []
    for _ in range(count):
        _, connection = await loop.create_connection(HttpConnection, "127.0.0.1", port)
        opened.append(connection)
    return opened


async def closed_loop(
    name: str, pool: list[HttpConnection], make: Callable[[], tuple[str, bytes]], seconds: float
) -> Phase:
    """Every connection sends its next request as soon as its last one is answered."""
    phase = Phase(name)
    deadline = time.monotonic() + seconds

    async def run(connection: HttpConnection) -> None:
        while time.monotonic() < deadline:
            try:
                kind, request = make()
            except Exhausted as exc:
                phase.note = str(exc)
                return
            due = time.monotonic()
            status, body = await connection.post(request)
            accepted, code = judge(kind, status, body)
            phase.outcomes.append(Outcome(kind, due, time.monotonic(), accepted, code))

    began = time.monotonic()
    await asyncio.gather(*(run(c) for c in pool))
    phase.seconds = time.monotonic() - began
    return phase


async def open_loop(
    name: str, pool: list[HttpConnection], make: Callable[[], tuple[str, bytes]],
    rate: float, seconds: float,
) -> Phase:  # fmt: skip
    """Requests fall due at ``rate`` per second whatever the server does; latency runs
    from when each was due, so waiting for a free connection counts too."""
    phase = Phase(name)
    idle: asyncio.Queue[HttpConnection] = asyncio.Queue()
    for connection in pool:
        idle.put_nowait(connection)
    began = time.monotonic()
    total = int(rate * seconds)

    async def send(due: float, kind: str, request: bytes) -> None:
        connection = await idle.get()
        try:
            status, body = await connection.post(request)
        finally:
            idle.put_nowait(connection)
        accepted, code = judge(kind, status, body)
        phase.outcomes.append(Outcome(kind, due, time.monotonic(), accepted, code))

    tasks = []
    for n in range(total):
        due = began + n / rate
        # Pacing the offered load: the schedule, not a wait for the server.
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        try:
            kind, request = make()
        except Exhausted as exc:
            phase.note = str(exc)
            break
        tasks.append(asyncio.create_task(send(due, kind, request)))
    await asyncio.gather(*tasks)
    phase.seconds = max(seconds, time.monotonic() - began)
    return phase


# ---------------------------------------------------------------------------- server


def run_server(fd: int, redis_url: str, data_dir: str) -> None:
    """Child process: the real app under uvicorn, as ``lookalike serve`` runs it."""
    import uvicorn

    from server.app import create_app
    from server.live.screen import server_options
    from server.settings import Settings

    raise_open_files()
    settings = Settings.from_env(os.environ, redis_url=redis_url, data_dir=Path(data_dir))
    config = uvicorn.Config(create_app(settings), **server_options(log_level="warning"))
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


def server_environment(secret: str, args: argparse.Namespace) -> dict[str, str]:
    """Captcha on (every submission), limits far above the offered load."""
    return {
        "LOOKALIKE_SECRET_KEY": secret,
        "LOOKALIKE_CAPTCHA_PROVIDER": "altcha",
        "LOOKALIKE_CAPTCHA_EVERY": "1",
        "LOOKALIKE_CAPTCHA_MAX_NUMBER": str(args.captcha_max_number),
        "LOOKALIKE_PARTICIPANT_RATE_PER_S": "1000",
        "LOOKALIKE_PARTICIPANT_BURST": "100000",
        "LOOKALIKE_IP_RATE_PER_S": "1000000",
        "LOOKALIKE_IP_BURST": "1000000",
        "LOOKALIKE_LOG_LEVEL": "warning",
    }


# ----------------------------------------------------------------------------- driver


def settle() -> None:
    """Keep what the client holds so far (prepared tokens and captchas, earlier phases'
    outcomes: tens of thousands of objects) out of its own garbage collector before a
    phase: its full collections would otherwise stall the client for tens of ms at a
    time, which the open loop counts as server latency."""
    gc.collect()
    gc.freeze()


async def profile(pid: int, args: argparse.Namespace) -> asyncio.subprocess.Process:
    """py-spy (``pip install py-spy``) sampling the server through the capacity phase."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [spy, "record", "--pid", str(pid), "--duration", str(int(args.seconds))]
    command += ["--rate", "250", "--format", "raw", "--nonblocking", "-o", args.profile]
    return await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL)


async def drive(args: argparse.Namespace) -> list[Phase]:
    raise_open_files()
    secret = secrets.token_urlsafe(32)
    with embedded_redis() as redis_url, tempfile.TemporaryDirectory() as data_dir:
        print("  preparing participants and captchas…", file=sys.stderr)
        workload = await prepare(redis_url, Path(data_dir), secret, args)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(4096)
        workload.port = sock.getsockname()[1]
        os.environ.update(server_environment(secret, args))
        server_args = ["server", "--fd", str(sock.fileno()), "--redis", redis_url]
        async with child(
            MODULE, [*server_args, "--data-dir", data_dir], "server", pass_fds=[sock.fileno()]
        ) as server:
            pool = await connections(workload.port, args.connections)
            await closed_loop("warm-up", pool, workload.floor_request, min(args.seconds, 1.0))
            settle()
            used = cpu_seconds(server.pid)
            baseline = await closed_loop("baseline", pool, workload.floor_request, args.seconds)
            baseline.server_cpu_s = cpu_seconds(server.pid) - used
            settle()
            profiler = await profile(server.pid, args) if args.profile else None
            used = cpu_seconds(server.pid)
            capacity = await closed_loop("capacity", pool, workload.next_request, args.seconds)
            capacity.server_cpu_s = cpu_seconds(server.pid) - used
            if profiler is not None:
                await profiler.wait()
            settle()
            load = await open_loop(
                "goal load", pool, workload.next_request, args.rate, args.seconds
            )
            phases = [baseline, capacity, load]
            for connection in pool:
                if connection.transport is not None:
                    connection.transport.close()
        sock.close()
    return phases


def report(args: argparse.Namespace, phases: list[Phase], about: str) -> None:
    baseline, capacity, load = phases
    floor = baseline.accepted_per_s()
    print(
        f"\nSubmission path: one server process, captcha on, {args.duplicates:.0%} duplicates, "
        f"{args.connections} keep-alive connections, {args.seconds:g} s per phase"
    )
    print(f"machine: {about}; shared with other work, so figures are indicative")
    print(f"{'baseline { __typename }':44}{floor:>10,.0f} req/s")
    print(
        f"{'capacity: accepted submissions':44}{capacity.accepted_per_s():>10,.0f} /s"
        f"   {capacity.accepted_per_s() / floor:.2f}x the baseline"
    )
    floor_cpu, submit_cpu = baseline.cpu_ms_per_request(), capacity.cpu_ms_per_request()
    print(
        f"{'server CPU per request: floor / submission':44}"
        f"{floor_cpu:>10.3f} / {submit_cpu:.3f} ms   {submit_cpu / floor_cpu:.2f}x the floor"
    )
    for name, phase in (("capacity", capacity), (f"at {args.rate:g}/s offered", load)):
        for kind in ("duplicate", "fresh"):
            latencies = phase.latencies_ms(kind)
            print(
                f"{f'{name}: {kind} latency p50 / p99':44}"
                f"{percentile(latencies, 50):>10.1f} / {percentile(latencies, 99):.1f} ms"
            )
    achieved = load.accepted_per_s()
    print(
        f"{f'at {args.rate:g}/s offered: accepted':44}{achieved:>10,.0f} /s"
        f"   {achieved / floor:.2f}x the baseline"
    )
    for phase in phases:
        if phase.note:
            print(f"{phase.name}: ended after {phase.seconds:.1f} s: {phase.note}")
    errors = capacity.errors() + load.errors()
    print(f"{'errors':44}{dict(errors) or 'none'}")
    dup_p99 = percentile(load.latencies_ms("duplicate"), 99)
    most = capacity.accepted_per_s()
    print(
        "goals: "
        f"capacity {most:,.0f} accepted/s >= 1,000/s: {'met' if most >= 1000 else 'NOT met'}; "
        f"duplicate p99 {dup_p99:.1f} ms < 10 ms at {args.rate:g}/s offered: "
        f"{'met' if dup_p99 < 10 else 'NOT met'}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    roles = parser.add_subparsers(dest="role")
    server = roles.add_parser("server")
    server.add_argument("--fd", type=int, required=True)
    server.add_argument("--redis", required=True)
    server.add_argument("--data-dir", required=True)
    parser.add_argument("--rate", type=float, default=1000.0, help="offered submissions/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--profile", help="write py-spy's raw samples of the server's capacity phase here"
    )
    parser.add_argument("--duplicates", type=float, default=0.2, help="share of duplicates")
    parser.add_argument("--drawn", type=int, default=200, help="prompts already drawn")
    parser.add_argument("--capacity-guess", type=float, default=3000.0,
                        help="submissions/s to prepare participants for")  # fmt: skip
    parser.add_argument("--captcha-max-number", type=int, default=16,
                        help="ALTCHA difficulty; verifying costs the same at any")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a small run, for tests")
    args = parser.parse_args(argv)

    import uvloop

    if args.role == "server":
        run_server(args.fd, args.redis, args.data_dir)
        return
    if args.quick:
        args.rate, args.seconds, args.drawn = min(args.rate, 100.0), 1.0, 20
        args.capacity_guess, args.connections = 3000.0, 8
    about = machine()  # the load average before this run adds its own
    report(args, uvloop.run(drive(args)), about)


if __name__ == "__main__":
    main()
