"""Connecting to Redis: one client factory for every accepted ``LOOKALIKE_REDIS_URL``.

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
``redis.ConnectionError``, and the long-running loops (worker, pub/sub listener, results
consumer) back off and retry by themselves, then re-read the state.

It lives with the GPU service, which needs nothing else of the web server's; the web
server connects through it too (``server.state.connection`` names it again).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
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


def _client_options(*, tcp: bool = True, decode: bool = True) -> dict[str, Any]:
    options: dict[str, Any] = {
        "decode_responses": decode,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
    }
    if tcp:  # redis-py's Unix socket connections refuse the option
        options["socket_keepalive"] = True
    return options


MAX_CONNECTIONS = 256  # per process; Redis allows 10,000 clients by default
POOL_TIMEOUT_S = 10.0  # how long a command waits for a free pooled connection


def backoff() -> ExponentialBackoff:
    """The retry backoff of every client: 0.1, 0.2, 0.4, 0.8, 1, 1 s..."""
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
    _AsyncSentinelConnection,
    redis.asyncio.sentinel.SentinelManagedSSLConnection,  # type: ignore[misc]
):
    """:class:`_AsyncSentinelConnection` over TLS."""


class _SyncSentinelConnection(redis.sentinel.SentinelManagedConnection):  # type: ignore[misc]
    """Blocking twin of :class:`_AsyncSentinelConnection`."""

    def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        if self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        super().connect_check_health(*args, **kwargs)


class _SyncSentinelSSLConnection(
    _SyncSentinelConnection,
    redis.sentinel.SentinelManagedSSLConnection,  # type: ignore[misc]
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


def _client(url: str, flavour: _Flavour, *, decode: bool = True) -> Any:
    _check_scheme(url)
    retry = flavour.retry_class(backoff(), RETRIES, RETRY_ON)
    if not is_sentinel_url(url):
        tcp = not url.startswith("unix://")
        # A blocking pool: a burst (a thousand screens connecting at once) waits for a free
        # connection instead of failing with MaxConnectionsError as the default pool does.
        pool = flavour.pool_class.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_TIMEOUT_S,
            retry=retry,
            **_client_options(tcp=tcp, decode=decode),
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
            "retry": flavour.retry_class(backoff(), 0, RETRY_ON),
        },
    )
    tls = bool(target.options.get("ssl"))
    client = sentinel.master_for(
        target.service_name,
        redis_class=flavour.sentinel_redis_class,
        connection_class=flavour.ssl_connection_class if tls else flavour.connection_class,
        retry=retry,
        **{**_client_options(decode=decode), **target.options},
    )
    client.sentinel = sentinel
    return client


def async_client(url: str, *, decode: bool = True) -> redis.asyncio.Redis:
    """An asyncio client for any accepted URL form: strings decoded (``decode=False``:
    replies as bytes, for pictures), and commands retried with exponential backoff
    through a short outage (restart, failover).

    Raises:
        RedisUrlError: the URL is not of an accepted form (nothing is connected yet).
    """
    client: redis.asyncio.Redis = _client(url, _ASYNC, decode=decode)
    return client


def sync_client(url: str) -> redis.Redis:
    """A blocking client (command line, tests), otherwise like :func:`async_client`.

    Raises:
        RedisUrlError: the URL is not of an accepted form (nothing is connected yet).
    """
    client: redis.Redis = _client(url, _SYNC)
    return client


async def ensure_group(client: redis.asyncio.Redis, stream: str, group: str) -> None:
    """Create ``stream`` and its consumer ``group`` (reading from the start) if missing;
    safe to race."""
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
