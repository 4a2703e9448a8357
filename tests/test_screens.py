"""The big screens' endpoint (/graphql/screen): the same boards as /graphql from a lean
protocol of our own, with strawberry's close codes and limits, and no way around them."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import pytest
import websockets
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketState
from websockets.protocol import State

from server.live.screen import (
    CLOSE_TIMEOUT_S,
    DEAD_AFTER_S,
    PING_EVERY_S,
    SCREEN_PATH,
    ScreenProtocol,
    Screens,
    Wire,
)
from server.metrics import METRICS
from tests.boards import BOARD, GENERAL, next_board
from tests.client import GraphQLErrors, client_frame, closed_by_server, ws_connect
from tests.waiting import until

pytestmark = pytest.mark.timeout(60)

PROTOCOL = [websockets.Subprotocol("graphql-transport-ws")]


def screen_url(server: Any) -> str:
    return str(server.ws_url).replace("/graphql", SCREEN_PATH)


def hub(server: Any) -> Screens:
    """The process's screens hub, as the lifespan published it."""
    screens = server.view.screens
    assert isinstance(screens, Screens)
    return screens


async def test_a_screen_sees_the_same_boards_and_shares_the_channel(serve: Any) -> None:
    async with serve() as server:
        screens = hub(server)
        async with ws_connect(screen_url(server)) as screen, ws_connect(server.ws_url) as other:
            lean = screen.subscribe(BOARD, {"first": 5})
            general = other.subscribe(GENERAL, {"first": 5})  # strawberry's own task
            fast = other.subscribe(BOARD, {"first": 5})
            first = await next_board(lean)
            assert first == await next_board(general) == await next_board(fast)
            (connection,) = screens.connections
            assert isinstance(connection, ScreenProtocol) and connection.inner is None
            # One channel: the screen and the anonymous /graphql subscriber share it.
            (channel,) = server.fanout.channels.values()
            assert len(channel.subscribers) == 2
            await server.join()
            changed = await next_board(lean)
            assert changed == await next_board(general) == await next_board(fast)
            assert changed["participantCount"] == first["participantCount"] + 1
            assert channel.renders == 2
        await until(
            lambda: asyncio.sleep(0, not screens.connections), timeout=10, what="screen gone"
        )
        assert server.fanout.subscriber_count() == 0


async def test_a_screen_is_public_whatever_it_presents(serve: Any) -> None:
    async with serve() as server:
        url = screen_url(server)
        headers = {"Cookie": "lookalike_session=abc", "Authorization": "Bearer xyz"}
        async with (
            ws_connect(url, {"token": "one"}, additional_headers=headers) as a,
            ws_connect(url, {"token": "two"}) as b,
            ws_connect(url) as c,
        ):
            for client in (a, b, c):
                await next_board(client.subscribe(BOARD, {"first": 3}))
            (channel,) = server.fanout.channels.values()
            assert len(channel.subscribers) == 3


async def test_other_operations_are_refused_and_the_screen_stays(serve: Any) -> None:
    async with serve() as server, ws_connect(screen_url(server)) as ws:
        with pytest.raises(GraphQLErrors, match="leaderboard subscription only") as refused:
            await ws.execute("{ event { id } }")
        assert refused.value.code == "INVALID_INPUT"
        with pytest.raises(GraphQLErrors) as refused:
            await next_board(ws.subscribe(GENERAL, {"first": 3}))
        assert refused.value.code == "INVALID_INPUT"
        # Resolver errors arrive as on /graphql, then the operation ends.
        with pytest.raises(GraphQLErrors, match="between 0 and 100"):
            await next_board(ws.subscribe(BOARD, {"first": 1000}))
        for _ in range(8):
            await next_board(ws.subscribe(BOARD, {"first": 3}))
        with pytest.raises(GraphQLErrors, match="Subscription limit reached"):
            await next_board(ws.subscribe(BOARD, {"first": 3}))
        assert server.fanout.subscriber_count() == 8
        for operation_id in ("4", "5"):
            await ws.ws.send(json.dumps({"id": operation_id, "type": "complete"}))
        await until(
            lambda: asyncio.sleep(0, server.fanout.subscriber_count() == 6),
            timeout=10,
            what="two completed subscriptions to leave",
        )
        await ws.ws.send(json.dumps({"type": "ping"}))
        await next_board(ws.subscribe(BOARD, {"first": 3}))  # a freed slot is usable


@pytest.mark.parametrize(
    ("messages", "code", "reason"),
    [
        ([{"type": "subscribe", "id": "1", "payload": {"query": BOARD}}], 4401, "Unauthorized"),
        ([{"type": "connection_init"}, {"type": "connection_init"}], 4429, "Too many"),
        ([{"type": "connection_init", "payload": 3}], 4400, "Invalid connection init"),
        ([{"type": "connection_init"}, {"type": "next", "id": "1"}], 4400, "parse message"),
        ([{"type": "connection_init"}, {"type": "subscribe", "id": 7}], 4400, "parse message"),
        ([{"type": "connection_init"}, "[not json"], 4400, "valid JSON"),
        ([{"type": "connection_init"}, b"\x00binary"], 4400, "must be text"),
        ([{"type": "connection_init"}, "x" * (70 * 1024)], 1009, "exceeds limit"),  # websockets
        (
            [
                {"type": "connection_init"},
                {"type": "subscribe", "id": "a", "payload": {"query": BOARD}},
                {"type": "subscribe", "id": "a", "payload": {"query": BOARD}},
            ],
            4409,
            "Subscriber for a already exists",
        ),
    ],
)
async def test_protocol_errors_close_with_strawberrys_codes(
    serve: Any, messages: list[Any], code: int, reason: str
) -> None:
    async with serve() as server, websockets.connect(
        screen_url(server), subprotocols=PROTOCOL, max_size=None
    ) as ws:
        for message in messages:
            await ws.send(message if isinstance(message, str | bytes) else json.dumps(message))
        got_code, got_reason = await closed_by_server(ws, timeout=10)
        assert got_code == code and reason in (got_reason or "")
        assert server.fanout.subscriber_count() == 0


async def test_fragmented_messages_and_websocket_pings_work(serve: Any) -> None:
    async with serve() as server, websockets.connect(
        screen_url(server), subprotocols=PROTOCOL
    ) as ws:
        init = json.dumps({"type": "connection_init", "payload": {}})
        await ws.send([init[:5], init[5:12], init[12:]])  # three frames, one message
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        await asyncio.wait_for(await ws.ping(b"hello"), 10)  # a control frame, answered
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}


async def test_connection_init_must_come_within_five_seconds(serve: Any) -> None:
    async with serve() as server, websockets.connect(
        screen_url(server), subprotocols=PROTOCOL
    ) as ws:
        code, reason = await closed_by_server(ws, timeout=10)
        assert (code, reason) == (4408, "Connection initialisation timeout")


async def test_the_handshake_checks_origin_subprotocol_and_version(serve: Any) -> None:
    async with serve() as server:
        url = screen_url(server)
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url, subprotocols=PROTOCOL, origin="https://evil.example")
        assert refused.value.response.status_code == 403
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url)  # no graphql-transport-ws
        assert refused.value.response.status_code == 400
        assert b"graphql-transport-ws" in refused.value.response.body
        port = int(url.split(":")[2].split("/")[0])
        same = f"http://127.0.0.1:{port}"
        async with ws_connect(url, origin=same) as ws:  # the board's own origin
            await next_board(ws.subscribe(BOARD, {"first": 3}))


async def test_silent_screens_are_pinged_then_dropped(serve: Any) -> None:
    async with serve() as server, ws_connect(screen_url(server)) as ws:
        await next_board(ws.subscribe(BOARD, {"first": 3}))
        (connection,) = hub(server).connections
        heard = connection.heard
        # A quiet screen gets a ping; the client's automatic pong counts as hearing it.
        connection.keepalive(heard + PING_EVERY_S)
        await until(
            lambda: asyncio.sleep(0, connection.heard > heard), timeout=10, what="the pong"
        )
        connection.keepalive(connection.heard + DEAD_AFTER_S + 1)  # nothing for too long
        await asyncio.wait_for(ws.closed, 10)
        assert server.fanout.subscriber_count() == 0
        assert not hub(server).connections


async def test_shutdown_tells_screens_to_come_back(serve: Any) -> None:
    async with serve() as server, ws_connect(screen_url(server)) as ws:
        await next_board(ws.subscribe(BOARD, {"first": 3}))
        (connection,) = hub(server).connections
        connection.shutdown()
        code, reason = await asyncio.wait_for(ws.closed, 10)
        assert (code, reason) == (1012, "server restarting")


async def test_without_the_fast_path_the_route_serves_graphql(serve: Any) -> None:
    async with serve(leaderboard_fanout=False) as server, ws_connect(screen_url(server)) as ws:
        board = ws.subscribe(BOARD, {"first": 3})
        first = await next_board(board)
        await server.join()
        assert (await next_board(board))["participantCount"] == first["participantCount"] + 1
        assert server.view.screens is None


async def test_the_subscribers_gauge_counts_screens_not_channels(serve: Any) -> None:
    def screens() -> float:
        found = METRICS.registry.get_sample_value("lookalike_subscribers", {"kind": "leaderboard"})
        return found or 0.0

    async with serve() as server:
        before = screens()
        async with (
            ws_connect(screen_url(server)) as a,
            ws_connect(screen_url(server)) as b,
            ws_connect(server.ws_url) as c,
        ):
            for stream in (
                a.subscribe(BOARD, {"first": 3}),
                b.subscribe(BOARD, {"first": 3}),
                c.subscribe(BOARD, {"first": 3}),
                c.subscribe(GENERAL, {"first": 3}),  # strawberry's own path
            ):
                await next_board(stream)
            assert len(server.fanout.channels) == 1
            assert screens() == before + 4
        await until(
            lambda: asyncio.sleep(0, screens() == before),
            timeout=10,
            what="the gauge to come back down",
        )


# ------------------------------------------------------------ the frames, by websockets


class Tape:
    """A transport that keeps what was written."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class Recording(ScreenProtocol):
    """The protocol with its messages recorded instead of acted on."""

    __slots__ = ("messages",)

    def _message(self, data: bytes) -> None:
        self.messages.append(data.decode())


@given(
    messages=st.lists(st.text(max_size=300), min_size=1, max_size=6),
    data=st.data(),
)
@settings(max_examples=200, deadline=None)
def test_any_framing_and_chunking_gives_back_the_messages(messages: list[str], data: Any) -> None:
    """Messages split into fragments (pings between them), the bytes cut anywhere:
    websockets' frames, put together here, give back exactly the messages, and every
    ping is answered."""
    stream = b""
    pings = 0
    for message in messages:
        payload = message.encode()
        cuts = sorted(data.draw(st.lists(st.integers(0, len(payload)), max_size=3)))
        pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
        for index, piece in enumerate(pieces):
            mask = data.draw(st.binary(min_size=4, max_size=4))
            opcode = 0x1 if index == 0 else 0x0
            stream += client_frame(piece, opcode, fin=index == len(pieces) - 1, mask=mask)
            if data.draw(st.booleans()):
                stream += client_frame(b"hi", 0x9, mask=mask)  # a ping may come between
                pings += 1
    splits = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    chunks = [stream[a:b] for a, b in zip([0, *splits], [*splits, len(stream)], strict=True)]

    async def run() -> tuple[list[str], bytes]:
        protocol = Recording(None, None, {})
        protocol.messages = []
        tape = Tape()
        protocol.transport = tape  # type: ignore[assignment]
        protocol.wire = Wire(State.OPEN)  # as after the handshake
        protocol.screens = cast(Screens, object())
        protocol.application_state = WebSocketState.CONNECTED
        for chunk in chunks:
            if chunk:
                protocol.data_received(chunk)
        return protocol.messages, bytes(tape.written)

    got, written = asyncio.run(run())
    assert got == messages
    assert written == b"\x8a\x02hi" * pings


# Frames that break RFC 6455, each written raw after the handshake: the close code seen.
BROKEN: list[tuple[str, bytes, int]] = [
    ("an unmasked frame", b"\x81\x02hi", 1002),
    ("a reserved bit set", bytes([0xC1]) + client_frame(b"hi")[1:], 1002),
    ("an unknown opcode", client_frame(b"hi", 0x3), 1002),
    ("a fragmented ping", client_frame(b"hi", 0x9, fin=False), 1002),
    ("a continuation with nothing to continue", client_frame(b"hi", 0x0), 1002),
    ("a new message inside a fragmented one",
     client_frame(b"{", 0x1, fin=False) + client_frame(b"}", 0x1), 1002),
    ("a ping over 125 bytes", client_frame(b"x" * 126, 0x9), 1002),
    ("text that is not UTF-8", client_frame(b'{"type": "ping", "x": "\xff"}'), 1007),
    ("a message over 64 KiB in small fragments",
     b"".join(client_frame(b"x" * 8192, 0x1 if n == 0 else 0x0, fin=False) for n in range(9)),
     1009),
]  # fmt: skip


@pytest.mark.parametrize(("frames", "code"), [(f, c) for _, f, c in BROKEN],
                         ids=[name for name, _, _ in BROKEN])  # fmt: skip
async def test_broken_frames_close_with_the_rfc_code(serve: Any, frames: bytes, code: int) -> None:
    async with serve() as server, websockets.connect(
        screen_url(server), subprotocols=PROTOCOL
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        payload = {"query": BOARD, "variables": {"first": 3}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        assert json.loads(await ws.recv())["type"] == "next"
        ws.transport.write(frames)
        got, _ = await closed_by_server(ws, timeout=10)
        assert got == code
        await until(
            lambda: asyncio.sleep(0, not hub(server).connections), timeout=10, what="the drop"
        )
        assert server.fanout.subscriber_count() == 0


async def test_the_close_handshake_both_ways(serve: Any) -> None:
    """The screen closes: its code is echoed and the server hangs up. The server closes
    (a protocol error): the screen's answer completes the handshake cleanly."""
    async with serve() as server:
        async with ws_connect(screen_url(server)) as ws:
            await next_board(ws.subscribe(BOARD, {"first": 3}))
            await ws.ws.close(4000, "bye")
            assert (ws.ws.close_code, ws.ws.close_reason) == (4000, "bye")
        async with websockets.connect(screen_url(server), subprotocols=PROTOCOL) as raw:
            await raw.send("[not json")
            code, _ = await closed_by_server(raw, timeout=10)
            assert code == 4400
            assert raw.protocol.close_sent is not None  # the client answered
            assert raw.protocol.close_sent.code == 4400
        await until(
            lambda: asyncio.sleep(0, not hub(server).connections), timeout=10, what="the drop"
        )
        assert server.fanout.subscriber_count() == 0


def test_a_screen_that_never_answers_our_close_is_cut_off() -> None:
    async def run() -> Tape:
        protocol = ScreenProtocol(None, None, {})
        tape = Tape()
        aborted: list[bool] = []
        tape.abort = lambda: aborted.append(True)  # type: ignore[attr-defined]
        protocol.transport = tape  # type: ignore[assignment]
        protocol.wire = Wire(State.OPEN)
        protocol.application_state = WebSocketState.CONNECTED
        protocol.close(4400, "bad")
        assert tape.written.startswith(b"\x88") and not tape.closed  # waiting for the answer
        protocol.keepalive(protocol.heard + CLOSE_TIMEOUT_S + 1)
        assert aborted == [True]
        return tape

    asyncio.run(run())


async def test_screens_per_address_are_capped(serve: Any) -> None:
    """One address cannot hold thousands of screens: past the cap the handshake is
    refused with 429, and a closed screen frees its place."""
    async with serve(screen_connections_per_address=2) as server:
        url = screen_url(server)
        async with ws_connect(url) as first, ws_connect(url):
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(url, subprotocols=PROTOCOL)
            assert refused.value.response.status_code == 429
            assert b"too many screens" in refused.value.response.body
            await next_board(first.subscribe(BOARD, {"first": 3}))  # the others are fine
        await until(
            lambda: asyncio.sleep(0, not hub(server).per_address), timeout=10, what="release"
        )
        async with ws_connect(url) as again:
            await next_board(again.subscribe(BOARD, {"first": 3}))


async def test_behind_a_trusted_proxy_screens_count_per_client(serve: Any) -> None:
    async with serve(screen_connections_per_address=1, trusted_proxies=("127.0.0.1",)) as server:
        url = screen_url(server)
        behind = [{"X-Forwarded-For": f"203.0.113.{n}"} for n in (1, 2)]
        async with ws_connect(url, additional_headers=behind[0]), ws_connect(
            url, additional_headers=behind[1]
        ):
            assert sorted(hub(server).per_address) == ["203.0.113.1", "203.0.113.2"]
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(url, subprotocols=PROTOCOL, additional_headers=behind[0])
            assert refused.value.response.status_code == 429
