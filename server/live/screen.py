"""The screens' socket: ``/graphql/screen``, one lean object per big screen.

A screen only ever holds one leaderboard subscription open. Behind uvicorn's WebSocket
support each idle connection costs about 21 KB (uvicorn's protocol object, the ASGI
application's task with its stack of coroutine frames, strawberry's handler, the
context). Here a screen is a transport, one :class:`ScreenProtocol` with slots, the
``websockets`` sans-I/O :class:`~websockets.server.ServerProtocol` that speaks RFC 6455
for it (handshake, frames, masking, pings, the close handshake, the message size limit)
and its channel subscriber; it joins the shared channels of :mod:`server.live.channels`
directly (figures in ``benchmarks/README.md``).

What it serves of graphql-transport-ws: ``connection_init``/``connection_ack``,
``ping``/``pong``, and ``subscribe``/``complete`` of operations that are a single
``leaderboard`` field (what :meth:`Fanout.plan` accepts); any other operation gets an
``error`` with code ``INVALID_INPUT`` and the connection stays open. Everything is
public: cookies, tokens and ``connection_init`` parameters are ignored, so every screen
sees what the public sees (frozen standings while frozen). Close codes and reasons are
strawberry's (4400, 4401, 4408, 4409, 4429); the origin check is ``/graphql``'s. A
message over :data:`MAX_MESSAGE_BYTES` closes with 1009, a protocol error with 1002, text
that is not UTF-8 with 1007 (as uvicorn does on ``/graphql``); an address holding
``LOOKALIKE_SCREEN_CONNECTIONS_PER_ADDRESS`` screens already is refused with HTTP 429.

How it plugs in: :class:`ScreenProtocol` is uvicorn's ``ws`` protocol class
(:func:`server_options`). uvicorn hands it the upgrade request; a request for another path,
or arriving before the app's start-up published a :class:`Screens` hub in the lifespan
state, goes to uvicorn's own WebSocket protocol unchanged, with the connection's transport
in :data:`server.live.channels.CONNECTION_TRANSPORT` for the fan-out. Under any other
server, or with ``LOOKALIKE_LEADERBOARD_FANOUT=false``, the application serves
``/graphql/screen`` as a second route to the ordinary GraphQL endpoint.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketState
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol
from websockets.exceptions import NegotiationError
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

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
)
from server.live.channels import stream as plan_stream

if TYPE_CHECKING:
    from server.api.view import GraphQLView
    from server.resources import Resources

log = logging.getLogger(__name__)
# websockets logs every connection opened and closed at INFO: 20,000 lines for 10,000
# screens. Its warnings and errors still come through; refusals are logged here.
_WIRE_LOG = logging.getLogger(f"{__name__}.wire")
_WIRE_LOG.setLevel(logging.WARNING)

SCREEN_PATH = "/graphql/screen"
STATE_KEY = "lookalike.screens"  # where the app's lifespan state holds the hub
SUBPROTOCOL = Subprotocol("graphql-transport-ws")
MAX_MESSAGE_BYTES = 64 * 1024  # uvicorn's ws_max_size for /graphql, and this endpoint's
PING_EVERY_S = 20.0  # as uvicorn's ws_ping_interval; a silent screen is pinged this often
DEAD_AFTER_S = 2 * PING_EVERY_S + 10.0  # nothing heard this long, not even a pong: gone
CLOSE_TIMEOUT_S = 10.0  # a screen that does not answer our close frame is cut off
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


class Wire(ServerProtocol):
    """websockets' sans-I/O server side of one screen, which insists on
    graphql-transport-ws (the refusal names it) and logs to :data:`_WIRE_LOG`."""

    def __init__(self, state: State = State.CONNECTING) -> None:
        super().__init__(max_size=MAX_MESSAGE_BYTES, state=state, logger=_WIRE_LOG)

    def select_subprotocol(self, subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        if SUBPROTOCOL in subprotocols:
            return SUBPROTOCOL
        raise NegotiationError(f"the {SUBPROTOCOL} subprotocol is required")


class ScreenProtocol(asyncio.Protocol):
    """uvicorn's WebSocket protocol class: screens on :data:`SCREEN_PATH`, and uvicorn's
    own protocol (to which every call is then passed on) for anything else."""

    __slots__ = (
        "address",
        "app_state",
        "application_state",
        "config",
        "fragments",
        "heard",
        "init_timer",
        "initialised",
        "inner",
        "operations",
        "screens",
        "server_state",
        "transport",
        "wire",
    )

    def __init__(self, config: Any, server_state: Any, app_state: Mapping[str, Any]) -> None:
        self.config, self.server_state, self.app_state = config, server_state, app_state
        self.transport: asyncio.Transport | None = None
        self.inner: asyncio.Protocol | None = None
        self.wire: Wire | None = Wire()
        self.screens: Screens | None = None
        self.application_state = WebSocketState.CONNECTING
        """CONNECTED from the handshake until we close or the screen goes: what the
        channels' subscribers look at before each write."""
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
        elif self.wire is not None:
            self.wire.receive_data(data)
            for event in self.wire.events_received():
                if isinstance(event, Frame):
                    self._frame(event)
                elif isinstance(event, Request):
                    self._dispatch(event, data)
            if self.wire is not None:  # else handed to uvicorn's protocol
                self._flush()

    def eof_received(self) -> bool | None:
        if self.inner is not None:
            return self.inner.eof_received()
        if self.wire is not None:
            self.wire.receive_eof()
            self._flush()
        return None

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
        self._gone()
        if self.screens is not None:
            self.screens.connections.discard(self)
            self.server_state.connections.discard(self)
            if self.address is not None:
                self.screens.release(self.address)
                self.address = None

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: tell the screen to come back soon."""
        self.close(1012, "server restarting")

    # ------------------------------------------------------------ the handshake

    def _dispatch(self, request: Request, data: bytes) -> None:
        """A screen's handshake, or the whole connection handed to uvicorn's protocol."""
        screens = self.app_state.get(STATE_KEY)
        path = request.path.partition("?")[0]
        if path == SCREEN_PATH and isinstance(screens, Screens) and screens.ready:
            self._handshake(screens, request)
            return
        # uvicorn gives the whole request in one call, so ``data`` is all there is.
        self.wire = None
        inner = AutoWebSocketsProtocol(  # type: ignore[misc]
            config=self.config, server_state=self.server_state, app_state=self.app_state
        )
        self.inner = inner
        # The ASGI task uvicorn creates now inherits the transport: see channels.
        token = CONNECTION_TRANSPORT.set(self.transport)
        try:
            inner.connection_made(self.transport)  # type: ignore[arg-type]
            inner.data_received(data)
        finally:
            CONNECTION_TRANSPORT.reset(token)

    def _handshake(self, screens: Screens, request: Request) -> None:
        assert self.wire is not None
        headers = Headers(
            raw=[(k.lower().encode(), v.encode("latin-1")) for k, v in request.headers.raw_items()]
        )
        response: Response
        if not screens.view.websocket_origin_allowed(headers):
            response = self._refusal(403, "origin not allowed")
        elif (response := self.wire.accept(request)).status_code != 101:
            log.info("%s refused a screen (%d)", SCREEN_PATH, response.status_code)
        elif (address := screens.admit(self._peer(), headers)) is None:
            response = self._refusal(429, "too many screens from this address")
        else:
            self._opened(screens, address)
        self.wire.send_response(response)
        # websockets' parser keeps the handshake request for the connection's life: with
        # a browser's headers, 3.5 KB of an idle screen's 8. Answered, it is emptied.
        request.headers.clear()

    def _refusal(self, status: int, reason: str) -> Response:
        assert self.wire is not None
        log.info("%s refused a screen (%d): %s", SCREEN_PATH, status, reason)
        return self.wire.reject(status, reason)

    def _opened(self, screens: Screens, address: str) -> None:
        self.config = self.app_state = None  # type: ignore[assignment]
        self.address = address
        self.screens = screens
        self.application_state = WebSocketState.CONNECTED
        loop = asyncio.get_running_loop()
        self.heard = loop.time()
        self.init_timer = loop.call_later(screens.init_timeout_s, self._init_timed_out)
        screens.connections.add(self)
        self.server_state.connections.add(self)
        log.debug("%s accepted a screen (%d open)", SCREEN_PATH, len(screens.connections))

    def _peer(self) -> str | None:
        assert self.transport is not None
        peer = self.transport.get_extra_info("peername")
        return str(peer[0]) if isinstance(peer, tuple) and peer else None

    # ------------------------------------------------------------ frames and messages

    def _flush(self) -> None:
        """Write what websockets has to send; its end-of-stream mark closes the socket."""
        assert self.wire is not None and self.transport is not None
        for data in self.wire.data_to_send():
            if data:
                self.transport.write(data)
            else:
                self.transport.close()
        if self.wire.state is not State.OPEN:
            self._gone()  # closing or closed, by either side or by a protocol error

    def _frame(self, frame: Frame) -> None:
        """A data frame (control frames are websockets' own), while the screen is open."""
        self.heard = asyncio.get_running_loop().time()
        assert self.wire is not None
        if (
            self.application_state is not WebSocketState.CONNECTED
            or self.wire.state is not State.OPEN  # a close came in the same read
        ):
            return
        if frame.opcode is Opcode.TEXT:
            if frame.fin:
                self._message(bytes(frame.data))
            else:
                self.fragments = [bytes(frame.data)]
        elif frame.opcode is Opcode.CONT and self.fragments is not None:
            self.fragments.append(bytes(frame.data))
            if frame.fin:
                message, self.fragments = b"".join(self.fragments), None
                self._message(message)
        elif frame.opcode in (Opcode.BINARY, Opcode.CONT):  # a binary message, or its rest
            self.close(4400, "WebSocket message type must be text")

    def _send(self, data: bytes) -> None:
        assert self.wire is not None
        self.wire.send_text(data)
        self._flush()

    def close(self, code: int, reason: str = "") -> None:
        """Start the close handshake and leave every channel; the screen has
        :data:`CLOSE_TIMEOUT_S` to answer before the socket is cut."""
        if self.wire is None or self.wire.state is not State.OPEN:
            return
        self.wire.send_close(code, reason)
        self.heard = asyncio.get_running_loop().time()
        self._flush()

    def keepalive(self, now: float) -> None:
        if self.transport is None or self.wire is None or self.transport.is_closing():
            return
        silent = now - self.heard
        if self.wire.state is State.CLOSING and silent > CLOSE_TIMEOUT_S:
            self.transport.abort()
        elif silent > DEAD_AFTER_S:
            log.info("dropping a screen that has been silent for %.0f s", silent)
            self._gone()
            self.transport.abort()
        elif silent >= PING_EVERY_S and self.wire.state is State.OPEN:
            self.wire.send_ping(b"")
            self._flush()

    def _gone(self) -> None:
        """The screen is no longer served (closing or lost): leave every channel."""
        self.application_state = WebSocketState.DISCONNECTED
        if self.init_timer is not None:
            self.init_timer.cancel()
            self.init_timer = None
        operations, self.operations = self.operations, {}
        if self.screens is not None:
            for key, subscriber in operations.values():
                self.screens.fanout.unsubscribe(key, subscriber)

    # ------------------------------------------------------------ graphql-transport-ws

    def _init_timed_out(self) -> None:
        self.init_timer = None
        if not self.initialised:
            self.close(4408, "Connection initialisation timeout")

    def _message(self, data: bytes) -> None:
        try:
            text = data.decode()
        except UnicodeDecodeError:
            self.close(1007, "text that is not UTF-8")
            return
        try:
            message = intake.ws_message(intake.read_json(text), data)
        except json.JSONDecodeError:  # not JSON, or too deep
            self.close(4400, "WebSocket message must be valid JSON")
            return
        except intake.BadMessage as bad:
            self.close(4400, bad.reason)
            return
        kind = message.get("type")
        if kind == "ping":
            self._send(_PONG)
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
            self._send(_ACK)

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
            self._send(encode({"id": operation_id, "type": "error", "payload": payload}))
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
