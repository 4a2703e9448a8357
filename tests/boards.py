"""Shared by the fan-out and screen tests: the big screen's query and a served app."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from starlette.routing import WebSocketRoute

from server.abuse import dedup
from server.api.view import GraphQLView
from server.app import create_app
from server.live.channels import Fanout
from server.live.screen import server_options
from server.settings import Settings
from server.state.connection import async_client
from server.state.store import Store
from tests.client import ws_connect

FIELDS = """submissions { id name score imageUrl rank }
  lastUpdatedAt participantCount submissionCount latest { id name score imageUrl }"""
BOARD = f"subscription Board($first: Int!) {{ leaderboard(first: $first) {{ {FIELDS} }} }}"
# The same selection behind a fragment spread: not a single root field, so strawberry's
# general path (a task per subscription) serves it.
GENERAL = f"""subscription Board($first: Int!) {{ ...Root }}
fragment Root on Subscription {{ leaderboard(first: $first) {{ {FIELDS} }} }}"""


@dataclass
class Server:
    ws_url: str
    view: GraphQLView
    store: Store
    event_id: str
    joined: int = 0

    @property
    def fanout(self) -> Fanout:
        assert self.view.fanout is not None
        return self.view.fanout

    async def join(self) -> None:
        """A new participant: every board's participantCount goes up by one."""
        self.joined += 1
        name = f"player-{self.joined}"
        assert await self.store.join(self.event_id, name, dedup.nickname_key(name))


@pytest.fixture
def serve(make_settings: Callable[..., Settings]) -> Callable[..., Any]:
    """Factory: ``async with serve(**settings) as server`` runs uvicorn (no worker)."""

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Server]:
        settings = make_settings(**overrides)
        app = create_app(settings)
        view = next(r.app for r in app.routes if isinstance(r, WebSocketRoute))
        assert isinstance(view, GraphQLView)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        server = uvicorn.Server(uvicorn.Config(app, **server_options(loop="asyncio")))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        client = async_client(settings.redis_url)
        try:
            store = Store(client)
            url = f"ws://127.0.0.1:{sock.getsockname()[1]}/graphql"
            async with ws_connect(url) as ws:  # waits for start-up, which makes the event
                await ws.execute("{ event { id } }")
            event_id = await store.current_event_id()
            assert event_id is not None
            yield Server(url, view, store, event_id)
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 30)
            await client.aclose()
            sock.close()

    return start


async def next_board(stream: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    board: dict[str, Any] = (await asyncio.wait_for(anext(stream), 10))["leaderboard"]
    return board
