"""The Strawberry view and schema set-up: context, WebSocket auth, limits, error codes."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

import strawberry
from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse, specified_rules
from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.websocket_origin import is_same_origin
from strawberry.schema.schema import validate_document
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage,
    Message,
    SubscribeMessage,
)
from strawberry.types import ExecutionContext as StrawberryExecutionContext
from strawberry.types.unset import UNSET, UnsetType

from server.api import intake
from server.api.context import Context
from server.api.schema import Mutation, Query, Subscription
from server.errors import ApiError, ErrorCode, unavailable
from server.live.channels import CONNECTION_TRANSPORT, Fanout, FanoutHandler
from server.live.screen import Screens
from server.resources import Resources
from server.settings import Settings
from server.state.connection import RETRY_ON

log = logging.getLogger(__name__)

INIT_TIMEOUT = timedelta(seconds=5)  # connection_init must come this soon (else 4408)
MAX_OPERATIONS = 8  # operations at once on one WebSocket connection
MAX_TOKENS = 2000  # tokens in one document
DOCUMENT_CACHE_SIZE = 256  # distinct documents kept parsed and validated (the pages send ~12)


def _code_for(error: GraphQLError) -> ErrorCode:
    if error.original_error is None:
        message = error.message
        if message.startswith("Syntax Error"):
            return "GRAPHQL_PARSE_FAILED"
        return "GRAPHQL_VALIDATION_FAILED"
    if error.path is None:
        # Before execution, with a cause: a variable's value that does not coerce to
        # its type (a string for an Int, 2^63, null for a non-null): the client's.
        return "INVALID_INPUT"
    return "INTERNAL"


def label_errors(errors: list[GraphQLError]) -> None:
    """Give every error an ``extensions.code``; hide unexpected exceptions' details."""
    for error in errors:
        if isinstance(error.original_error, RETRY_ON):
            # Redis is away longer than the client's retries (a restart in progress):
            # a typed, retryable answer instead of INTERNAL.
            log.warning("redis unavailable in %s: %s", error.path, error.original_error)
            error.original_error = unavailable()
            error.message = error.original_error.message
        if isinstance(error.original_error, ApiError):
            error.extensions = error.original_error.extensions
            continue
        if isinstance(error.original_error, GraphQLError) and error.original_error.extensions:
            error.extensions = {**error.original_error.extensions, **(error.extensions or {})}
        if (error.extensions or {}).get("code"):
            continue
        code = _code_for(error)
        if code == "INTERNAL":
            log.error("unexpected error in %s", error.path, exc_info=error.original_error)
            error.message = "internal error; the organisers have been told"
        error.extensions = {**(error.extensions or {}), "code": code}


class Hardening(SchemaExtension):
    """Our GraphQL hardening as one extension: the length and token limits, and parsing
    and validation with our rules, cached by document text (:func:`prepared`).

    One extension, not five: strawberry looks up and wraps every hook of every extension
    on every request, and with five that was a tenth of a submission's CPU time.

    - Parsing: a document that does not parse is left to strawberry's own parser, which
      reports the syntax error as a parse error (raised from here, it would bypass the
      error codes and arrive unlabelled).
    - Validation: :meth:`Schema.validate`; each request gets its own list of the cached
      errors.
    - Error codes: :meth:`Schema.process_errors`.
    """

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = MAX_TOKENS
        if isinstance(context.context, Context):
            # A WebSocket keeps one context for all its operations: each reads afresh.
            context.context.snapshots.clear()
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query and len(context.query) > self.max_chars:
            # Not raised: strawberry's streaming path (WebSockets) would let it escape.
            # A stand-in document with the error set stops before validation instead.
            context.graphql_document = _STAND_IN
            context.pre_execution_errors = [
                document_too_large(len(context.query), self.max_chars)
            ]
        elif context.query:
            # A syntax error here is raised again, and reported, by strawberry's parse.
            with contextlib.suppress(GraphQLError):
                context.graphql_document = _cached_parse(context.query, max_tokens=MAX_TOKENS)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.pre_execution_errors:  # refused while parsing
            yield
            return
        schema = cast(Schema, context.schema)
        document = context.graphql_document
        errors = None if document is None else schema.validate(document)
        context.pre_execution_errors = list(errors) if errors else None
        yield


_cached_parse = functools.lru_cache(maxsize=DOCUMENT_CACHE_SIZE)(parse)
_cached_validate = functools.lru_cache(maxsize=DOCUMENT_CACHE_SIZE)(validate_document)
_SPECIFIED_RULES = tuple(specified_rules)


def document_too_large(chars: int, limit: int) -> GraphQLError:
    """The source-length limit: the token limit counts a huge comment as one token."""
    return GraphQLError(
        f"the GraphQL document has {chars} characters; at most {limit} are accepted",
        extensions={"code": "PAYLOAD_TOO_LARGE"},
    )


_STAND_IN = parse("{ __typename }")  # stands in for a document refused unparsed


class _Unprepared(Exception):
    """A document that does not parse or validate: raised, so that it is not cached."""


def _graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """graphql-core's schema that ``schema`` runs on.

    Strawberry builds it but keeps it to itself; the one public place it shows is the
    executor strawberry builds for each operation (graphql-core's
    ``ExecutionContext.schema``). So one ``{ __typename }`` runs on a subclass of the
    schema's executor class that notes it; the class is put back afterwards.
    """
    base = schema.execution_context_class
    seen: list[GraphQLSchema] = []

    class Noting(base):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            seen.append(self.schema)

    schema.execution_context_class = Noting
    try:
        result = schema.execute_sync("{ __typename }")
    finally:
        schema.execution_context_class = base
    if result.errors or len(seen) != 1:
        raise RuntimeError(f"could not find the graphql-core schema: {result.errors}")
    return seen[0]


class Schema(strawberry.Schema):
    """Strawberry's schema with our rules (see :func:`make_schema`) and error codes."""

    def __init__(self, *, rules: tuple[Any, ...], max_chars: int, **options: Any) -> None:
        super().__init__(**options)
        self.graphql_schema = _graphql_schema(self)
        """graphql-core's schema under this one: what :meth:`validate` and the fast path
        (:mod:`server.api.fastpath`) run on."""
        self.extensions = (lambda: Hardening(max_chars),)  # it validates on graphql_schema
        self.rules = rules
        """Our validation rules (the limiters), run on documents that graphql's own pass."""
        self.max_chars = max_chars
        """The longest document accepted (``LOOKALIKE_MAX_DOCUMENT_CHARS``)."""
        self.documents = functools.lru_cache(maxsize=DOCUMENT_CACHE_SIZE)(self._prepare)
        """The cache behind :meth:`prepared`: valid documents only."""

    def prepared(self, query: str) -> DocumentNode | None:
        """``query`` parsed (within the length and token limits) and validated with our
        rules, cached by its text; None if it does not parse or is not valid (see
        :meth:`problems`). By text: the validation cache's key is the parsed document,
        whose hash walks the whole tree. Failures are not cached: a stream of junk
        documents would push out the pages' dozen, and hold up to 256 request bodies."""
        if len(query) > self.max_chars:
            return None
        try:
            return self.documents(query)
        except _Unprepared:
            return None

    def validate(self, document: DocumentNode) -> list[GraphQLError]:
        """The document's validation errors (cached): graphql's rules, then ours.

        Ours only on a document that passes graphql's own: the limiters assume a valid
        one (the depth limiter fails on a spread of an unknown fragment)."""
        errors = _cached_validate(self.graphql_schema, document, _SPECIFIED_RULES)
        return errors or _cached_validate(self.graphql_schema, document, self.rules)

    def problems(self, query: str) -> list[GraphQLError]:
        """Why ``query`` is not :meth:`prepared`: too long, its syntax error, or its
        validation errors."""
        if len(query) > self.max_chars:
            return [document_too_large(len(query), self.max_chars)]
        try:
            document = _cached_parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError as error:
            return [error]
        return list(self.validate(document))

    def _prepare(self, query: str) -> DocumentNode:
        try:
            document = _cached_parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError as exc:
            raise _Unprepared from exc
        if self.validate(document):
            raise _Unprepared
        return document

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: StrawberryExecutionContext | None = None,
    ) -> None:
        """Give every error its code (:func:`label_errors`), which logs the unexpected.

        Strawberry calls this with every error of every operation, parse and validation
        errors and subscriptions' events included; its own logs each one at ERROR with
        a traceback, so a cheater's every refused submission would be an error line.
        """
        label_errors(errors)


def make_schema(settings: Settings) -> Schema:
    """The schema with our hardening (depth, aliases, length, tokens) and error codes.

    Parsing and validation are cached by document text: validating the same mutation
    again on every submission was the largest single cost of the submission path. The
    limiters' validation rules are built once, so that the cache key (document, rules)
    is the same for every request.
    """
    rules = [
        *QueryDepthLimiter(max_depth=8).validation_rules,
        *MaxAliasesLimiter(max_alias_count=15).validation_rules,
    ]
    if not settings.dev_graphiql:
        rules.append(NoSchemaIntrospectionCustomRule)
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        rules=tuple(rules),
        max_chars=settings.max_document_chars,
    )


class TransportWSHandler(FanoutHandler):
    """graphql-transport-ws on ``/graphql``: strawberry's handler (with the fan-out),
    after :mod:`server.api.intake`'s checks of each message. A malformed message closes the
    socket with 4400 and its reason; an operation past the limit, or whose payload holds
    text UTF-8 cannot carry, gets an ``error`` with its code."""

    async def handle_message(self, message: Message) -> None:
        try:
            checked = intake.ws_message(message)
            problem = None
            if checked.get("type") == "subscribe":
                problem = intake.subscribe_payload(checked)
        except intake.BadMessage as bad:
            await self.handle_invalid_message(bad.reason)
            return
        if problem is not None and self.connection_acknowledged:
            await self._send_error(checked["id"], problem)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        limit = self.max_subscriptions_per_connection
        if (
            limit is not None
            and self.connection_acknowledged
            and message["id"] not in self.operations
            and len(self.operations) >= limit
        ):
            await self._send_error(message["id"], intake.too_many_operations(limit))
            return
        await super().handle_subscribe(message)

    async def _send_error(self, operation_id: str, error: ApiError) -> None:
        payload = [error.formatted]
        await self.send_message(ErrorMessage(id=operation_id, type="error", payload=payload))


class GraphQLView(GraphQL[Context, None]):
    """Strawberry's ASGI view with our context, WS token handling and hardening.

    Leaderboard subscriptions over WebSocket take the shared fast path of
    :mod:`server.live.channels` (unless ``leaderboard_fanout`` is off); everything else is
    strawberry's general path.
    """

    graphql_transport_ws_handler_class = TransportWSHandler
    schema: Schema

    def __init__(
        self,
        schema: Schema,
        settings: Settings,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.dev_graphiql else None,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=INIT_TIMEOUT,
            max_subscriptions_per_connection=MAX_OPERATIONS,
            allowed_origins=settings.allowed_origins,
        )
        self.fanout = (
            Fanout(settings.ws_send_buffer_max_bytes) if settings.leaderboard_fanout else None
        )
        self.screens = None if self.fanout is None else Screens(self, self.fanout)
        """The lean endpoint for big screens (:mod:`server.live.screen`), on the fan-out."""

        self._said_no_transport = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "websocket"
            and self.fanout is not None
            and CONNECTION_TRANSPORT.get() is None
            and not self._said_no_transport
        ):
            self._said_no_transport = True
            log.warning(
                "leaderboard fan-out is off on /graphql: the connection's transport is not "
                "known (it needs uvicorn with server.live.screen.server_options)"
            )
        await super().__call__(scope, receive, send)

    def websocket_origin_allowed(self, headers: Headers) -> bool:
        """Strawberry's handshake rule for ``/graphql``, for the screens' endpoint too: no
        ``Origin`` (not a browser), the same origin, or one that
        :meth:`is_websocket_origin_allowed` accepts (``allowed_origins``)."""
        origin = headers.get("origin")
        if origin is None:
            return True
        if headers.get("sec-fetch-site") == "same-origin":
            return True
        if is_same_origin(origin, headers.get("host")):
            return True
        connection = HTTPConnection({"type": "websocket", "headers": headers.raw})
        if self.is_websocket_origin_allowed(cast(WebSocket, connection), origin):
            return True
        log.warning("refused a WebSocket from origin %r to host %r", origin, headers.get("host"))
        return False

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        """Strawberry's, carrying the answer's media type (for the request's ``Accept``)."""
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = intake.media_type_for(request.headers.get("accept"))
        return sub_response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """The answer in the negotiated media type, with the spec's status
        (:func:`server.api.intake.status_of`); a request error has no ``data`` entry."""
        media_type = sub_response.media_type or intake.JSON
        status = 200
        body: object = response_data
        if isinstance(response_data, dict):
            status = intake.status_of(response_data, media_type)
            if intake.is_request_error(response_data):
                body = {k: v for k, v in response_data.items() if k != "data"}
        response = Response(
            self.encode_json(body),
            status_code=sub_response.status_code or status,
            media_type=media_type,
        )
        response.headers.raw.extend(sub_response.headers.raw)
        response.background = sub_response.background
        return response

    def refuse(self, refusal: intake.Refusal, media_type: str) -> Response:
        """The answer to a request refused before any GraphQL ran."""
        return Response(
            self.encode_json(refusal.body()),
            status_code=refusal.status,
            headers=refusal.headers,
            media_type=media_type,
        )

    def decode_json(self, data: str | bytes) -> object:
        """A WebSocket message: too deep or otherwise unreadable is "not JSON" (4400)."""
        return intake.read_json(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        resources: Resources = request.app.state.resources
        return Context(
            resources=resources,
            connection=request,
            response=response if isinstance(response, Response) else None,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        token = context.connection_params.get("token")
        if token is not None and not isinstance(token, str):
            raise ConnectionRejectionError(
                {"code": "INVALID_INPUT", "message": "token must be a string"}
            )
        return cast(UnsetType, UNSET)
