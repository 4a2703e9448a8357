"""Leaderboard fan-out: thousands of WebSocket screens on one server process.

    python -m benchmarks.fanout                  # 10,000 subscribers (the goal's scale)
    python -m benchmarks.fanout --quick          # 100 subscribers, a few updates

What runs, each in its own process: an embedded Redis; the server (uvicorn with the real
app, one process); one or more "screen" processes holding the raw WebSocket clients,
which speak graphql-transport-ws and subscribe to the big screen's leaderboard query;
and this driver, which commits scores the way the worker does (``Store.complete``).

Then the same screens run against the baseline, a bare ``websockets`` server that
broadcasts the same bytes (a frame captured from our server) when told to over Redis
pub/sub. Figures, ours against that baseline:

- commit → frame delay at ``--rate`` updates per second: per update, the delay to the
  *last* subscriber's frame (p50/p99/max over updates), and over all frames;
- throughput: updates sent back to back, each as soon as the previous one reached every
  subscriber; subscriber-frames and bytes per second;
- memory per idle subscriber: the server's RSS growth over its subscribers.

``--general N`` also measures strawberry's general path (the fast path switched off, a
task and a GraphQL execution per subscriber) with N subscribers, for before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from benchmarks.harness import (
    Child,
    child,
    embedded_redis,
    machine,
    percentile,
    raise_open_files,
    ratio,
    rss_bytes,
)
from server.live.screen import SCREEN_PATH  # the board's endpoint
from tests.client import client_frame

MODULE = "benchmarks.fanout"
# The big screen's subscription, as web/src/operations.ts sends it.
FIELDS = """submissions { id name score imageUrl rank }
  lastUpdatedAt participantCount submissionCount frozen
  latest { id name score imageUrl }"""
QUERY = f"""subscription WatchLeaderboard($first: Int!) {{
  leaderboard(first: $first) {{ {FIELDS} }}
}}"""
FIRST = 10
# Commit k's participant is "u%06d" (k < 100,000) and tops the board.
MARKER = b'"u0'
MARKER_SKIP = 2  # the quote and the "u"
BARE_CHANNEL = "lookalike-bench:bare"
PROTOCOL = "graphql-transport-ws"
# What a browser adds to a WebSocket handshake: a server that keeps the request pays for it.
BROWSER_HEADERS = (
    "Origin: http://127.0.0.1:{port}\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-GB,en-US;q=0.9,en;q=0.8\r\n"
)  # no Sec-WebSocket-Extensions: the bare server would compress every frame


# --------------------------------------------------------------------------- screens


def marker_of(message: bytes) -> int:
    at = message.find(MARKER)
    if at < 0:
        return 0
    start = at + MARKER_SKIP
    return int(message[start : start + 6])


class Crowd:
    """All screens of one process and what they received."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.closed = 0
        self.arrivals: defaultdict[int, list[float]] = defaultdict(list)
        self.reported = 0
        self.sample = b""

    def saw(self, old: int, new: int, now: float) -> None:
        for k in range(old + 1, new + 1):
            self.arrivals[k].append(now)
        self._report()

    def lost(self) -> None:
        self.closed += 1
        self._report()

    def _report(self) -> None:
        # Screens see updates in order, so "everyone has k" is checked in order of k.
        while len(self.arrivals.get(self.reported + 1, ())) >= self.count - self.closed > 0:
            self.reported += 1
            print(f"done {self.reported}", flush=True)


class Screen(asyncio.Protocol):
    """One raw graphql-transport-ws client subscribed to the leaderboard."""

    def __init__(self, crowd: Crowd, request: bytes, subscribe: bytes, sample: bool) -> None:
        self.crowd = crowd
        self.request = request
        self.subscribe = subscribe
        self.keep_sample = sample
        self.buffer = b""
        self.state = "handshake"
        self.seen = -1
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(f"closed before subscribing: {exc}"))
        elif self.state != "closed":
            self.crowd.lost()
        self.state = "closed"

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        if self.state == "handshake":
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self._fail(f"handshake refused: {buffer[:80]!r}")
                return
            buffer = buffer[end + 4 :]
            self.state = "init"
            self._write(client_frame(json.dumps({"type": "connection_init"}).encode()))
        self.buffer = self._frames(buffer)

    def _frames(self, buffer: bytes) -> bytes:
        position, size = 0, len(buffer)
        while size - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            length, offset = second & 0x7F, 2
            if length == 126:
                if size - position < 4:
                    break
                length, offset = int.from_bytes(buffer[position + 2 : position + 4], "big"), 4
            elif length == 127:
                if size - position < 10:
                    break
                length, offset = int.from_bytes(buffer[position + 2 : position + 10], "big"), 10
            end = position + offset + length
            if end > size:
                break
            self._message(first & 0x0F, buffer[position + offset : end])
            position = end
        return buffer[position:]

    def _message(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x9:  # ping: answer, or the server closes us as dead
            self._write(client_frame(payload, 0xA))
            return
        if opcode == 0x8:
            self.state = "closed"
            self.crowd.lost()
            return
        if opcode != 0x1:
            return
        if self.state == "init":
            if b"connection_ack" not in payload:
                self._fail(f"expected connection_ack, got {payload[:80]!r}")
                return
            self.state = "subscribing"
            self._write(client_frame(self.subscribe))
            return
        if b'"next"' not in payload[:64]:
            self._fail(f"expected a next message, got {payload[:200]!r}")
            return
        marker = marker_of(payload)
        if self.keep_sample and marker >= self.seen:
            self.crowd.sample = payload
        if self.state == "subscribing":
            self.state = "live"
            self.seen = marker
            self.crowd.reported = max(self.crowd.reported, marker)  # updates before ours
            self.subscribed.set_result(None)
        elif marker > self.seen:
            self.crowd.saw(self.seen, marker, time.time())
            self.seen = marker

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _fail(self, reason: str) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()


async def run_screens(port: int, count: int, path: str) -> None:
    """Child process: open ``count`` screens, say "ready", then serve commands."""
    raise_open_files()
    loop = asyncio.get_running_loop()
    crowd = Crowd(count)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {PROTOCOL}\r\n"
        f"{BROWSER_HEADERS.format(port=port)}\r\n"
    ).encode()
    subscribe = json.dumps(
        {"id": "1", "type": "subscribe", "payload": {"query": QUERY, "variables": {"first": FIRST}}}
    ).encode()
    gate = asyncio.Semaphore(128)  # handshakes in flight: the listen backlog is finite

    async def open_one(index: int) -> Screen:
        async with gate:
            _, screen = await loop.create_connection(
                lambda: Screen(crowd, request, subscribe, sample=index == 0), "127.0.0.1", port
            )
            await asyncio.wait_for(screen.subscribed, 120)
            return screen

    screens = await asyncio.gather(*(open_one(i) for i in range(count)))
    print("ready", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        command, _, argument = line.partition(" ")
        if command == "dump":
            Path(argument).write_text(
                json.dumps(
                    {
                        "arrivals": crowd.arrivals,
                        "closed": crowd.closed,
                        "sample": crowd.sample.decode(),
                    }
                )
            )
            print("dumped", flush=True)
    for screen in screens:
        if screen.transport is not None:
            screen.transport.close()


# ---------------------------------------------------------------------------- servers


def run_server(fd: int, redis_url: str, data_dir: str, fanout: bool) -> None:
    """Child process: the real app under uvicorn, one process, on an inherited socket."""
    import uvicorn

    from server.app import create_app
    from server.live.screen import server_options
    from server.settings import Settings

    raise_open_files()
    settings = Settings.from_env(
        os.environ,
        redis_url=redis_url,
        data_dir=Path(data_dir),
        captcha_provider="off",
        leaderboard_fanout=fanout,
        # Measure the fan-out, not the coalescing window: at one update per second the
        # window (100 ms by default) never delays a refresh anyway.
        leaderboard_push_interval_ms=0,
        # Every screen here comes from one address; a booth's crowd would not.
        screen_connections_per_address=1_000_000,
    )
    config = uvicorn.Config(create_app(settings), **server_options(log_level="warning"))
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


async def run_bare(fd: int, redis_url: str, template_file: str) -> None:
    """Child process: the baseline, a bare ``websockets`` broadcast of the same bytes."""
    import redis.asyncio
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    raise_open_files()
    prefix, suffix = json.loads(Path(template_file).read_text())
    current = [prefix + "000000" + suffix]
    screens: dict[ServerConnection, None] = {}

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # connection_init
        await ws.send('{"type":"connection_ack"}')
        await ws.recv()  # subscribe
        screens[ws] = None
        try:
            await ws.send(current[0])
            await ws.wait_closed()
        finally:
            screens.pop(ws, None)

    client = redis.asyncio.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(BARE_CHANNEL)
    sock = socket.socket(fileno=fd)
    async with serve(handler, sock=sock, subprotocols=[PROTOCOL], compression=None):  # type: ignore[list-item]
        async for message in pubsub.listen():
            if message["type"] == "message":
                current[0] = prefix + f"{int(message['data']):06d}" + suffix
                broadcast(screens, current[0])


async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The least an ASGI app can do for a screen: the floor of uvicorn's memory per socket."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept", "subprotocol": PROTOCOL})
    while (message := await receive())["type"] != "websocket.disconnect":
        text = message.get("text") or ""
        if '"connection_init"' in text:
            await send({"type": "websocket.send", "text": '{"type":"connection_ack"}'})
        elif '"subscribe"' in text:
            body = '{"id":"1","type":"next","payload":{"data":{"leaderboard":{"name":"u000000"}}}}'
            await send({"type": "websocket.send", "text": body})


def run_floor(fd: int) -> None:
    """Child process: :func:`floor_app` under uvicorn, configured as for the real app
    but with uvicorn's own WebSocket protocol (what any ASGI endpoint costs)."""
    import uvicorn

    from server.live.screen import server_options

    raise_open_files()
    config = uvicorn.Config(floor_app, **server_options(log_level="warning", ws="auto"))
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


# ----------------------------------------------------------------------------- driver


@dataclass
class Figures:
    """What one target (ours, the baseline, the general path) measured."""

    name: str
    subscribers: int
    last_delays_ms: list[float] = field(default_factory=list)
    all_delays_ms: list[float] = field(default_factory=list)
    missing: int = 0
    dropped: int = 0
    frames_per_s: float = float("nan")
    message_bytes: int = 0
    memory_per_subscriber: float = float("nan")
    sample: str = ""

    @property
    def bytes_per_s(self) -> float:
        return self.frames_per_s * (self.message_bytes + 4)


class Board:
    """The driver's hand on the contest: seed the board, then commit scores."""

    def __init__(self, redis_url: str) -> None:
        from server.state.connection import async_client
        from server.state.store import Store

        self.client = async_client(redis_url)
        self.store = Store(self.client)
        self.pending: list[str] = []

    async def seed(self, data_dir: Path, entries: int, commits: int) -> None:
        """The event, ``entries`` scored players, and ``commits`` prompts to score later."""
        from server.resources import ensure_current_event
        from server.state.pictures import ImageStore
        from tests.seeding import queue_prompt

        images = ImageStore(data_dir / "images")
        event_id = await ensure_current_event(self.store, images, "Benchmark")
        event = await self.store.event(event_id)
        for index in range(entries + commits):
            name = f"p{index:05d}" if index < entries else f"u{index - entries + 1:06d}"
            record = await queue_prompt(self.store, event, name, f"a duck number {index}")
            if index < entries:
                await self.commit_id(record.id, 0.1 + 0.8 * index / max(entries, 1))
            else:
                self.pending.append(record.id)

    async def commit(self, k: int) -> None:
        await self.commit_id(self.pending[k - 1], 0.95 + k * 1e-5)

    async def commit_id(self, submission_id: str, score: float) -> None:
        image = "0" * 64
        await self.store.complete(
            submission_id, score=score, image_key=image, model_version="benchmark"
        )

    async def publish(self, k: int) -> None:
        await self.client.publish(BARE_CHANNEL, str(k))

    async def close(self) -> None:
        await self.client.aclose()


@contextlib.asynccontextmanager
async def connected(
    name: str, server_args: list[str], args: argparse.Namespace, subscribers: int, path: str
) -> AsyncIterator[tuple[list[Child], Figures]]:
    """Start a server, connect every screen, measure memory per idle subscriber."""
    from tests.client import ws_connect

    figures = Figures(name, subscribers)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)  # screens wait in the backlog while the server starts
    port = sock.getsockname()[1]
    fd_args = ["--fd", str(sock.fileno())]
    async with (
        child(MODULE, [*server_args, *fd_args], name, pass_fds=[sock.fileno()]) as server,
        contextlib.AsyncExitStack() as stack,
    ):
        # One screen first: start-up done and code paths warm before the RSS baseline.
        async with ws_connect(f"ws://127.0.0.1:{port}{path}") as ws:
            async for _ in ws.subscribe(QUERY, {"first": FIRST}):
                break
        before = rss_bytes(server.pid)
        shares = [
            subscribers // args.processes + (i < subscribers % args.processes)
            for i in range(args.processes)
        ]
        screens = [
            await stack.enter_async_context(
                child(
                    MODULE,
                    ["screens", "--port", str(port), "--count", str(n), "--path", path],
                    f"screens{i}",
                )
            )
            for i, n in enumerate(shares)
            if n
        ]
        began = time.monotonic()
        for screen in screens:
            await screen.expect("ready", timeout=120 + subscribers / 20)
        print(
            f"  {name}: {subscribers} subscribed in {time.monotonic() - began:.1f} s",
            file=sys.stderr,
        )
        figures.memory_per_subscriber = (rss_bytes(server.pid) - before) / subscribers
        yield screens, figures
    sock.close()


async def measure(
    name: str,
    server_args: list[str],
    args: argparse.Namespace,
    subscribers: int,
    commit: Callable[[int], Awaitable[None]],
    first_k: int,
    path: str = SCREEN_PATH,
) -> Figures:
    """Start one server, connect the screens, run both phases, collect the figures."""
    async with connected(name, server_args, args, subscribers, path) as (screens, figures):
        # Phase 1: updates at a steady rate; the delay of every frame.
        commits: dict[int, float] = {}
        latency_ks = range(first_k, first_k + args.updates)
        for k in latency_ks:
            tick = time.monotonic()
            commits[k] = time.time()
            await commit(k)
            # Pacing the offered load, not waiting for anything to happen.
            await asyncio.sleep(max(0.0, 1 / args.rate - (time.monotonic() - tick)))
        await _all_done(screens, latency_ks[-1], timeout=60)

        # Phase 2: back to back, each update once the previous reached every screen.
        burst_ks = range(latency_ks[-1] + 1, latency_ks[-1] + 1 + args.burst)
        began = time.monotonic()
        for k in burst_ks:
            commits[k] = time.time()
            await commit(k)
            await _all_done(screens, k, timeout=60)
        figures.frames_per_s = subscribers * len(burst_ks) / (time.monotonic() - began)
        await _collect(figures, screens, commits, latency_ks)
    return figures


async def _all_done(screens: list[Child], k: int, timeout: float) -> None:
    for screen in screens:
        while True:
            line = await screen.expect("done ", timeout)
            if int(line.split()[1]) >= k:
                break


async def _collect(
    figures: Figures, screens: list[Child], commits: dict[int, float], latency_ks: range
) -> None:
    """Ask each screen process for its arrival times; turn them into delays."""
    last: dict[int, float] = {}
    received: defaultdict[int, int] = defaultdict(int)
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-") as directory:
        for index, screen in enumerate(screens):
            path = Path(directory) / f"{index}.json"
            await screen.tell(f"dump {path}")
            await screen.expect("dumped", 120)
            data = json.loads(path.read_text())
            figures.dropped += data["closed"]
            figures.sample = figures.sample or data["sample"]
            for key, times in data["arrivals"].items():
                k = int(key)
                received[k] += len(times)
                if k in latency_ks:
                    figures.all_delays_ms += [(t - commits[k]) * 1000 for t in times]
                if times:
                    last[k] = max(last.get(k, 0.0), *times)
    figures.missing = sum(figures.subscribers - received[k] for k in commits)
    figures.last_delays_ms = [(last[k] - commits[k]) * 1000 for k in latency_ks if k in last]
    figures.message_bytes = len(figures.sample.encode())


def _template(sample: str) -> tuple[str, str]:
    """Our frame with commit k's marker cut out: the baseline fills in its own k."""
    at = sample.index(MARKER.decode()) + MARKER_SKIP
    return sample[:at], sample[at + 6 :]


# ----------------------------------------------------------------------------- report


def report(args: argparse.Namespace, targets: list[Figures]) -> None:
    """Print the table: one column per target, the ratio ours/bare, and the goals."""
    ours, bare = targets[0], targets[1]
    print(
        f"\nLeaderboard fan-out: {ours.subscribers} subscribers on one server process, "
        f"{args.updates} updates at {args.rate:g}/s, then {args.burst} back to back; "
        f"{ours.message_bytes}-byte messages"
    )
    print(f"machine: {machine()}; shared with other work, so figures are indicative")
    names = "".join(f"{f'{t.name} ({t.subscribers})':>22}" for t in targets)
    print(f"{'':30}{names}{'ours vs bare':>14}")

    def row(label: str, value: Callable[[Figures], float], fmt: str, lower_better: bool) -> None:
        values = [value(t) for t in targets]
        cells = "".join(f"{'-':>22}" if v != v else f"{v:>22{fmt}}" for v in values)
        scale = ratio(values[1], values[0]) if lower_better else ratio(values[0], values[1])
        print(f"{label:30}{cells}{scale:>14}")

    row("last frame p50 (ms)", lambda t: percentile(t.last_delays_ms, 50), ".1f", True)
    row("last frame p99 (ms)", lambda t: percentile(t.last_delays_ms, 99), ".1f", True)
    row("last frame max (ms)", lambda t: max(t.last_delays_ms, default=float("nan")), ".1f", True)
    row("any frame p50 (ms)", lambda t: percentile(t.all_delays_ms, 50), ".1f", True)
    row("any frame p99 (ms)", lambda t: percentile(t.all_delays_ms, 99), ".1f", True)
    row("throughput (frames/s)", lambda t: t.frames_per_s, ",.0f", False)
    row("throughput (MB/s)", lambda t: t.bytes_per_s / 1e6, ".1f", False)
    row("memory per subscriber (KB)", lambda t: t.memory_per_subscriber / 1000, ".1f", True)
    losses = "".join(f"{f'{t.missing} / {t.dropped}':>22}" for t in targets)
    print(f"{'frames missed / screens lost':30}{losses}")
    p99 = percentile(ours.last_delays_ms, 99)
    share = ours.frames_per_s / bare.frames_per_s if bare.frames_per_s else float("nan")
    memory = ours.memory_per_subscriber / 1000
    print(
        "goals: "
        f"last-frame p99 {p99:.0f} ms < 250 ms: {_met(p99 < 250)}; "
        f"throughput {share:.2f}x bare >= 0.5x: {_met(share >= 0.5)}; "
        f"{memory:.1f} KB per idle subscriber <= 10 KB: {_met(memory <= 10)}"
    )


def _met(goal: bool) -> str:
    return "met" if goal else "NOT met"


# ------------------------------------------------------------------------------- main


async def drive(args: argparse.Namespace) -> None:
    raise_open_files()
    with embedded_redis() as redis_url, tempfile.TemporaryDirectory() as data_dir:
        board = Board(redis_url)
        try:
            await board.seed(Path(data_dir), args.board, 2 * (args.updates + args.burst))
            server = ["server", "--redis", redis_url, "--data-dir", data_dir]
            targets = [
                await measure("ours", server, args, args.subscribers, board.commit, 1, args.path)
            ]
            template = Path(data_dir) / "template.json"
            template.write_text(json.dumps(_template(targets[0].sample)))
            bare = ["bare", "--redis", redis_url, "--template", str(template)]
            targets.append(await measure("bare", bare, args, args.subscribers, board.publish, 1))
            floor_args = ("uvicorn floor", ["floor"], args, args.subscribers, "/graphql")
            async with connected(*floor_args) as (_, floor):
                targets.append(floor)
            if args.general:
                general, first_k = [*server, "--general"], args.updates + args.burst + 1
                targets.append(
                    await measure(
                        "general", general, args, args.general, board.commit, first_k, "/graphql"
                    )
                )
        finally:
            await board.close()
    report(args, targets)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    roles = parser.add_subparsers(dest="role")
    run = roles.add_parser("run", help="the benchmark (default)")
    for p in (parser, run):
        p.add_argument("--subscribers", type=int, default=10_000)
        p.add_argument("--updates", type=int, default=30, help="updates at --rate")
        p.add_argument("--rate", type=float, default=1.0, help="updates per second")
        p.add_argument("--burst", type=int, default=30, help="back-to-back updates")
        p.add_argument("--board", type=int, default=40, help="players on the board")
        p.add_argument("--processes", type=int, default=2, help="screen processes")
        p.add_argument(
            "--general",
            type=int,
            default=0,
            help="also measure the general path with this many subscribers",
        )
        p.add_argument(
            "--path",
            default=SCREEN_PATH,
            help=f"where our screens connect: {SCREEN_PATH} (the board's) or /graphql",
        )
        p.add_argument("--quick", action="store_true", help="a small run, for tests")
    server = roles.add_parser("server")
    server.add_argument("--fd", type=int, required=True)
    server.add_argument("--redis", required=True)
    server.add_argument("--data-dir", required=True)
    server.add_argument("--general", action="store_true")
    bare = roles.add_parser("bare")
    bare.add_argument("--fd", type=int, required=True)
    bare.add_argument("--redis", required=True)
    bare.add_argument("--template", required=True)
    floor = roles.add_parser("floor")
    floor.add_argument("--fd", type=int, required=True)
    screens = roles.add_parser("screens")
    screens.add_argument("--port", type=int, required=True)
    screens.add_argument("--count", type=int, required=True)
    screens.add_argument("--path", default=SCREEN_PATH)
    args = parser.parse_args(argv)

    import uvloop

    if args.role == "server":
        run_server(args.fd, args.redis, args.data_dir, fanout=not args.general)
    elif args.role == "bare":
        uvloop.run(run_bare(args.fd, args.redis, args.template))
    elif args.role == "floor":
        run_floor(args.fd)
    elif args.role == "screens":
        uvloop.run(run_screens(args.port, args.count, args.path))
    else:
        if args.quick:
            args.subscribers, args.updates, args.rate = min(args.subscribers, 100), 5, 5.0
            args.burst, args.board, args.processes = 5, 12, 1
            args.general = min(args.general, 50) or 50
        asyncio.run(drive(args))


if __name__ == "__main__":
    main()
