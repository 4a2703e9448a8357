"""Shared channels: one GraphQL execution per board update, however many screens watch.

Strawberry's WebSocket handler runs every subscription as its own task that executes
the GraphQL selection and serialises the result for its one subscriber. For the
leaderboard, where thousands of screens ask for the same thing, this module sits in
front of it:

1. A ``subscribe`` whose operation is a single ``leaderboard`` subscription field joins
   a shared :class:`Channel`, keyed by (credentials, document, variables, operation
   name). Anything else, and any malformed message, takes strawberry's general path
   unchanged.
2. Each channel runs the subscription once, through strawberry's own pipeline (parse,
   validation, extensions, resolver, selection), with the context of the connection
   that opened it. Results are shared only among connections presenting the same
   credentials, so a resolver that looks at the caller still sees the right caller.
3. Each result is serialised once into the body of a ``next`` message; every
   subscription's id is spliced in as a pre-built prefix.
4. The frame is written straight to each connection's transport, in one loop, with no
   task per client. A connection whose unsent backlog is over
   ``ws_send_buffer_max_bytes`` is dropped: it would only ever show stale boards, and
   its buffer must not grow without bound.

The frame's two-to-ten-byte header is the one piece of RFC 6455 written here
(:func:`frame_header`, tested to give the bytes of ``websockets``' own ``Frame.serialize``):
through the library each of 10,000 writes would build its frame again, about 6.6 µs more
per screen, some 66 ms more per update (see ``benchmarks/README.md``).

The big screens' own endpoint (:mod:`server.live.screen`, ``/graphql/screen``) joins the
same channels without going through strawberry's handler at all.

Writing to the transport needs the connection's transport, which ASGI does not hand to
the application: :class:`server.live.screen.ScreenProtocol` (uvicorn's ``ws`` protocol
class) publishes it in :data:`CONNECTION_TRANSPORT` for the task that serves the
connection. Under any other server the fast path is off and the general path serves every
subscription.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import struct
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, cast

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    parse,
)
from starlette.websockets import WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.utils.aio import aclosing

from server.api.context import Context
from server.metrics import METRICS

if TYPE_CHECKING:
    from strawberry.schema import BaseSchema

log = logging.getLogger(__name__)
_GAUGE = METRICS.subscribers.labels(kind="leaderboard")  # screens, not channels

SHARED = contextvars.ContextVar("lookalike_shared_execution", default=False)
"""True inside a channel's own execution: its subscribers are counted here, not there."""
SHARED_FIELDS = frozenset({"leaderboard"})  # subscriptions that many screens ask for alike
MAX_SHARED_QUERY_CHARS = 4096  # longer documents are not screens; the general path is fine
YIELD_EVERY = 1000  # writes between yields to the event loop during one broadcast
_PLAN_CACHE_SIZE = 512


class Transport(Protocol):
    """The part of :class:`asyncio.Transport` the fan-out writes through."""

    def write(self, data: bytes) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def is_closing(self) -> bool: ...
    def abort(self) -> None: ...


class Connection(Protocol):
    """The part of a Starlette WebSocket the fan-out reads: whether the app closed it."""

    application_state: WebSocketState


CONNECTION_TRANSPORT: contextvars.ContextVar[Transport | None] = contextvars.ContextVar(
    "lookalike_connection_transport", default=None
)
"""The transport of the WebSocket connection the current task serves. Set by
:class:`server.live.screen.ScreenProtocol` while it hands a connection to uvicorn's own
protocol, so the ASGI task created then (and every task it starts) inherits it."""


def frame_header(length: int) -> bytes:
    """RFC 6455 header of an unmasked, final text frame carrying ``length`` bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


def encode(value: object) -> bytes:
    """Compact UTF-8 JSON, as sent on the wire."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Plan:
    """A subscribe message that may share its results with identical ones."""

    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    key: Key


class Subscriber:
    """One shared subscription on one connection: where its frames go."""

    __slots__ = ("connection", "operation_id", "prefix", "release", "transport")

    def __init__(
        self,
        transport: Transport,
        connection: Connection,
        operation_id: str,
        release: Callable[[], None] = lambda: None,
    ) -> None:
        self.transport = transport
        self.connection = connection
        self.operation_id = operation_id
        self.release = release
        """Called when the channel ends the subscription: frees its operation id."""
        self.prefix = b'{"id":' + encode(operation_id) + b',"type":"next","payload":'

    def open(self) -> bool:
        return (
            not self.transport.is_closing()
            and self.connection.application_state is WebSocketState.CONNECTED
        )

    def deliver(self, body: bytes, limit: int) -> bool:
        """Write one ``next`` frame; False if the connection is gone or was dropped."""
        if not self.open():
            return False
        if self.transport.get_write_buffer_size() > limit:
            log.info("dropping a leaderboard subscriber more than %d bytes behind", limit)
            self.transport.abort()
            return False
        size = len(self.prefix) + len(body)
        self.transport.write(b"".join((frame_header(size), self.prefix, body)))
        return True

    def send(self, message: Mapping[str, object]) -> None:
        """Write a final (``error`` or ``complete``) message, if the connection is open."""
        if self.open():
            data = encode({"id": self.operation_id, **message})
            self.transport.write(frame_header(len(data)) + data)


ResultStream = AsyncIterator[object]
Key = tuple[str, str, str, str]  # credentials, document, variables, operation name


@dataclass(eq=False)
class Channel:
    """One shared subscription: a single result stream and everyone who listens to it."""

    fanout: Fanout
    key: Key
    subscribers: dict[Subscriber, None] = field(default_factory=dict)  # ordered set
    latest: bytes | None = None  # the last ``next`` body, for those who join later
    renders: int = 0  # results serialised: one per update, however many subscribers
    task: asyncio.Task[None] | None = None

    def start(self, stream: ResultStream) -> None:
        self.task = asyncio.create_task(self._run(stream))

    def join(self, subscriber: Subscriber) -> None:
        """Add a subscriber; it gets the current state at once if there is one."""
        self.subscribers[subscriber] = None
        _GAUGE.inc()
        if self.latest is not None and not subscriber.deliver(self.latest, self.fanout.limit):
            self._drop(subscriber)

    def leave(self, subscriber: Subscriber) -> None:
        self._drop(subscriber)
        if not self.subscribers:
            self.fanout.close(self)

    def _drop(self, subscriber: Subscriber) -> None:
        if self.subscribers.pop(subscriber, False) is None:
            _GAUGE.dec()

    async def _run(self, stream: ResultStream) -> None:
        try:
            async with aclosing(stream):
                async for result in stream:
                    if isinstance(result, PreExecutionError):
                        self._finish({"type": "error", "payload": _formatted(result.errors)})
                        return
                    if not isinstance(result, ExecutionResult):
                        error = GraphQLError(
                            "Incremental delivery is not supported over graphql-transport-ws"
                        )
                        self._finish({"type": "error", "payload": [error.formatted]})
                        return
                    await self.publish(_next_payload(result))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("shared subscription %s failed", self.key[1][:80])
        self._finish({"type": "complete"})

    async def publish(self, payload: Mapping[str, object]) -> None:
        """Serialise one result once and write it to every subscriber."""
        body = encode(payload) + b"}"
        self.renders += 1
        self.fanout.renders += 1
        self.latest = body
        limit = self.fanout.limit
        gone: list[Subscriber] = []
        for count, subscriber in enumerate(list(self.subscribers), 1):
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the loop breathe during a long broadcast
            if subscriber not in self.subscribers:
                continue  # completed while we were yielding: nothing after "complete"
            if not subscriber.deliver(body, limit):
                gone.append(subscriber)
        for subscriber in gone:
            self._drop(subscriber)

    def _finish(self, message: Mapping[str, object]) -> None:
        """The stream ended: tell every subscriber, and free their operation ids."""
        self.fanout.close(self, cancel=False)
        for subscriber in self.subscribers:
            subscriber.send(message)
            subscriber.release()
        _GAUGE.dec(len(self.subscribers))
        self.subscribers.clear()


class Fanout:
    """All shared leaderboard channels of one server process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        """Unsent bytes past which a subscriber is dropped."""
        self.channels: dict[Key, Channel] = {}
        self.renders = 0
        """Results serialised, over all channels: one per update and selection."""
        self._shareable: dict[tuple[str, str | None], bool] = {}

    def plan(self, message: Mapping[str, Any], credentials: str) -> Plan | None:
        """A plan if ``message`` is a well-formed, shareable subscribe; else None.

        ``credentials`` (see :func:`credentials`) keys the channel: results are shared
        only among subscribers presenting the same ones."""
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(message.get("id"), str):
            return None
        query, variables = payload.get("query"), payload.get("variables")
        name = payload.get("operationName")
        if not isinstance(query, str) or not (variables is None or isinstance(variables, dict)):
            return None
        if not (name is None or isinstance(name, str)) or not self.shareable(query, name):
            return None
        try:
            # Interned: ten thousand screens send the same strings; keep one copy.
            key = (
                sys.intern(credentials),
                sys.intern(query),
                sys.intern(json.dumps(variables, sort_keys=True)),
                sys.intern(name or ""),
            )
        except (TypeError, ValueError):
            return None
        return Plan(key[1], variables, name, key)

    def shareable(self, query: str, operation_name: str | None) -> bool:
        """Whether the operation is one subscription field whose result can be shared."""
        if len(query) > MAX_SHARED_QUERY_CHARS:
            return False  # longer documents are not screens; and not kept as a key
        cache_key = (query, operation_name)
        if cache_key not in self._shareable:
            try:
                document = parse(query)
            except GraphQLError:
                return False  # not cached: junk must not push out the screens' query
            if len(self._shareable) >= _PLAN_CACHE_SIZE:
                self._shareable.clear()
            self._shareable[cache_key] = _single_shared_field(document, operation_name)
        return self._shareable[cache_key]

    def subscribe(
        self, key: Key, subscriber: Subscriber, open_stream: Callable[[], ResultStream]
    ) -> Channel:
        """Join the channel of ``key``, opening it with ``open_stream()`` if it is new."""
        channel = self.channels.get(key)
        if channel is None:
            channel = self.channels[key] = Channel(self, key)
            channel.start(open_stream())
        channel.join(subscriber)
        return channel

    def unsubscribe(self, key: Key, subscriber: Subscriber) -> None:
        channel = self.channels.get(key)
        if channel is not None:
            channel.leave(subscriber)

    def close(self, channel: Channel, *, cancel: bool = True) -> None:
        if self.channels.get(channel.key) is channel:
            del self.channels[channel.key]
        if cancel and channel.task is not None and channel.task is not asyncio.current_task():
            channel.task.cancel()

    def subscriber_count(self) -> int:
        return sum(len(c.subscribers) for c in self.channels.values())


class HasFanout(Protocol):
    fanout: Fanout | None


class FanoutHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's graphql-transport-ws handler with shared leaderboard subscriptions.

    Shared operations are kept in ``operations`` too (without a task), so strawberry's
    own checks (duplicate ids, the per-connection limit) count them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shared: dict[str, tuple[Key, Subscriber]] = {}

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        fanout, transport = cast(HasFanout, self.view).fanout, self._transport()
        limit = self.max_subscriptions_per_connection
        plan = None
        if (
            fanout is not None
            and transport is not None
            and self.connection_acknowledged
            and message.get("id") not in self.operations
            and (limit is None or len(self.operations) < limit)
        ):
            plan = fanout.plan(cast(Mapping[str, Any], message), credentials(self.context))
        if fanout is None or transport is None or plan is None:
            await super().handle_subscribe(message)
            return
        operation_id = message["id"]
        # Never run: the channel runs the operation. Kept so strawberry's checks count it.
        self.operations[operation_id] = Operation(self, operation_id, plan.query, None, None)
        subscriber = Subscriber(
            transport,
            cast(ASGIWebSocketAdapter, self.websocket).ws,
            operation_id,
            release=partial(self._release, operation_id),
        )
        self.shared[operation_id] = (plan.key, subscriber)
        fanout.subscribe(
            plan.key,
            subscriber,
            partial(stream, self.schema, plan, self.context, self.root_value),
        )
        # Strawberry's read loop holds its last message until the next one arrives, and
        # an idle screen's last message is this one: let its body go now.
        cast(dict[str, object], message["payload"]).clear()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        # Cancelled by now; a done task kept per idle connection is memory for nothing.
        self.connection_init_timeout_task = None

    async def cleanup_operation(self, operation_id: str) -> None:
        if operation_id not in self.shared:
            await super().cleanup_operation(operation_id)
            return
        key, subscriber = self.shared[operation_id]
        self._release(operation_id)
        fanout = cast(HasFanout, self.view).fanout
        if fanout is not None:
            fanout.unsubscribe(key, subscriber)

    def _release(self, operation_id: str) -> None:
        self.shared.pop(operation_id, None)
        self.operations.pop(operation_id, None)

    def _transport(self) -> Transport | None:
        if not isinstance(self.websocket, ASGIWebSocketAdapter):
            return None
        return CONNECTION_TRANSPORT.get()


async def stream(
    schema: BaseSchema, plan: Plan, context: Context, root_value: None
) -> AsyncIterator[object]:
    SHARED.set(True)  # this runs in the channel's own task: the flag stays there
    source = await schema.stream(
        plan.query,
        variable_values=plan.variables,
        context_value=context,
        root_value=root_value,
        operation_name=plan.operation_name,
    )
    async with aclosing(source):
        async for result in source:
            yield result


def _formatted(errors: list[GraphQLError] | None) -> list[Any]:
    return [error.formatted for error in errors or []]


def _next_payload(result: ExecutionResult) -> dict[str, object]:
    """The ``next`` payload, exactly as strawberry's ``Operation.send_next`` builds it."""
    payload: dict[str, object] = {"data": result.data}
    if result.errors:
        payload["errors"] = _formatted(result.errors)
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


def credentials(context: Context) -> str:
    """What could identify the caller: results are shared only among equal ones."""
    headers = context.connection.headers
    return json.dumps(
        [context.connection_params, headers.get("authorization"), headers.get("cookie")],
        sort_keys=True,
    )


def _single_shared_field(document: DocumentNode, operation_name: str | None) -> bool:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        chosen = operations if len(operations) == 1 else []
    else:
        chosen = [o for o in operations if o.name is not None and o.name.value == operation_name]
    if len(chosen) != 1 or chosen[0].operation is not OperationType.SUBSCRIPTION:
        return False
    selections = chosen[0].selection_set.selections
    return (
        len(selections) == 1
        and isinstance(selections[0], FieldNode)
        and selections[0].name.value in SHARED_FIELDS
    )
