"""The leaderboard fast path: same payloads as the GraphQL path, one render per update
and selection, slow screens dropped with bounded buffers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import pytest
import websockets
from starlette.websockets import WebSocketState
from strawberry.types import ExecutionResult
from websockets.frames import Frame, Opcode

from server.live.channels import Channel, Fanout, Subscriber, frame_header
from tests.boards import BOARD, GENERAL, next_board
from tests.client import closed_by_server, ws_connect

pytestmark = pytest.mark.timeout(60)


async def test_shared_payloads_equal_the_graphql_paths(serve: Any) -> None:
    async with serve() as server, ws_connect(server.ws_url) as a, ws_connect(server.ws_url) as b:
        fast = a.subscribe(BOARD, {"first": 5})
        general = b.subscribe(GENERAL, {"first": 5})
        first = await next_board(fast)
        assert first == await next_board(general)
        assert server.fanout.subscriber_count() == 1  # only the single-field document
        await server.join()
        changed = await next_board(fast)
        assert changed == await next_board(general)
        assert changed["participantCount"] == first["participantCount"] + 1


async def test_one_render_per_update_and_selection(serve: Any) -> None:
    async with serve() as server, contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(ws_connect(server.ws_url)) for _ in range(4)]
        streams = [c.subscribe(BOARD, {"first": 3}) for c in clients]
        streams += [c.subscribe(BOARD, {"first": 7}) for c in clients[:2]]
        frames = [[await next_board(s)] for s in streams]
        for _ in range(3):
            await server.join()
            for stream, seen in zip(streams, frames, strict=True):
                seen.append(await next_board(stream))
                while seen[-1]["participantCount"] < server.joined:
                    seen.append(await next_board(stream))
        assert len(server.fanout.channels) == 2
        renders = {c.key[2]: c.renders for c in server.fanout.channels.values()}
        frames_seen = {'{"first": 3}': len(frames[0]), '{"first": 7}': len(frames[4])}
        assert renders == frames_seen  # six subscribers, but one render per update each
        assert all(len(seen) == len(frames[0]) for seen in frames[:4])
        assert all(len(seen) == len(frames[4]) for seen in frames[4:])
        assert server.fanout.renders == sum(renders.values())


async def test_with_the_fast_path_off_strawberry_serves_the_board(serve: Any) -> None:
    async with serve(leaderboard_fanout=False) as server, ws_connect(server.ws_url) as ws:
        board = ws.subscribe(BOARD, {"first": 3})
        first = await next_board(board)
        await server.join()
        assert (await next_board(board))["participantCount"] == first["participantCount"] + 1
        assert server.view.fanout is None


async def test_results_are_shared_only_among_equal_credentials(serve: Any) -> None:
    async with serve() as server, contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(ws_connect(server.ws_url, payload))
            for payload in (None, None, {"token": "one"}, {"token": "two"})
        ]
        for client in clients:
            await next_board(client.subscribe(BOARD, {"first": 3}))
        assert sorted(len(c.subscribers) for c in server.fanout.channels.values()) == [1, 1, 2]


async def test_shared_subscriptions_complete_and_report_resolver_errors(serve: Any) -> None:
    async with serve() as server, ws_connect(server.ws_url) as ws:
        stream = ws.subscribe(BOARD, {"first": 3})
        await next_board(stream)
        await stream.aclose()  # sends nothing; tell the server ourselves
        await ws.ws.send(json.dumps({"id": "1", "type": "complete"}))
        # Errors from the resolver arrive as on the general path, then the operation ends.
        with pytest.raises(Exception, match="between 0 and 100"):
            await next_board(ws.subscribe(BOARD, {"first": 1000}))
        assert (await ws.execute("{ event { status } }"))["event"]["status"] == "OPEN"
        assert server.fanout.subscriber_count() == 0


async def test_the_subscription_limit_counts_shared_subscriptions(serve: Any) -> None:
    async with serve() as server, ws_connect(server.ws_url) as ws:
        for _ in range(8):
            await next_board(ws.subscribe(BOARD, {"first": 3}))
        with pytest.raises(Exception, match="Subscription limit reached"):
            await next_board(ws.subscribe(BOARD, {"first": 3}))
        assert server.fanout.subscriber_count() == 8


async def test_a_duplicate_id_closes_with_4409(serve: Any) -> None:
    async with serve() as server, ws_connect(server.ws_url) as ws:
        query = {"query": BOARD, "variables": {"first": 3}}
        subscribe = {"id": "x", "type": "subscribe", "payload": query}
        await ws.ws.send(json.dumps(subscribe))
        await ws.ws.send(json.dumps(subscribe))
        code, _ = await asyncio.wait_for(ws.closed, 10)
        assert code == 4409


async def test_a_screen_that_stops_reading_is_dropped(serve: Any) -> None:
    async with serve(ws_send_buffer_max_bytes=4096, leaderboard_push_interval_ms=0) as server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny window
        host, port = server.ws_url.removeprefix("ws://").split("/")[0].split(":")
        sock.connect((host, int(port)))
        async with websockets.connect(
            server.ws_url,
            sock=sock,
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
            max_queue=1,  # stop reading the socket once a message waits unread
        ) as slow, ws_connect(server.ws_url) as watcher:
            await slow.send(json.dumps({"type": "connection_init"}))
            await slow.recv()
            query = {"query": BOARD, "variables": {"first": 3}}
            await slow.send(json.dumps({"id": "slow", "type": "subscribe", "payload": query}))
            board = watcher.subscribe(BOARD, {"first": 3})
            await next_board(board)
            # A slow phone on crowded Wi-Fi: small kernel buffers on the server's side too.
            (channel,) = server.fanout.channels.values()
            (stalled,) = [s for s in channel.subscribers if s.operation_id == "slow"]
            server_sock = cast(asyncio.Transport, stalled.transport).get_extra_info("socket")
            server_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            for _ in range(5000):
                if server.fanout.subscriber_count() == 1:
                    break
                await server.join()
                while (await next_board(board))["participantCount"] < server.joined:
                    pass
            assert server.fanout.subscriber_count() == 1, "the slow screen was never dropped"
            await closed_by_server(slow, timeout=10)


# ------------------------------------------------------------------ the channel alone


class FakeTransport:
    def __init__(self, backlog: int = 0) -> None:
        self.backlog = backlog
        self.written: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return self.backlog

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


@dataclass
class FakeConnection:
    application_state: WebSocketState = WebSocketState.CONNECTED


def unframe(data: bytes) -> dict[str, Any]:
    """Parse one unmasked server text frame."""
    assert data[0] == 0x81 and not data[1] & 0x80
    length, offset = data[1], 2
    if length == 126:
        (length,), offset = struct.unpack("!H", data[2:4]), 4
    elif length == 127:
        (length,), offset = struct.unpack("!Q", data[2:10]), 10
    assert len(data) == offset + length
    message: dict[str, Any] = json.loads(data[offset:])
    return message


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_frame_headers_carry_the_length(size: int) -> None:
    """The broadcast's header makes the very frame websockets would send."""
    payload = b"x" * size
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=())
    assert frame_header(size) + payload == expected


KEY = ("", "query", "{}", "")


def fake_subscribers(count: int, released: list[str]) -> list[Subscriber]:
    return [
        Subscriber(FakeTransport(), FakeConnection(), name, release=partial(released.append, name))
        for name in (f"id-{i}" for i in range(count))
    ]


async def test_a_channel_renders_once_per_result_and_drops_the_backlogged() -> None:
    fanout = Fanout(limit=1000)
    released: list[str] = []
    subscribers = fake_subscribers(4, released)
    slow = subscribers[3].transport
    assert isinstance(slow, FakeTransport)
    slow.backlog = 1001

    async def results() -> AsyncIterator[object]:
        for n in range(3):
            yield ExecutionResult(data={"leaderboard": {"n": n}}, errors=None)

    for subscriber in subscribers:
        channel = fanout.subscribe(KEY, subscriber, results)
    assert len(fanout.channels) == 1 and channel.task is not None
    await channel.task  # runs the three results, then the end of the stream

    assert channel.renders == fanout.renders == 3
    assert slow.aborted and slow.written == []
    for i, subscriber in enumerate(subscribers[:3]):
        assert isinstance(subscriber.transport, FakeTransport)
        messages = [unframe(frame) for frame in subscriber.transport.written]
        assert messages == [
            *(
                {"id": f"id-{i}", "type": "next", "payload": {"data": {"leaderboard": {"n": n}}}}
                for n in range(3)
            ),
            {"id": f"id-{i}", "type": "complete"},
        ]
    assert sorted(released) == ["id-0", "id-1", "id-2"] and fanout.channels == {}


async def test_a_late_joiner_gets_the_current_state_without_a_render() -> None:
    fanout = Fanout(limit=1000)
    channel = Channel(fanout, KEY)
    first, late = fake_subscribers(2, [])
    channel.join(first)
    await channel.publish({"data": {"leaderboard": {"n": 1}}})
    channel.join(late)
    assert isinstance(late.transport, FakeTransport)
    assert [unframe(f)["payload"] for f in late.transport.written] == [
        {"data": {"leaderboard": {"n": 1}}}
    ]
    assert channel.renders == 1


async def test_the_last_subscriber_leaving_closes_the_channel() -> None:
    fanout = Fanout(limit=1000)
    started, closed = asyncio.Event(), asyncio.Event()

    async def forever() -> AsyncIterator[object]:
        started.set()
        try:
            await asyncio.Event().wait()
            yield None
        finally:
            closed.set()

    subscriber = fake_subscribers(1, [])[0]
    channel = fanout.subscribe(KEY, subscriber, forever)
    await asyncio.wait_for(started.wait(), 5)
    fanout.unsubscribe(KEY, subscriber)
    await asyncio.wait_for(closed.wait(), 5)
    assert fanout.channels == {} and channel.task is not None and channel.task.cancelled()
