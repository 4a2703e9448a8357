"""The POST fast path (server/api/fastpath.py) answers what strawberry's view would.

Two servers share one Redis: one with the fast path, one without. Each request goes to
both and the answers are compared: status, content type, body, cookies. The metric of
who answered shows which requests the fast path took, so an equal answer from a request
that silently fell back proves nothing and fails the test instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from server.metrics import METRICS

JOIN = "mutation($n: String!) { join(nickname: $n) { token participant { nickname } } }"
SUBMIT = """mutation($p: String!, $c: String) { submitPrompt(prompt: $p, captcha: $c) {
  status deduplicated queuePosition } }"""
EVENT = """query Board { event { title } }
query Counts { event { participantCount submissionCount } }"""

# (name, request body as JSON, or raw bytes with a content type), all taken by the fast path
FAST: list[tuple[str, Any]] = [
    ("the floor", {"query": "{ __typename }"}),
    ("a null operation name and variables", {"query": "{ __typename }", "variables": None,
                                             "operationName": None}),
    ("the second, by name", {"query": EVENT, "operationName": "Counts"}),
    ("an error of ours", {"query": SUBMIT, "variables": {"p": "a duck"}}),
    ("a missing variable", {"query": SUBMIT, "variables": {}}),
    ("a variable of the wrong type", {"query": SUBMIT, "variables": {"p": 5}}),
    ("a null for a required variable", {"query": SUBMIT, "variables": {"p": None}}),
    ("extensions", {"query": "{ __typename }", "extensions": {"persisted": 1}}),
    ("a charset", (b'{"query": "{ __typename }"}', "application/json; charset=utf-8")),
]  # fmt: skip

# Requests refused before either path runs (server/api/intake.py), with the fast path on or off.
REFUSED: list[tuple[str, Any]] = [
    ("a syntax error", {"query": "{ __typename"}),
    ("a validation error", {"query": "{ nosuchfield }"}),
    ("too many aliases", {"query": "{ " + "".join(f"a{i}: __typename " for i in range(16)) + "}"}),
    ("over the token limit", {"query": "{ " + "a " * 2100 + "}"}),
    ("over the length limit", {"query": "{ __typename } #" + "x" * 11_000}),
    ("an unknown operation name", {"query": EVENT, "operationName": "Nope"}),
    ("two named operations and no name", {"query": EVENT}),
    ("two anonymous operations", {"query": "{ __typename } { __typename }"}),
    ("a subscription", {"query": "subscription { leaderboard { submissions { rank } } }"}),
    ("an operation name of the wrong type", {"query": "{ __typename }", "operationName": 5}),
    ("variables of the wrong type", {"query": "{ __typename }", "variables": [1]}),
    ("extensions of the wrong type", {"query": "{ __typename }", "extensions": "x"}),
    ("a query of the wrong type", {"query": 5}),
    ("no query", {"variables": {}}),
    ("a batch", [{"query": "{ __typename }"}]),
    ("not JSON", (b"{nope", "application/json")),
    ("another content type", (b'{"query": "{ __typename }"}', "text/plain")),
    ("no content type", (b'{"query": "{ __typename }"}', None)),
]  # fmt: skip


@pytest.fixture
async def pair(live: Any) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Clients of two servers on one Redis: with the fast path, and without."""
    async with (
        live(worker=False) as fast,
        live(worker=False, http_fast_path=False) as plain,
        httpx.AsyncClient(base_url=fast.base_url, timeout=30) as a,
        httpx.AsyncClient(base_url=plain.base_url, timeout=30) as b,
    ):
        yield a, b


@contextlib.contextmanager
def answered_by(path: str, requests: int) -> Iterator[None]:
    """Assert that exactly ``requests`` POSTs were answered by ``path`` meanwhile."""
    def count() -> float:
        value = METRICS.registry.get_sample_value("lookalike_graphql_posts_total", {"path": path})
        return value or 0.0

    before = count()
    yield
    assert count() - before == requests


async def post(http: httpx.AsyncClient, body: Any, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(body, tuple):
        content, content_type = body
        if content_type is not None:
            headers["Content-Type"] = content_type
        return await http.post("/graphql", content=content, headers=headers)
    return await http.post("/graphql", json=body, headers=headers)


def answer(response: httpx.Response) -> tuple[int, str | None, Any]:
    content_type = response.headers.get("content-type")
    if content_type == "application/json":
        return response.status_code, content_type, response.json()
    return response.status_code, content_type, response.text


@pytest.mark.parametrize("name, body", FAST, ids=[name for name, _ in FAST])
async def test_the_fast_path_answers_as_the_view_does(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], name: str, body: Any
) -> None:
    fast, plain = pair
    with answered_by("fast", 1):
        ours = await post(fast, body)
    with answered_by("view", 1):
        theirs = await post(plain, body)
    assert answer(ours) == answer(theirs)
    assert ours.headers["content-length"] == theirs.headers["content-length"]


@pytest.mark.parametrize("name, body", REFUSED, ids=[name for name, _ in REFUSED])
async def test_everything_else_is_refused_the_same_with_or_without_it(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], name: str, body: Any
) -> None:
    fast, plain = pair
    with answered_by("refused", 2), answered_by("view", 0), answered_by("fast", 0):
        ours, theirs = await post(fast, body), await post(plain, body)
    assert answer(ours) == answer(theirs)
    assert 400 <= ours.status_code < 500 or ours.json()["errors"][0]["extensions"]["code"]


async def test_a_join_sets_the_same_session_cookie(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    fast, plain = pair
    with answered_by("fast", 1):
        ours = await post(fast, {"query": JOIN, "variables": {"n": "Ada"}})
    theirs = await post(plain, {"query": JOIN, "variables": {"n": "Bea"}})

    def cookie(response: httpx.Response) -> str:
        name_value, _, attributes = response.headers["set-cookie"].partition(";")
        return name_value.partition("=")[0] + ";" + attributes

    assert cookie(ours) == cookie(theirs)
    assert ours.json()["data"]["join"]["participant"] == {"nickname": "Ada"}
    token = ours.json()["data"]["join"]["token"]
    assert ours.cookies["lookalike_session"] == token
    # The cookie alone is a session, through either path.
    for http in (fast, plain):
        http.cookies.set("lookalike_session", token)
        me = await post(http, {"query": "{ me { nickname } }"})
        assert me.json() == {"data": {"me": {"nickname": "Ada"}}}


async def test_submissions_take_the_fast_path(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    fast, plain = pair
    replies = []
    for http, nickname, path in ((fast, "Ada", "fast"), (plain, "Bea", "view")):
        with answered_by(path, 3):
            joined = await post(http, {"query": JOIN, "variables": {"n": nickname}})
            token = joined.json()["data"]["join"]["token"]
            first = await post(http, {"query": SUBMIT, "variables": {"p": "a duck"}}, token)
            again = await post(http, {"query": SUBMIT, "variables": {"p": "a goose"}}, token)
        replies.append((first.json(), again.json()))
    (ada_first, ada_again), (bea_first, bea_again) = replies
    assert ada_first["data"]["submitPrompt"] == {
        "status": "QUEUED", "deduplicated": False, "queuePosition": 1
    }  # fmt: skip
    # Bea's duck is Ada's, already queued.
    assert bea_first["data"]["submitPrompt"] == {
        "status": "QUEUED", "deduplicated": True, "queuePosition": 1
    }  # fmt: skip
    for again in (ada_again, bea_again):
        (error,) = again["errors"]
        assert error["extensions"]["code"] == "IN_FLIGHT"
    assert ada_again["errors"][0]["message"] == bea_again["errors"][0]["message"]


async def test_a_body_sent_in_pieces_is_read_whole(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    fast, _ = pair
    body = json.dumps({"query": EVENT, "operationName": "Board"}).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for at in range(0, len(body), 7):
            yield body[at : at + 7]

    with answered_by("fast", 1):
        response = await fast.post(
            "/graphql", content=pieces(), headers={"Content-Type": "application/json"}
        )
    assert response.json()["data"]["event"]["title"]


async def test_the_fast_path_keeps_the_request_id(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    fast, _ = pair
    with answered_by("fast", 1):
        response = await fast.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-ID": "abc-123"}
        )
    assert response.headers["x-request-id"] == "abc-123"


async def raw_post(base_url: str, head: bytes, pieces: list[bytes]) -> tuple[int, Any]:
    """Send a request head and some pieces of its body, never the rest; read the answer
    (status and JSON body) the server gives before the body is complete."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        for piece in pieces:
            writer.write(piece)
        await writer.drain()
        async with asyncio.timeout(10):
            status_line = await reader.readline()
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers["content-length"]))
        assert headers.get("connection") == "close"  # the rest is never read
        return int(status_line.split()[1]), json.loads(body)
    finally:
        writer.close()


def head(size: int | None) -> bytes:
    """A POST head declaring ``size`` bytes of body, or chunked framing for None."""
    framing = f"Content-Length: {size}" if size is not None else "Transfer-Encoding: chunked"
    return (
        f"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast path", "view"])
async def test_a_big_body_is_refused_before_it_is_read(live: Any, fast_path: bool) -> None:
    """The attack: a 4 MB POST was read whole and answered 200."""
    async with live(worker=False, http_fast_path=fast_path) as app:
        limit = 64 * 1024  # the default LOOKALIKE_MAX_BODY_BYTES
        start = b'{"query": "{ __typename }", "variables": {"pad": "'
        declared = await raw_post(app.base_url, head(4_000_000), [start, b"x" * 1000])
        streamed = await raw_post(
            app.base_url, head(None), [chunk(start)] + [chunk(b"x" * 16_384)] * 5
        )
        for status, body in (declared, streamed):
            assert status == 413
            (error,) = body["errors"]
            assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
            assert str(limit) in error["message"]
        async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as http:
            padded = {"query": "{ __typename }", "variables": {"pad": "x" * (limit - 100)}}
            fits = await http.post("/graphql", json=padded)
            assert fits.status_code == 200 and fits.json()["data"] == {"__typename": "Query"}


def test_the_fast_path_runs_on_the_schema_strawberry_runs_on(
    make_settings: Any,
) -> None:
    """graphql-core's schema is found through strawberry's public executor hook (not its
    private attribute): the very schema strawberry executes on, its executor class put back."""
    from graphql import GraphQLSchema, parse
    from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

    from server.api.view import make_schema

    schema = make_schema(make_settings())
    assert isinstance(schema.graphql_schema, GraphQLSchema)
    assert schema.execution_context_class is StrawberryGraphQLCoreExecutionContext
    seen: list[GraphQLSchema] = []

    class Watching(StrawberryGraphQLCoreExecutionContext):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            seen.append(self.schema)

    schema.execution_context_class = Watching
    assert schema.execute_sync("{ __typename }").data == {"__typename": "Query"}
    assert seen == [schema.graphql_schema]
    assert schema.validate(parse("{ nope }"))  # validation runs on it too


def test_a_finished_executor_goes_by_reference_counting(make_settings: Any) -> None:
    """The fast path's execution hook unties graphql-core's executor from its resolver
    helpers: with the cyclic GC off, the executor is gone as soon as the result is."""
    import gc
    import weakref

    from graphql import execute, parse

    from server.api.fastpath import UNTIE
    from server.api.view import make_schema

    schema = make_schema(make_settings())
    built: list[weakref.ref[Any]] = []

    class Watched(schema.execution_context_class):  # type: ignore[misc,name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            built.append(weakref.ref(self))

    document = parse("{ __typename }")
    gc.disable()
    try:
        for hooks, freed in ((None, False), (UNTIE, True)):
            built.clear()
            result = execute(schema.graphql_schema, document, executor_class=Watched, hooks=hooks)
            assert result.data == {"__typename": "Query"}  # type: ignore[union-attr]
            (executor,) = built
            assert (executor() is None) is freed
    finally:
        gc.enable()
