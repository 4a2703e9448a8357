"""``POST /graphql`` straight to graphql-core: the phones' commands, submissions first.

Every command a phone sends (join, submit, read its history) is a POST of a JSON body
that the server has seen before. Through Starlette's router, strawberry's HTTP view and
its ``Schema.execute`` (a request adapter, then an extension runner that enters an async
context manager per phase, around an execution context per request), the layers cost
about as much CPU as the submission itself, and the submission path is what a crowd and
a cheater load.

:class:`FastPath` is pure ASGI middleware that answers the common case itself: a POST to
the GraphQL path with an ``application/json`` body holding one query or mutation whose
document parses and validates (cached by text:
:attr:`server.graphql.Schema.prepared`). It runs graphql-core's ``execute`` on strawberry's
schema with strawberry's executor class, the view's own context, error labelling and
response: the answer is the same bytes the view would give.

Every body it reads is bounded (``max_body_bytes``, with the fast path on or off): over
the limit, by ``Content-Length`` or by the chunks that came, the answer is ``413`` with
code ``PAYLOAD_TOO_LARGE`` and the rest is never read.

Everything else goes on to the app, with the body already read handed back: other
methods and paths, other content types, batches and malformed bodies, documents that do
not parse or validate, an operation that cannot be picked, subscriptions. There
strawberry answers exactly as before, so every error answer stays strawberry's own.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import ExecutionResult, OperationType, execute, get_operation_ast
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.execution import optimized_is_awaitable
from strawberry.http import process_result
from strawberry.utils.await_maybe import await_maybe
from strawberry.utils.operation import get_first_operation

from server.metrics import METRICS

if TYPE_CHECKING:
    from graphql import DocumentNode

    from server.graphql import GraphQLView

GRAPHQL_PATH = "/graphql"
_FAST = METRICS.graphql_posts.labels(path="fast")
_BY_VIEW = METRICS.graphql_posts.labels(path="view")
_FAST_OPERATIONS = (OperationType.QUERY, OperationType.MUTATION)


@dataclass(frozen=True, slots=True)
class Operation:
    """One request's operation, ready to execute."""

    document: DocumentNode
    name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None


class FastPath:
    """Pure ASGI middleware: see the module's docstring. Put it inside the request-id
    middleware (it logs under the request's id) and off with ``enabled=False``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        view: GraphQLView,
        enabled: bool = True,
        max_body_bytes: int = 64 * 1024,
    ) -> None:
        self.app = app
        self.view = view
        self.enabled = enabled
        self.max_body_bytes = max_body_bytes
        self.executor_class = _noting_executors(view.schema.execution_context_class)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == GRAPHQL_PATH
        ):
            await self.app(scope, receive, send)
            return
        # Bounded before anything else, for the view too: it would read any body whole.
        try:
            body = await _read_body(scope, receive, self.max_body_bytes)
        except BodyTooLarge:
            await too_large(self.max_body_bytes)(scope, receive, send)
            return
        if body is None:  # the client went away before it finished sending
            return
        if not self.enabled or scope.get("root_path"):
            _BY_VIEW.inc()
            await self.app(scope, _replay(body, receive), send)
            return
        operation = self.operation(scope, body)
        if operation is None:
            _BY_VIEW.inc()
            await self.app(scope, _replay(body, receive), send)
            return
        _FAST.inc()
        await self.answer(operation, scope, receive, send)

    def operation(self, scope: Scope, body: bytes) -> Operation | None:
        """The request's operation, if it is one for the fast path; else None."""
        if _media_type(scope) != b"application/json":
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        query, name = data.get("query"), data.get("operationName")
        variables, extensions = data.get("variables"), data.get("extensions")
        if not (
            isinstance(query, str)
            and isinstance(name, str | None)
            and isinstance(variables, dict | None)
            and isinstance(extensions, dict | None)
        ):
            return None
        found = _plan(self.view, query, name)
        if found is None:
            return None
        document, name = found
        return Operation(document, name, variables, extensions)

    async def answer(
        self, operation: Operation, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Execute as strawberry's view would, and send the view's response."""
        view = self.view
        schema = view.schema
        request = Request(scope, receive)
        sub_response = await view.get_sub_response(request)
        context = await view.get_context(request, response=sub_response)
        built: list[Any] = []
        noted = _BUILT.set(built)
        try:
            result: ExecutionResult = await await_maybe(
                execute(
                    schema._schema,
                    operation.document,
                    variable_values=operation.variables,
                    operation_name=operation.name,
                    context_value=context,
                    executor_class=self.executor_class,
                    is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                    operation_extensions=operation.extensions,
                )
            )
        finally:
            _BUILT.reset(noted)
        # The finished executor is a knot of reference cycles (bound methods and field
        # plans that point back at it) holding the request, its context and ~60 objects
        # more: left to the cyclic GC, that garbage made a young-generation collection of
        # 4-8 ms every ~250 submissions, the tail of the latency. Untied, it all goes
        # by reference counting at once.
        for executor in built:
            vars(executor).clear()
        if result.errors:
            schema.process_errors(result.errors)
        response = view.create_response(process_result(result), sub_response)
        await response(scope, receive, send)


_BUILT: ContextVar[list[Any]] = ContextVar("lookalike_fast_path_executors")


def _noting_executors(base: type[Any]) -> type[Any]:
    """``base`` (strawberry's executor class), noting each executor it builds in the
    current request's ``_BUILT`` list, so that the request can untie it afterwards."""

    class Noted(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            _BUILT.get().append(self)

    return Noted


def _plan(
    view: GraphQLView, query: str, name: str | None
) -> tuple[DocumentNode, str | None] | None:
    """The document and the operation's name as strawberry picks it (the one named, else
    the first), if that is a valid query or mutation; else None."""
    document = view.schema.prepared(query)
    if document is None:
        return None
    if name is None:
        first = get_first_operation(document)
        name = first.name.value if first is not None and first.name else None
    operation = get_operation_ast(document, name)
    if operation is None or operation.operation not in _FAST_OPERATIONS:
        return None
    return document, name


def _media_type(scope: Scope) -> bytes:
    for key, value in scope["headers"]:
        if key == b"content-type":
            return bytes(value.partition(b";")[0].strip().lower())
    return b""


class BodyTooLarge(Exception):
    """A request body is over the limit, by its Content-Length or by what arrived."""


def too_large(limit: int) -> Response:
    """``413`` with a GraphQL error, and the connection closed: the rest is never read."""
    error = {
        "message": f"the request body is over {limit} bytes",
        "extensions": {"code": "PAYLOAD_TOO_LARGE"},
    }
    return JSONResponse({"errors": [error]}, 413, headers={"connection": "close"})


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None if the client went away first.

    Raises:
        BodyTooLarge: the declared length, or the chunks that came (a chunked body has
            no length), are over ``limit``; nothing more is read.
    """
    for key, value in scope["headers"]:
        if key == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyTooLarge
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that gives the already-read body first, then defers to the server."""
    pending = True

    async def again() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
