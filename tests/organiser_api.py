"""Helpers for the organiser tests: a running app with an organiser password, logging in,
joining, submitting and waiting for results, all through the public API.

State changes are written before a mutation answers, so a query right after it sees
them; only subscriptions are waited on, message by message, with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.client import gql, ws_connect
from tests.documents import BOARD, JOIN, LIVE_BOARD, LOGIN, SUBMIT, WATCH

PASSWORD = "duck-and-swan-organiser"


@asynccontextmanager
async def running(live: Any, **overrides: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """A live app with the organiser password set, and an HTTP client for it."""
    settings = {"organiser_password": PASSWORD, **overrides}
    async with (
        live(**settings) as app,
        httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
    ):
        yield app, http


async def login(http: httpx.AsyncClient, name: str = "ada") -> str:
    data = await gql(http, LOGIN, {"p": PASSWORD, "n": name})
    token: str = data["organiserLogin"]["token"]
    return token


async def join(http: httpx.AsyncClient, nickname: str) -> tuple[str, str]:
    """(participant id, session token)."""
    data = (await gql(http, JOIN, {"n": nickname}))["join"]
    return data["participant"]["id"], data["token"]


async def wait_done(app: Any, submission_id: str) -> dict[str, Any]:
    """The submission once DONE or FAILED, followed over the WebSocket."""
    async with ws_connect(app.ws_url) as ws, asyncio.timeout(30):
        async for data in ws.subscribe(WATCH, {"id": submission_id}):
            if data["submission"]["status"] in ("DONE", "FAILED"):
                result: dict[str, Any] = data["submission"]
                return result
    raise AssertionError(f"submission {submission_id} never finished")


async def play(app: Any, http: httpx.AsyncClient, token: str, prompt: str) -> dict[str, Any]:
    """Submit a prompt and wait for its score."""
    submitted = (await gql(http, SUBMIT, {"p": prompt}, token))["submitPrompt"]
    if submitted["status"] == "DONE":
        return dict(submitted)
    return await wait_done(app, submitted["id"])


async def board(http: httpx.AsyncClient, first: int = 20) -> dict[str, Any]:
    data: dict[str, Any] = (await gql(http, BOARD, {"first": first}))["leaderboard"]
    return data


async def live_board(http: httpx.AsyncClient, token: str, first: int = 20) -> dict[str, Any]:
    data: dict[str, Any] = (await gql(http, LIVE_BOARD, {"first": first}, token))[
        "organiserLeaderboard"
    ]
    return data
