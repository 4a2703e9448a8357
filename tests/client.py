"""A small GraphQL client for tests and benchmarks: HTTP via httpx, WebSocket via
``websockets`` speaking the graphql-transport-ws protocol like the npm graphql-ws client."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection


def client_frame(
    payload: bytes, opcode: int = 0x1, *, fin: bool = True, mask: bytes | None = None
) -> bytes:
    """A masked client frame (RFC 6455 5.2, 5.3); a random mask unless one is given."""
    mask = os.urandom(4) if mask is None else mask
    size = len(payload)
    first = (0x80 if fin else 0) | opcode
    if size < 126:
        header = bytes((first, 0x80 | size))
    elif size < 1 << 16:
        header = bytes((first, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((first, 0x80 | 127)) + size.to_bytes(8, "big")
    key = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
    return header + mask + masked


class GraphQLErrors(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0].get("message", "GraphQL error"))
        self.errors = errors

    @property
    def code(self) -> str | None:
        code: str | None = self.errors[0].get("extensions", {}).get("code")
        return code


async def gql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """POST a query; return ``data`` or raise GraphQLErrors."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise GraphQLErrors(body["errors"])
    data: dict[str, Any] = body["data"]
    return data


class WSClient:
    """One graphql-transport-ws connection; several operations may run on it."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())
        self.closed = asyncio.get_running_loop().create_future()

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                queue = self._queues.get(message.get("id", ""))
                if queue is not None:
                    await queue.put(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result((self.ws.close_code, self.ws.close_reason))

    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield each ``next`` payload's data; raise GraphQLErrors on ``error``."""
        op_id = str(next(self._ids))
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._queues[op_id] = queue
        await self.ws.send(
            json.dumps(
                {
                    "id": op_id,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables or {}},
                }
            )
        )
        try:
            while True:
                message = await queue.get()
                if message["type"] == "next":
                    payload = message["payload"]
                    if payload.get("errors"):
                        raise GraphQLErrors(payload["errors"])
                    yield payload["data"]
                elif message["type"] == "error":
                    raise GraphQLErrors(message["payload"])
                elif message["type"] == "complete":
                    return
        finally:
            self._queues.pop(op_id, None)

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a query or mutation over the socket; return its data."""
        async for data in self.subscribe(query, variables):
            return data
        raise GraphQLErrors([{"message": "completed without a result"}])


async def closed_by_server(
    ws: ClientConnection, timeout: float = 15
) -> tuple[int | None, str | None]:
    """Read (and drop) messages until the server closes the socket: its close code and
    reason. TimeoutError if it is still open after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed:
            return ws.close_code, ws.close_reason


@asynccontextmanager
async def ws_connect(
    url: str, payload: dict[str, Any] | None = None, **kwargs: Any
) -> AsyncIterator[WSClient]:
    """Open a socket, send connection_init, wait for connection_ack."""
    async with websockets.connect(
        url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")], **kwargs
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if ack.get("type") != "connection_ack":
            raise GraphQLErrors([{"message": f"expected connection_ack, got {ack}"}])
        client = WSClient(ws)
        try:
            yield client
        finally:
            client._reader.cancel()
