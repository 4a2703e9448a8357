"""Organiser access: login, tokens over HTTP and WebSocket, the cookie and cross-site
requests, the login rate limit, and the audit log; against a real server."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
import websockets
from argon2 import PasswordHasher
from graphql import (
    GraphQLField,
    GraphQLNonNull,
    OperationType,
    Undefined,
    build_schema,
    get_named_type,
    is_leaf_type,
    is_list_type,
)
from strawberry.types import get_object_definition

from server.api.organiser import (
    IsOrganiser,
    OrganiserMutation,
    OrganiserQuery,
    OrganiserSubscription,
)
from server.api.view import make_schema
from server.ids import new_id
from server.organiser.auth import CSRF_HEADER, HASH_THREAD_NAME, HASH_WORKERS, password_matches
from server.settings import Settings, SettingsError
from tests.client import GraphQLErrors, gql, ws_connect
from tests.documents import LOGIN
from tests.organiser_api import PASSWORD, join, login, running

pytestmark = pytest.mark.timeout(60)

SOME_ID = new_id()
# Every organiser query and mutation, called as a client would.
OPERATIONS: list[tuple[str, dict[str, Any]]] = [
    ("{ events { id } }", {}),
    ("{ organiserLeaderboard { frozen } }", {}),
    ("{ participants { id } }", {}),
    ("query($id: ID!) { participant(id: $id) { id } }", {"id": SOME_ID}),
    ('{ claim(code: "ABCDEF") { id } }', {}),
    ("{ latestSubmissions { id } }", {}),
    ("{ reviewQueue { id } }", {}),
    ("{ auditLog { id } }", {}),
    ("{ raffles { id } }", {}),
    ("query($id: ID!) { raffle(id: $id) { id } }", {"id": SOME_ID}),
    ('mutation { createEvent(title: "Day 2") { id } }', {}),
    ('mutation($id: ID!) { updateEvent(id: $id, title: "x") { id } }', {"id": SOME_ID}),
    ("mutation($id: ID!) { setEventSchedule(id: $id) { id } }", {"id": SOME_ID}),
    ('mutation($id: ID!) { setEventTarget(id: $id, imageBase64: "") { id } }', {"id": SOME_ID}),
    ("mutation($id: ID!) { openEvent(id: $id) { id } }", {"id": SOME_ID}),
    ("mutation($id: ID!) { closeEvent(id: $id) { id } }", {"id": SOME_ID}),
    ("mutation($id: ID!) { setCurrentEvent(id: $id) { id } }", {"id": SOME_ID}),
    ("mutation { freezeLeaderboard { frozen } }", {}),
    ("mutation { unfreezeLeaderboard { frozen } }", {}),
    ("mutation($id: ID!) { hideSubmission(id: $id) { id } }", {"id": SOME_ID}),
    ("mutation($id: ID!) { unhideSubmission(id: $id) { id } }", {"id": SOME_ID}),
    ("mutation($id: ID!) { approveSubmission(id: $id) { id } }", {"id": SOME_ID}),
    ("mutation($id: ID!) { banParticipant(id: $id) { id } }", {"id": SOME_ID}),
    ("mutation($id: ID!) { unbanParticipant(id: $id) { id } }", {"id": SOME_ID}),
    ("mutation($id: ID!) { setStaff(id: $id) { id } }", {"id": SOME_ID}),
    ("mutation { prepareRaffle(count: 1) { id } }", {}),
    ("mutation($id: ID!) { drawRaffle(id: $id) { id } }", {"id": SOME_ID}),
    ("mutation($id: ID!) { redrawRaffle(id: $id, absent: []) { id } }", {"id": SOME_ID}),
    ("mutation { organiserLogout }", {}),
]
SUBSCRIPTIONS = [
    "subscription { organiserLeaderboard { frozen } }",
    "subscription { moderationFeed { id } }",
]
EXPORTS = [
    "/admin/export/current/winners.csv",
    "/admin/export/current/submissions.json",
    "/admin/export/current/drawings.zip",
    "/admin/export/audit.csv",
]


@pytest.fixture
async def served(live: Any) -> Any:
    async with running(live, worker=False) as pair:
        yield pair


async def test_every_organiser_operation_needs_an_organiser_token(served: Any) -> None:
    app, http = served
    _, participant_token = await join(http, "mallory")
    for query, variables in OPERATIONS:
        for token in (None, participant_token, "lko_forged"):
            with pytest.raises(GraphQLErrors) as caught:
                await gql(http, query, variables, token)
            assert caught.value.code == "UNAUTHENTICATED", (query, token)
    for path in EXPORTS:
        response = await http.get(path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    upload = await http.post("/admin/events/current/target", content=b"not checked")
    assert upload.status_code == 401
    async with ws_connect(app.ws_url, {"token": participant_token}) as ws:
        for subscription in SUBSCRIPTIONS:
            with pytest.raises(GraphQLErrors) as caught:
                await ws.execute(subscription)
            assert caught.value.code == "UNAUTHENTICATED"

    # Nothing happened: one event, and the audit log holds only the login below.
    token = await login(http)
    assert len((await gql(http, "{ events { id } }", token=token))["events"]) == 1
    actions = [e["action"] for e in (await gql(http, "{ auditLog { action } }", token=token))[
        "auditLog"
    ]]
    assert actions == ["organiser.login"]


OPEN_TO_ALL = {"organiser", "organiserLogin"}  # who is logged in; logging in
SAMPLE_VALUES = {"ID": SOME_ID, "Int": 1, "Float": 1.0, "String": "x", "Boolean": True}


def organiser_documents(settings: Settings) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """A document and variables calling each organiser field, read from the schema, by
    operation type: every required argument given, a leaf picked when the field has none."""
    schema = make_schema(settings)
    types = build_schema(schema.as_str())
    documents: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for operation, holder in (
        (OperationType.QUERY, OrganiserQuery),
        (OperationType.MUTATION, OrganiserMutation),
        (OperationType.SUBSCRIPTION, OrganiserSubscription),
    ):
        root = types.get_root_type(operation)
        assert root is not None
        for field in get_object_definition(holder, strict=True).fields:
            name = schema.config.name_converter.from_field(field)
            guarded = IsOrganiser in field.permission_classes
            assert guarded == (name not in OPEN_TO_ALL), name
            if guarded:
                call = document(operation.value, name, root.fields[name])
                documents.setdefault(operation.value, []).append(call)
    return documents


def document(operation: str, name: str, field: GraphQLField) -> tuple[str, dict[str, Any]]:
    required = {
        arg: spec.type
        for arg, spec in field.args.items()
        if isinstance(spec.type, GraphQLNonNull) and spec.default_value is Undefined
    }
    declared = ", ".join(f"${arg}: {kind}" for arg, kind in required.items())
    passed = ", ".join(f"{arg}: ${arg}" for arg in required)
    values = {
        arg: [] if is_list_type(kind.of_type) else SAMPLE_VALUES[get_named_type(kind).name]
        for arg, kind in required.items()
    }
    selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
    head = f"{operation}({declared})" if declared else operation
    call = f"{name}({passed})" if passed else name
    return f"{head} {{ {call}{selection} }}", values


async def test_a_player_calling_any_organiser_field_is_refused_alike(served: Any) -> None:
    """Every organiser field of the schema sits behind the permission: a player's token
    gets the same refusal from each, whether query, mutation or subscription."""
    app, http = served
    _, participant_token = await join(http, "mallory")
    documents = organiser_documents(app.settings)
    assert len(documents["query"]) >= 10 and len(documents["mutation"]) >= 19
    for query, variables in documents["query"] + documents["mutation"]:
        with pytest.raises(GraphQLErrors) as caught:
            await gql(http, query, variables, participant_token)
        assert caught.value.code == "UNAUTHENTICATED", query
    async with ws_connect(app.ws_url, {"token": participant_token}) as ws:
        for subscription, variables in documents["subscription"]:
            with pytest.raises(GraphQLErrors) as caught:
                await ws.execute(subscription, variables)
            assert caught.value.code == "UNAUTHENTICATED", subscription
    token = await login(http)
    actions = [e["action"] for e in (await gql(http, "{ auditLog { action } }", token=token))[
        "auditLog"
    ]]
    assert actions == ["organiser.login"]


async def test_login_gives_a_token_and_a_strict_http_only_cookie(served: Any) -> None:
    _, http = served
    response = await http.post(
        "/graphql", json={"query": LOGIN, "variables": {"p": PASSWORD, "n": "Grace"}}
    )
    session = response.json()["data"]["organiserLogin"]
    assert session["token"].startswith("lko_") and session["name"] == "Grace"
    cookie = response.headers["set-cookie"]
    assert f"lookalike_organiser={session['token']}" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    me = await gql(http, "{ organiser { name } }", token=session["token"])
    assert me["organiser"] == {"name": "Grace"}
    async with httpx.AsyncClient(base_url=http.base_url) as stranger:
        assert (await gql(stranger, "{ organiser { name } }"))["organiser"] is None


async def test_logout_ends_the_session(served: Any) -> None:
    _, http = served
    token = await login(http)
    assert (await gql(http, "mutation { organiserLogout }", token=token))["organiserLogout"]
    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, "{ events { id } }", token=token)
    assert caught.value.code == "UNAUTHENTICATED"


async def test_cookie_sessions_need_the_csrf_header_and_our_origin(served: Any) -> None:
    app, http = served
    await http.post("/graphql", json={"query": LOGIN, "variables": {"p": PASSWORD, "n": "c"}})
    assert "lookalike_organiser" in http.cookies
    create = {"query": 'mutation { createEvent(title: "Day 2") { title } }'}

    bare = await http.post("/graphql", json=create)
    assert bare.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    cross = await http.post(
        "/graphql", json=create, headers={CSRF_HEADER: "1", "Origin": "https://evil.example"}
    )
    assert cross.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    ours = await http.post(
        "/graphql", json=create, headers={CSRF_HEADER: "1", "Origin": app.base_url}
    )
    assert ours.json()["data"]["createEvent"]["title"] == "Day 2"
    # A plain download may use the cookie alone.
    assert (await http.get("/admin/export/current/winners.csv")).status_code == 200


async def test_websocket_takes_the_token_or_a_same_origin_cookie(served: Any) -> None:
    app, http = served
    token = await login(http)
    query = "{ events { title } }"
    async with ws_connect(app.ws_url, {"organiserToken": token}) as ws:
        assert len((await ws.execute(query))["events"]) == 1
        board = await anext(ws.subscribe("subscription { organiserLeaderboard { frozen } }"))
        assert board["organiserLeaderboard"]["frozen"] is False

    cookie = {"Cookie": f"lookalike_organiser={token}"}
    async with ws_connect(app.ws_url, additional_headers={**cookie, "Origin": app.base_url}) as ws:
        assert len((await ws.execute(query))["events"]) == 1
    async with ws_connect(app.ws_url, additional_headers=cookie) as ws:
        with pytest.raises(GraphQLErrors) as caught:
            await ws.execute(query)
        assert caught.value.code == "FORBIDDEN"  # a cookie without an Origin: not a page
    with pytest.raises(websockets.InvalidStatus):
        async with ws_connect(
            app.ws_url, additional_headers={**cookie, "Origin": "https://evil.example"}
        ):
            pass


async def test_wrong_passwords_are_rate_limited(live: Any) -> None:
    async with running(live, worker=False, organiser_login_burst=3) as (_, http):
        for _ in range(3):
            with pytest.raises(GraphQLErrors) as caught:
                await gql(http, LOGIN, {"p": "guess", "n": "eve"})
            assert caught.value.code == "UNAUTHENTICATED"
        with pytest.raises(GraphQLErrors) as caught:
            await gql(http, LOGIN, {"p": PASSWORD, "n": "eve"})
        assert caught.value.code == "RATE_LIMITED"
        assert caught.value.errors[0]["extensions"]["retryAfter"] > 0


async def test_an_argon2_hash_works_as_the_password(live: Any) -> None:
    hashed = PasswordHasher().hash("s3cret swan")
    async with running(live, worker=False, organiser_password=hashed) as (_, http):
        data = await gql(http, LOGIN, {"p": "s3cret swan", "n": "h"})
        assert data["organiserLogin"]["token"].startswith("lko_")
        with pytest.raises(GraphQLErrors) as caught:
            await gql(http, LOGIN, {"p": hashed, "n": "h"})
        assert caught.value.code == "UNAUTHENTICATED"


async def test_password_check() -> None:
    hashed = PasswordHasher().hash("pw")
    assert await password_matches("pw", "pw")
    assert not await password_matches("pw ", "pw")
    assert await password_matches("pw", hashed)
    assert not await password_matches("PW", hashed)
    assert not await password_matches("pw", "$argon2id$not-a-hash")


async def test_login_is_off_without_a_password(live: Any) -> None:
    async with running(live, worker=False, organiser_password="") as (_, http):
        with pytest.raises(GraphQLErrors) as caught:
            await gql(http, LOGIN, {"p": "", "n": "x"})
        assert caught.value.code == "FORBIDDEN"


def test_production_does_not_start_without_an_organiser_password() -> None:
    env = {"LOOKALIKE_MODE": "production", "LOOKALIKE_SECRET_KEY": "k" * 32}
    with pytest.raises(SettingsError, match="LOOKALIKE_ORGANISER_PASSWORD"):
        Settings.from_env(env)
    assert Settings.from_env({**env, "LOOKALIKE_ORGANISER_PASSWORD": "pw"}).production


async def test_audit_log_records_who_what_when_before_and_after(served: Any) -> None:
    _, http = served
    with pytest.raises(GraphQLErrors):
        await gql(http, LOGIN, {"p": "wrong", "n": "mallory"})
    token = await login(http, "ada")
    event = (await gql(http, "{ event { id } }"))["event"]
    await gql(
        http,
        'mutation($id: ID!) { updateEvent(id: $id, title: "Day 1 (Seoul)") { title } }',
        {"id": event["id"]},
        token,
    )
    entries = (
        await gql(
            http,
            "{ auditLog { id at who source action eventId target before after } }",
            token=token,
        )
    )["auditLog"]
    assert [e["action"] for e in entries] == [
        "event.update",
        "organiser.login",
        "organiser.login-failed",
    ]
    update = entries[0]
    assert update["who"] == "ada" and update["source"] == "127.0.0.1"
    assert update["eventId"] == event["id"] == update["target"]
    assert update["after"]["title"] == "Day 1 (Seoul)"
    assert update["before"]["title"] != update["after"]["title"]
    assert entries[0]["at"] >= entries[1]["at"] >= entries[2]["at"]
    assert entries[2]["who"] == "mallory"

    page = (await gql(
        http, "query($b: String!) { auditLog(first: 1, before: $b) { id } }",
        {"b": entries[0]["id"]}, token,
    ))["auditLog"]
    assert page == [{"id": entries[1]["id"]}]

    exported = await http.get(
        "/admin/export/audit.json", headers={"Authorization": f"Bearer {token}"}
    )
    actions = [row["action"] for row in exported.json()["audit"]]
    assert actions == ["organiser.login-failed", "organiser.login", "event.update"]


def from_address(n: int) -> dict[str, str]:
    """Headers of a client at its own address, behind the trusted proxy (loopback)."""
    return {"X-Forwarded-For": f"198.51.100.{n}"}


async def guess(http: httpx.AsyncClient, n: int, password: str = "guess") -> str | None:
    """One login attempt from address ``n``: the error code, or None when it worked."""
    reply = await http.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"p": password, "n": f"bot{n}"}},
        headers=from_address(n),
    )
    errors = reply.json().get("errors")
    return None if not errors else str(errors[0]["extensions"]["code"])


async def test_guessing_from_many_addresses_meets_a_global_budget(live: Any) -> None:
    """The per-address limit alone lets a crowd of addresses guess without end."""
    async with running(
        live, worker=False, trusted_proxies=("127.0.0.1",), organiser_login_global_burst=4
    ) as (_, http):
        codes = [await guess(http, n) for n in range(6)]
        assert codes == ["UNAUTHENTICATED"] * 4 + ["RATE_LIMITED"] * 2
        assert await guess(http, 99, PASSWORD) == "RATE_LIMITED"  # everyone waits


async def test_argon2_checks_run_in_a_small_pool_of_their_own(live: Any) -> None:
    """A flood of logins cannot take every shared thread (or 64 MiB of memory per
    argon2 check at once): they queue for :data:`HASH_WORKERS` threads of their own."""
    hashed = PasswordHasher().hash(PASSWORD)
    async with running(
        live, worker=False, organiser_password=hashed, trusted_proxies=("127.0.0.1",)
    ) as (_, http):
        codes = await asyncio.gather(*(guess(http, n) for n in range(12)))
        assert codes == ["UNAUTHENTICATED"] * 12
        assert await guess(http, 50, PASSWORD) is None
    hashing = [t for t in threading.enumerate() if t.name.startswith(HASH_THREAD_NAME)]
    assert 1 <= len(hashing) <= HASH_WORKERS


async def test_failed_logins_do_not_grow_the_audit_log_without_bound(live: Any) -> None:
    async with running(
        live,
        worker=False,
        trusted_proxies=("127.0.0.1",),
        audit_failed_logins_per_hour=3,
    ) as (_, http):
        codes = [await guess(http, n) for n in range(10)]
        assert codes == ["UNAUTHENTICATED"] * 10
        token = await login(http)
        entries = (
            await gql(http, "{ auditLog(first: 50) { action source after } }", token=token)
        )["auditLog"]
    failed = [e for e in entries if e["action"] == "organiser.login-failed"]
    assert [e["after"] for e in failed] == [{"thisHour": n} for n in (3, 2, 1)]
    assert [e["source"] for e in failed] == ["198.51.100.2", "198.51.100.1", "198.51.100.0"]
