"""``POST /graphql`` straight to graphql-core: the phones' commands, submissions first.

Every command a phone sends (join, submit, read its history) is a POST of a JSON body
that the server has seen before. Through Starlette's router, strawberry's HTTP view and
its ``Schema.execute`` (a request adapter, then an extension runner that enters an async
context manager per phase, around an execution context per request), the layers cost
about as much CPU as the submission itself, and the submission path is what a crowd and
a cheater load.

:class:`FastPath` is pure ASGI middleware in front of everything on the GraphQL path
over HTTP. It checks each request by the GraphQL-over-HTTP rules (:mod:`server.api.intake`)
and answers the malformed ones itself, as JSON with a typed code: another method (405),
another media type (415), a body that is not one well-formed request (400), a document
that does not parse or validate, an operation that cannot be picked or is a
subscription (request errors: 400 or 200 by the ``Accept`` header). A valid query or
mutation (parsed and validated once per document text,
:attr:`server.api.view.Schema.prepared`) runs on graphql-core's ``execute`` with
strawberry's schema and executor class, the view's own context, error labelling and
response: the answer is the same bytes the view would give.

Every body it reads is bounded (``max_body_bytes``, with the fast path on or off): over
the limit, by ``Content-Length`` or by the chunks that came, the answer is ``413`` with
code ``PAYLOAD_TOO_LARGE``; the rest is read and dropped only up to :data:`DRAIN_BYTES`
(so the client gets to read the answer), never kept.

With the fast path off (or under a root path), valid operations go on to strawberry's
view, the body already read handed back; so does a GET of GraphiQL in development.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    AsyncWorkFinishedInfo,
    ExecutionHooks,
    ExecutionResult,
    GraphQLError,
    GraphQLResolveInfoHelpers,
    OperationType,
    execute,
    get_operation_ast,
)
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.execution import optimized_is_awaitable
from strawberry.http import process_result
from strawberry.utils.await_maybe import await_maybe

from server.api import intake
from server.errors import ApiError
from server.metrics import METRICS

if TYPE_CHECKING:
    from graphql import DocumentNode

    from server.api.view import GraphQLView

GRAPHQL_PATH = "/graphql"
DRAIN_BYTES = 1024 * 1024  # a refused body up to this size is read and dropped, see _drain
DRAIN_SECONDS = 5.0
_FAST = METRICS.graphql_posts.labels(path="fast")
_BY_VIEW = METRICS.graphql_posts.labels(path="view")
_REFUSED = METRICS.graphql_posts.labels(path="refused")
_HTTP_OPERATIONS = (OperationType.QUERY, OperationType.MUTATION)


@dataclass(frozen=True, slots=True)
class Operation:
    """One request's operation, ready to execute: the request and its parsed document."""

    request: intake.GraphQLRequest
    document: DocumentNode


class FastPath:
    """Pure ASGI middleware: see the module's docstring. Put it inside the request-id
    middleware (it logs under the request's id); ``enabled=False`` leaves the execution
    of valid operations to the view, but keeps the checks."""

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http" and scope["path"] == GRAPHQL_PATH
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media_type = intake.media_type_for(headers.get("accept"))
        if scope["method"] != "POST":
            if self._ide(scope):
                await self.app(scope, receive, send)
                return
            refusal = intake.Refusal(
                405, "METHOD_NOT_ALLOWED", "GraphQL is served by POST", {"Allow": "POST"}
            )
            await self.view.refuse(refusal, media_type)(scope, receive, send)
            return
        # Bounded before anything else, for the view too: it would read any body whole.
        try:
            body = await _read_body(scope, receive, self.max_body_bytes)
        except BodyTooLarge:
            # A client still sending when the connection closes may never read the 413 (a
            # reset): a body up to DRAIN_BYTES is read and dropped first, anything more is not.
            await _drain(scope, receive, DRAIN_BYTES)
            refusal = intake.Refusal(
                413,
                "PAYLOAD_TOO_LARGE",
                f"the request body is over {self.max_body_bytes} bytes",
                {"connection": "close"},
            )
            await self.view.refuse(refusal, media_type)(scope, receive, send)
            return
        if body is None:  # the client went away before it finished sending
            return
        try:
            operation = self.operation(self.request(headers, body))
        except intake.Refusal as refusal:
            _REFUSED.inc()
            await self.view.refuse(refusal, media_type)(scope, receive, send)
            return
        if not isinstance(operation, list) and (not self.enabled or scope.get("root_path")):
            _BY_VIEW.inc()
            await self.app(scope, _replay(body, receive), send)
            return
        request = Request(scope, receive)
        sub_response = await self.view.get_sub_response(request)
        if isinstance(operation, list):
            _REFUSED.inc()
            result = ExecutionResult(None, operation)
        else:
            _FAST.inc()
            result = await self.execute(operation, request, sub_response)
        if result.errors:
            self.view.schema.process_errors(result.errors)
        response = self.view.create_response(process_result(result), sub_response)
        await response(scope, receive, send)

    def _ide(self, scope: Scope) -> bool:
        """A GET of GraphiQL (development only): the view's."""
        return (
            scope["method"] == "GET"
            and self.view.graphql_ide is not None
            and "query" not in QueryParams(scope["query_string"])
        )

    def request(self, headers: Headers, body: bytes) -> intake.GraphQLRequest:
        """The body's request; :class:`intake.Refusal` if it is not a well-formed one."""
        media_type, _, params = headers.get("content-type", "").partition(";")
        if media_type.strip().lower() != intake.JSON:
            raise intake.Refusal(
                415, "UNSUPPORTED_MEDIA_TYPE", f"send the request as {intake.JSON}"
            )
        charset = params.partition("charset=")[2].strip().strip('"').lower()
        if charset not in ("", "utf-8", "utf8"):
            raise intake.Refusal(415, "UNSUPPORTED_MEDIA_TYPE", "send the request as UTF-8")
        try:
            data = intake.read_json(body)
        except json.JSONDecodeError as exc:
            raise intake.bad_request(f"the body is not JSON: {exc.msg}") from None
        request = intake.graphql_request(data)
        if not intake.encodable(data, body):
            raise intake.Refusal(400, "INVALID_INPUT", intake.NOT_UNICODE)
        return request

    def operation(self, request: intake.GraphQLRequest) -> Operation | list[GraphQLError]:
        """The request's operation, ready to execute; else its request errors: the
        document's syntax or validation errors, or why no operation can be picked."""
        schema = self.view.schema
        document = schema.prepared(request.query)
        if document is None:
            return schema.problems(request.query)
        operation = get_operation_ast(document, request.operation_name)
        if operation is None:
            message = (
                "several operations: name the one to run in `operationName`"
                if request.operation_name is None
                else f"no operation named {request.operation_name!r} in the document"
            )
            return [ApiError("BAD_REQUEST", message)]
        if operation.operation not in _HTTP_OPERATIONS:
            message = "subscriptions are served over the WebSocket (graphql-transport-ws)"
            return [ApiError("BAD_REQUEST", message)]
        return Operation(request, document)

    async def execute(
        self, operation: Operation, request: Request, sub_response: Response
    ) -> ExecutionResult:
        """Execute as strawberry's view would, with the view's context."""
        view = self.view
        context = await view.get_context(request, response=sub_response)
        result: ExecutionResult = await await_maybe(
            execute(
                view.schema.graphql_schema,
                operation.document,
                variable_values=operation.request.variables,
                operation_name=operation.request.operation_name,
                context_value=context,
                executor_class=view.schema.execution_context_class,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                operation_extensions=operation.request.extensions,
                hooks=UNTIE,
            )
        )
        return result


def _finished(values: object) -> Any:
    raise RuntimeError("the GraphQL operation has finished")


_FINISHED = GraphQLResolveInfoHelpers(gather=_finished, track=_finished)


def _untie(info: AsyncWorkFinishedInfo) -> None:
    """graphql-core's execution hook, run once all of an operation's work is done: the
    executor drops its resolver helpers (``Executor.async_helpers``).

    They are its own bound methods: a reference cycle that held the executor, the
    request, its context and everything they hold until the cyclic GC came. With a
    submission every millisecond that garbage made each young-generation collection cost
    ~2.6 ms instead of ~0.1 (``benchmarks/README.md``), the latency tail. Untied, it all
    goes by reference counting at once."""
    info.executor.async_helpers = _FINISHED


UNTIE = ExecutionHooks(async_work_finished=_untie)


class BodyTooLarge(Exception):
    """A request body is over the limit, by its Content-Length or by what arrived."""


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


async def _drain(scope: Scope, receive: Receive, limit: int) -> None:
    """Reads and drops the rest of a refused body that declared a length of at most
    ``limit`` bytes, for at most :data:`DRAIN_SECONDS`; a chunked body is not drained."""
    declared = dict(scope["headers"]).get(b"content-length", b"")
    if not declared.isdigit() or int(declared) > limit:
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect" or not message.get("more_body"):
                    return


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
