"""The big screens' own WebSocket endpoint, ``/graphql/screen``: lean enough for 10,000.

A screen only ever holds one leaderboard subscription open. Behind uvicorn's WebSocket
support each idle connection still costs about 21 KB: uvicorn's protocol object and its
WebSocket state machine, the ASGI application's task with its stack of coroutine frames
(middleware, router, strawberry's handler), the context. This endpoint is an
:class:`asyncio.Protocol` of its own that speaks just enough graphql-transport-ws for a
screen, and joins the shared channels of :mod:`server.live.channels` directly, so an idle screen
is a transport, one small object and its subscriber (about 3 KB in all, by
``python -m benchmarks.fanout``).

What it serves: ``connection_init``/``connection_ack``, ``ping``/``pong``, and
``subscribe``/``complete`` of operations that are a single ``leaderboard`` field (what
:meth:`Fanout.plan` accepts); any other operation gets an ``error`` with code
``INVALID_INPUT`` and the connection stays open. Everything is public: cookies, tokens and
``connection_init`` parameters are ignored, so every screen sees what the public sees
(frozen standings while frozen). Close codes and reasons are strawberry's (4400, 4401,
4408, 4409, 4429), and the origin check is the ``/graphql`` one. A message over
:data:`MAX_MESSAGE_BYTES` closes with 1009; an address holding
``LOOKALIKE_SCREEN_CONNECTIONS_PER_ADDRESS`` screens already is refused with HTTP 429.

How it plugs in: :class:`ScreenProtocol` is uvicorn's ``ws`` protocol class
(:func:`server_options`). uvicorn hands it the upgrade request; a request for another path,
or arriving before the app's start-up published a :class:`Screens` hub in the lifespan
state, goes to uvicorn's own WebSocket protocol unchanged. Under any other server, or
with ``LOOKALIKE_LEADERBOARD_FANOUT=false``, the application serves ``/graphql/screen`` as
a second route to the ordinary GraphQL endpoint, so pages work either way.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import struct
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketState
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

from server.abuse.limits import client_ip, ip_bucket
from server.api import intake
from server.api.context import Context
from server.errors import ApiError
from server.live.channels import (
    CONNECTION_TRANSPORT,
    Fanout,
    Key,
    Plan,
    Subscriber,
    credentials,
    encode,
    frame_header,
)
from server.live.channels import stream as plan_stream

try:  # the C version that ships with the websockets package
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

if TYPE_CHECKING:
    from server.api.view import GraphQLView
    from server.resources import Resources

log = logging.getLogger(__name__)

SCREEN_PATH = "/graphql/screen"
STATE_KEY = "lookalike.screens"  # where the app's lifespan state holds the hub
SUBPROTOCOL = "graphql-transport-ws"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 1.3
MAX_MESSAGE_BYTES = 64 * 1024  # uvicorn's ws_max_size for /graphql, and this endpoint's
PING_EVERY_S = 20.0  # as uvicorn's ws_ping_interval; a silent screen is pinged this often
DEAD_AFTER_S = 2 * PING_EVERY_S + 10.0  # nothing heard this long, not even a pong: gone
_PING = b"\x89\x00"
_ACK = encode({"type": "connection_ack"})
_PONG = encode({"type": "pong"})


class Screens:
    """The endpoint's shared state in one server process: the hub every screen joins."""

    def __init__(self, view: GraphQLView, fanout: Fanout) -> None:
        """Screens of ``view`` (``/graphql``'s view: its schema, origin rule, init timeout
        and operations limit) on its ``fanout``."""
        self.view = view
        self.fanout = fanout
        self.init_timeout_s = view.connection_init_wait_timeout.total_seconds()
        self.max_operations = view.max_subscriptions_per_connection
        self.connections: set[ScreenProtocol] = set()
        self.per_address: dict[str, int] = {}
        """Open screens by client address (see :meth:`admit`)."""
        self.max_per_address = 0
        self.trusted_proxies: tuple[str, ...] = ()
        self.context: Context | None = None
        self.credentials = ""
        self._sweeper: asyncio.TimerHandle | None = None

    def start(self, resources: Resources) -> None:
        """Called in the app's lifespan, once the process's resources are open."""
        self.max_per_address = resources.settings.screen_connections_per_address
        self.trusted_proxies = resources.settings.trusted_proxies
        scope = {"type": "websocket", "path": SCREEN_PATH, "headers": [], "query_string": b""}
        self.context = Context(resources, HTTPConnection(scope), None, {})
        self.credentials = credentials(self.context)
        self._sweeper = asyncio.get_running_loop().call_later(PING_EVERY_S, self._sweep)

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.context = None

    @property
    def ready(self) -> bool:
        return self.context is not None

    def admit(self, peer: str | None, headers: Headers) -> str | None:
        """Count a screen against its client address (the limit unit of
        :func:`server.abuse.limits.ip_bucket`); None when that address has its fill."""
        address = ip_bucket(client_ip(peer, headers, self.trusted_proxies))
        open_now = self.per_address.get(address, 0)
        if self.max_per_address and open_now >= self.max_per_address:
            return None
        self.per_address[address] = open_now + 1
        return address

    def release(self, address: str) -> None:
        left = self.per_address.pop(address, 1) - 1
        if left > 0:
            self.per_address[address] = left

    def _sweep(self) -> None:
        """One timer for every screen: ping the quiet ones, drop the long-silent ones."""
        now = asyncio.get_running_loop().time()
        for connection in list(self.connections):
            connection.keepalive(now)
        self._sweeper = asyncio.get_running_loop().call_later(PING_EVERY_S, self._sweep)


class ScreenProtocol(asyncio.Protocol):
    """uvicorn's WebSocket protocol class: lean screens on :data:`SCREEN_PATH`, and
    uvicorn's own protocol (to which every call is passed on) for anything else."""

    __slots__ = (
        "_app_state",
        "_config",
        "_server_state",
        "address",
        "application_state",
        "buffer",
        "fragments",
        "heard",
        "init_timer",
        "initialised",
        "inner",
        "operations",
        "screens",
        "transport",
    )

    def __init__(self, config: Any, server_state: Any, app_state: Mapping[str, Any]) -> None:
        self._config, self._server_state, self._app_state = config, server_state, app_state
        self.transport: asyncio.Transport | None = None
        self.inner: asyncio.Protocol | None = None
        self.screens: Screens | None = None
        self.application_state = WebSocketState.CONNECTING
        self.buffer = b""
        self.fragments: list[bytes] | None = None
        self.heard = 0.0
        self.init_timer: asyncio.TimerHandle | None = None
        self.initialised = False
        self.operations: dict[str, tuple[Key, Subscriber]] = {}
        self.address: str | None = None

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)
        elif self.screens is not None:
            self._feed(data)
        else:
            self._dispatch(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is not None:
            self.inner.connection_lost(exc)
            return
        self.application_state = WebSocketState.DISCONNECTED
        self._leave_all()
        if self.screens is not None:
            self.screens.connections.discard(self)
            self._server_state.connections.discard(self)
            if self.address is not None:
                self.screens.release(self.address)
                self.address = None

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: tell the screen to come back soon."""
        self.close(1012, "server restarting")

    # ------------------------------------------------------------ handshake

    def _dispatch(self, request: bytes) -> None:
        head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, _, rest = head[0].partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        screens = self._app_state.get(STATE_KEY)
        if path != SCREEN_PATH or not isinstance(screens, Screens) or not screens.ready:
            inner = AutoWebSocketsProtocol(  # type: ignore[misc]
                config=self._config, server_state=self._server_state, app_state=self._app_state
            )
            self.inner = inner
            # The ASGI task uvicorn creates now inherits the transport: see channels.
            token = CONNECTION_TRANSPORT.set(self.transport)
            try:
                inner.connection_made(self.transport)  # type: ignore[arg-type]
                inner.data_received(request)
            finally:
                CONNECTION_TRANSPORT.reset(token)
            return
        raw = [line.partition(":") for line in head[1:]]
        headers = Headers(raw=[(k.strip().lower().encode(), v.strip().encode()) for k, _, v in raw])
        self._handshake(screens, method, headers)

    def _handshake(self, screens: Screens, method: str, headers: Headers) -> None:
        assert self.transport is not None
        key = headers.get("sec-websocket-key", "")
        try:
            valid_key = len(base64.b64decode(key, validate=True)) == 16
        except binascii.Error:
            valid_key = False
        offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
        if method != "GET" or headers.get("sec-websocket-version") != "13" or not valid_key:
            self._refuse(400, "Bad Request", "not a WebSocket handshake")
        elif not screens.view.websocket_origin_allowed(headers):
            self._refuse(403, "Forbidden", "origin not allowed")
        elif SUBPROTOCOL not in offered:
            self._refuse(400, "Bad Request", f"the {SUBPROTOCOL} subprotocol is required")
        elif (address := screens.admit(self._peer(), headers)) is None:
            self._refuse(429, "Too Many Requests", "too many screens from this address")
        else:
            self.address = address
            accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest())
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n"
                b"Sec-WebSocket-Protocol: " + SUBPROTOCOL.encode() + b"\r\n\r\n"
            )
            self._config = self._app_state = None  # type: ignore[assignment]
            self.screens = screens
            self.application_state = WebSocketState.CONNECTED
            loop = asyncio.get_running_loop()
            self.heard = loop.time()
            self.init_timer = loop.call_later(screens.init_timeout_s, self._init_timed_out)
            screens.connections.add(self)
            self._server_state.connections.add(self)
            log.debug("%s accepted a screen (%d open)", SCREEN_PATH, len(screens.connections))

    def _peer(self) -> str | None:
        assert self.transport is not None
        peer = self.transport.get_extra_info("peername")
        return str(peer[0]) if isinstance(peer, tuple) and peer else None

    def _refuse(self, status: int, phrase: str, reason: str) -> None:
        assert self.transport is not None
        log.info("%s refused a screen (%d): %s", SCREEN_PATH, status, reason)
        body = reason.encode()
        self.transport.write(
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        self.transport.close()

    # ------------------------------------------------------------ frames (RFC 6455 5)

    def _feed(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        at, size = 0, len(buffer)
        while size - at >= 2 and self.application_state is WebSocketState.CONNECTED:
            first, second = buffer[at], buffer[at + 1]
            length, header = second & 0x7F, 2
            if length == 126:
                if size - at < 4:
                    break
                length, header = struct.unpack_from("!H", buffer, at + 2)[0], 4
            elif length == 127:
                if size - at < 10:
                    break
                length, header = struct.unpack_from("!Q", buffer, at + 2)[0], 10
            if first & 0x70 or not second & 0x80:
                self.close(1002, "frames from clients are masked and use no extensions")
                return
            if length + sum(map(len, self.fragments or ())) > MAX_MESSAGE_BYTES:
                self.close(1009, "message too big")
                return
            end = at + header + 4 + length
            if size < end:
                break
            mask = buffer[at + header : at + header + 4]
            self._frame(first & 0x80, first & 0x0F, apply_mask(buffer[at + header + 4 : end], mask))
            at = end
        self.buffer = buffer[at:]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        self.heard = asyncio.get_running_loop().time()
        if opcode >= 0x8:
            if not fin or len(payload) > 125:
                self.close(1002, "bad control frame")
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000
                self.close(code if 1000 <= code < 5000 and code not in (1005, 1006) else 1000)
            elif opcode == 0x9:
                self.transport.write(bytes((0x8A, len(payload))) + payload)
            elif opcode != 0xA:
                self.close(1002, "unknown opcode")
        elif opcode == 0x0 and self.fragments is not None:
            self.fragments.append(payload)
            if fin:
                message, self.fragments = b"".join(self.fragments), None
                self._message(message)
        elif opcode == 0x1 and self.fragments is None:
            if fin:
                self._message(payload)
            else:
                self.fragments = [payload]
        elif opcode == 0x2:
            self.close(4400, "WebSocket message type must be text")
        else:
            self.close(1002, "unexpected continuation")

    def _write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(frame_header(len(data)) + data)

    def close(self, code: int, reason: str = "") -> None:
        """Send a close frame, leave every channel and hang up."""
        if self.application_state is not WebSocketState.CONNECTED or self.transport is None:
            return
        self.application_state = WebSocketState.DISCONNECTED
        payload = code.to_bytes(2, "big") + reason.encode()[:123]
        self.transport.write(bytes((0x88, len(payload))) + payload)
        self.transport.close()
        self._leave_all()

    def keepalive(self, now: float) -> None:
        if self.transport is None or self.application_state is not WebSocketState.CONNECTED:
            return
        if now - self.heard > DEAD_AFTER_S:
            log.info("dropping a screen that has been silent for %.0f s", now - self.heard)
            self.application_state = WebSocketState.DISCONNECTED
            self.transport.abort()
        elif now - self.heard >= PING_EVERY_S:
            self.transport.write(_PING)

    # ------------------------------------------------------------ graphql-transport-ws

    def _init_timed_out(self) -> None:
        self.init_timer = None
        if not self.initialised:
            self.close(4408, "Connection initialisation timeout")

    def _message(self, data: bytes) -> None:
        try:
            message = intake.ws_message(intake.read_json(data), data)
        except json.JSONDecodeError:  # not JSON, not UTF-8, or too deep
            self.close(4400, "WebSocket message must be valid JSON")
            return
        except intake.BadMessage as bad:
            self.close(4400, bad.reason)
            return
        kind = message.get("type")
        if kind == "ping":
            self._write(_PONG)
        elif kind == "pong":
            pass
        elif kind == "connection_init":
            self._connection_init(message)
        elif kind == "subscribe":
            self._subscribe(message, data)
        elif kind == "complete":
            operation_id = message["id"]
            if operation_id in self.operations:
                key, subscriber = self.operations.pop(operation_id)
                assert self.screens is not None
                self.screens.fanout.unsubscribe(key, subscriber)
        else:
            self.close(4400, "Failed to parse message")

    def _connection_init(self, message: dict[str, Any]) -> None:
        if not isinstance(message.get("payload", {}), dict):
            self.close(4400, "Invalid connection init payload")
        elif self.initialised:
            self.close(4429, "Too many initialisation requests")
        else:
            self.initialised = True
            if self.init_timer is not None:
                self.init_timer.cancel()
                self.init_timer = None
            self._write(_ACK)

    def _subscribe(self, message: dict[str, Any], data: bytes) -> None:
        screens = self.screens
        assert screens is not None and self.transport is not None
        operation_id: str = message["id"]  # a string: see intake.ws_message
        if not self.initialised:
            self.close(4401, "Unauthorized")
            return
        try:
            problem = intake.subscribe_payload(message, data)
        except intake.BadMessage as bad:
            self.close(4400, bad.reason)
            return
        if operation_id in self.operations:
            self.close(4409, f"Subscriber for {operation_id} already exists")
            return
        limit = screens.max_operations
        plan: Plan | None = None
        if problem is None and limit is not None and len(self.operations) >= limit:
            problem = intake.too_many_operations(limit)
        elif problem is None:
            plan = screens.fanout.plan(message, screens.credentials)
            problem = ApiError(
                "INVALID_INPUT",
                f"{SCREEN_PATH} serves the leaderboard subscription only; use /graphql",
            )
        if plan is None or screens.context is None:
            payload = [problem.formatted]
            self._write(encode({"id": operation_id, "type": "error", "payload": payload}))
            return
        subscriber = Subscriber(
            self.transport, self, operation_id, partial(self._forget, operation_id)
        )
        self.operations[operation_id] = (plan.key, subscriber)
        open_stream = partial(plan_stream, screens.view.schema, plan, screens.context, None)
        screens.fanout.subscribe(plan.key, subscriber, open_stream)

    def _forget(self, operation_id: str) -> None:
        """The channel ended this subscription (the stream finished): free its id."""
        self.operations.pop(operation_id, None)

    def _leave_all(self) -> None:
        if self.init_timer is not None:
            self.init_timer.cancel()
            self.init_timer = None
        operations, self.operations = self.operations, {}
        if self.screens is not None:
            for key, subscriber in operations.values():
                self.screens.fanout.unsubscribe(key, subscriber)


def server_options(**overrides: Any) -> dict[str, Any]:
    """uvicorn's settings as ``lookalike serve`` runs it (tests and benchmarks use them too)."""
    return {
        # Named, not "auto": uvicorn[standard] installs both, and a missing one should
        # fail loudly rather than quietly fall back to the slower asyncio loop and h11.
        "loop": "uvloop",
        "http": "httptools",
        "ws": ScreenProtocol,
        "ws_max_size": MAX_MESSAGE_BYTES,
        "ws_per_message_deflate": False,
        "proxy_headers": False,  # client IPs are resolved by our own trusted-proxy rules
        "log_config": None,  # keep our handlers: JSON in production, secrets redacted
        "lifespan": "on",
        **overrides,
    }
