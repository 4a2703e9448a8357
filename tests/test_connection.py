"""Redis URLs: plain, TLS (through a real TLS terminator) and Sentinel (real sentinels,
a real failover), for both the asyncio and the blocking client."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import redis.asyncio

from server.state.connection import (
    EmbeddedRedis,
    RedisUrlError,
    SentinelUrl,
    async_client,
    free_port,
    parse_sentinel_url,
    redact_url,
    redis_binary,
    sync_client,
)
from tests.waiting import until

pytestmark = pytest.mark.timeout(60)


# --- parsing


def test_a_sentinel_url_names_sentinels_service_db_and_credentials() -> None:
    parsed = parse_sentinel_url(
        "redis+sentinel://:s%40cret@10.0.0.1:26380,sentinel-b,[::1]:5000/booth/2"
        "?socket_timeout=1.5&sentinel_password=pw2"
    )
    assert parsed == SentinelUrl(
        sentinels=(("10.0.0.1", 26380), ("sentinel-b", 26379), ("::1", 5000)),
        service_name="booth",
        options={"socket_timeout": 1.5, "db": 2, "password": "s@cret"},
        sentinel_options={"password": "pw2", "socket_timeout": 1.5},
    )


def test_a_tls_sentinel_url_speaks_tls_to_sentinels_and_master() -> None:
    parsed = parse_sentinel_url(
        "rediss+sentinel://app:pw@s1,s2/booth?ssl_ca_certs=/ca.pem&ssl_check_hostname=false"
    )
    tls = {"ssl": True, "ssl_ca_certs": "/ca.pem", "ssl_check_hostname": False}
    assert parsed.options == {**tls, "username": "app", "password": "pw"}
    assert parsed.sentinel_options == tls
    assert parsed.sentinels == (("s1", 26379), ("s2", 26379))


async def test_a_tls_sentinel_client_opens_tls_connections_to_the_master() -> None:
    client = async_client("rediss+sentinel://s1/booth?ssl_ca_certs=/ca.pem")
    try:
        pool = client.connection_pool
        assert issubclass(pool.connection_class, redis.asyncio.SSLConnection)
        assert pool.connection_kwargs["ssl_ca_certs"] == "/ca.pem"
    finally:
        await client.aclose()
    with sync_client("rediss+sentinel://s1/booth?ssl_ca_certs=/ca.pem") as sync:
        assert issubclass(sync.connection_pool.connection_class, redis.SSLConnection)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis+sentinel://s1:26379", "a path of /<service name>"),
        ("redis+sentinel://s1/booth/zero", "a database number"),
        ("redis+sentinel://s1:port/booth", "host[:port] items"),
        ("redis+sentinel://s1,,s2/booth", "host[:port] items"),
        ("redis+sentinel://s1/booth?socket_timeout=soon", "a valid value for 'socket_timeout'"),
        ("redis://s1/0", "a scheme of redis+sentinel://"),
    ],
)
def test_a_bad_sentinel_url_says_what_was_expected(url: str, expected: str) -> None:
    with pytest.raises(RedisUrlError, match="LOOKALIKE_REDIS_URL") as caught:
        parse_sentinel_url(url)
    assert expected in str(caught.value)


@pytest.mark.parametrize("url", ["http://localhost:6379", "localhost:6379", "sentinel://s1/x"])
def test_an_unknown_scheme_fails_before_connecting(url: str) -> None:
    with pytest.raises(RedisUrlError, match="accepted forms are redis://, rediss://"):
        sync_client(url)


def test_errors_and_logs_never_show_the_password() -> None:
    with pytest.raises(RedisUrlError) as caught:
        parse_sentinel_url("redis+sentinel://:hunter2@s1/booth/x")
    assert "hunter2" not in str(caught.value) and ":***@s1" in str(caught.value)
    assert redact_url("rediss://user:hunter2@h:6380/0") == "rediss://user:***@h:6380/0"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"


async def test_rediss_urls_carry_the_tls_options() -> None:
    client = async_client(
        "rediss://:pw@redis.example:6380/3?ssl_ca_certs=/etc/ca.pem&ssl_cert_reqs=required"
    )
    try:
        pool = client.connection_pool
        assert pool.connection_class is redis.asyncio.SSLConnection
        kwargs = pool.connection_kwargs
        assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("redis.example", 6380, 3)
        assert (kwargs["ssl_ca_certs"], kwargs["ssl_cert_reqs"]) == ("/etc/ca.pem", "required")
        assert kwargs["retry"].get_retries() > 0
    finally:
        await client.aclose()


async def test_a_unix_socket_url_works_for_both_clients(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "local", persistent=False) as server:  # what `up` uses
        assert server.url.startswith("unix://")
        with sync_client(server.url) as sync:
            sync.set("where", "socket")
        client = async_client(server.url)
        try:
            assert await client.get("where") == "socket"
        finally:
            await client.aclose()


# --- TLS, end to end: a TLS terminator in front of a plain Redis


@dataclass(frozen=True)
class Tls:
    port: int
    ca_file: Path


@pytest.fixture
def plain_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path / "plain", persistent=False, port=free_port()) as server:
        yield server


@pytest.fixture
async def tls_redis(tmp_path: Path, plain_redis: EmbeddedRedis) -> AsyncIterator[Tls]:
    """A TLS port (self-signed certificate for 127.0.0.1) forwarding to ``plain_redis``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", plain_redis.port
        )
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(forward, "127.0.0.1", 0, ssl=context)
    async with server:
        yield Tls(server.sockets[0].getsockname()[1], cert)


async def test_rediss_with_a_private_ca_works_for_both_clients(tls_redis: Tls) -> None:
    url = f"rediss://127.0.0.1:{tls_redis.port}/0?ssl_ca_certs={tls_redis.ca_file}"
    client = async_client(url)
    try:
        await client.set("greeting", "over tls")
        assert await client.get("greeting") == "over tls"
    finally:
        await client.aclose()

    def blocking() -> str | None:
        with sync_client(url) as sync:
            value: str | None = sync.get("greeting")
            return value

    assert await asyncio.to_thread(blocking) == "over tls"


async def test_rediss_verifies_the_certificate_unless_told_not_to(tls_redis: Tls) -> None:
    unverified = async_client(f"rediss://127.0.0.1:{tls_redis.port}/0")
    try:
        with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await unverified.ping()
    finally:
        await unverified.aclose()
    trusting = async_client(f"rediss://127.0.0.1:{tls_redis.port}/0?ssl_cert_reqs=none")
    try:
        assert await trusting.ping()
    finally:
        await trusting.aclose()


# --- Sentinel, end to end: master, replica, one sentinel, a forced failover


@dataclass(frozen=True)
class SentinelSetup:
    master: EmbeddedRedis
    replica: EmbeddedRedis
    sentinel_port: int
    service: str = "booth"

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{self.service}/0"


@pytest.fixture
async def sentinel_setup(tmp_path: Path) -> AsyncIterator[SentinelSetup]:
    master_port, sentinel_port = free_port(), free_port()
    master = EmbeddedRedis(tmp_path / "master", persistent=False, port=master_port)
    replica = EmbeddedRedis(
        tmp_path / "replica",
        persistent=False,
        port=free_port(),
        extra_args=("--replicaof", "127.0.0.1", str(master_port)),
    )
    config = tmp_path / "sentinel.conf"  # a sentinel rewrites its config: a file of its own
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\nlogfile sentinel.log\n"
        f"sentinel monitor booth 127.0.0.1 {master_port} 1\n"
        "sentinel down-after-milliseconds booth 1000\nsentinel failover-timeout booth 10000\n"
    )
    with master, replica:
        # A sentinel re-reads a replica's state only every 10 s: start it once the replica
        # is in sync, or it would refuse to promote a replica it last saw unsynced.
        async with redis.asyncio.Redis(port=replica.port, decode_responses=True) as client:

            async def synced() -> bool:
                info = await client.info("replication")
                return bool(info.get("master_link_status") == "up")

            await until(synced, timeout=20, what="the replica to sync")
        sentinel = subprocess.Popen(
            [redis_binary(), str(config), "--sentinel"], stdin=subprocess.DEVNULL
        )
        try:
            yield SentinelSetup(master, replica, sentinel_port)
        finally:
            sentinel.terminate()
            sentinel.wait(timeout=10)


async def test_a_sentinel_url_follows_the_master_through_a_failover(
    sentinel_setup: SentinelSetup,
) -> None:
    setup = sentinel_setup
    sentinel = redis.asyncio.Redis(port=setup.sentinel_port, decode_responses=True)
    replica = redis.asyncio.Redis(port=setup.replica.port, decode_responses=True)
    client = async_client(setup.url)
    try:

        async def sentinel_knows_the_replica() -> bool:
            with contextlib.suppress(redis.ConnectionError):
                replicas = await sentinel.sentinel_slaves(setup.service)
                return any(r.get("master-link-status") == "ok" for r in replicas)
            return False

        await until(sentinel_knows_the_replica, timeout=20, what="the sentinel to see the replica")
        await client.set("before", "1")
        assert await client.connection_pool.get_master_address() == (
            "127.0.0.1",
            setup.master.port,
        )

        assert await sentinel.execute_command("SENTINEL", "FAILOVER", setup.service)

        async def switched() -> bool:
            address = await sentinel.sentinel_get_master_addr_by_name(setup.service)
            return bool(int(address[1]) == setup.replica.port)

        await until(switched, timeout=20, what="the sentinel to switch masters")
        # The sentinel demotes the old master some seconds later; do it now. The client's
        # pooled connection still leads there: READONLY makes it drop the connection and
        # ask the sentinel again, within the same command's retries.
        async with redis.asyncio.Redis(port=setup.master.port) as old_master:
            await old_master.replicaof("127.0.0.1", setup.replica.port)
        await client.set("after", "2")
        assert await replica.mget("before", "after") == ["1", "2"]
        assert (await client.connection_pool.get_master_address())[1] == setup.replica.port

        def blocking() -> str | None:
            with sync_client(setup.url) as sync:
                sync.set("sync", "3")
                value: str | None = sync.get("after")
                return value

        assert await asyncio.to_thread(blocking) == "2"
        assert await replica.get("sync") == "3"
    finally:
        await client.aclose()
        await sentinel.aclose()
        await replica.aclose()


async def test_a_burst_beyond_the_pool_waits_instead_of_failing(redis_url: str) -> None:
    from server.state.connection import MAX_CONNECTIONS, async_client

    client = async_client(redis_url)
    try:
        # More concurrent commands than pooled connections: the extra ones queue for a
        # connection (redis-py's default pool would raise MaxConnectionsError here).
        replies = await asyncio.gather(
            *(client.blpop(["lk:test:burst"], timeout=0.2) for _ in range(MAX_CONNECTIONS + 50))
        )
    finally:
        await client.aclose()
    assert replies == [None] * (MAX_CONNECTIONS + 50)


def test_the_embedded_server_starts_under_a_relative_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `lookalike up` defaults to LOOKALIKE_DATA_DIR=var, relative to where it runs.
    from server.state.connection import EmbeddedRedis, sync_client

    monkeypatch.chdir(tmp_path)
    with EmbeddedRedis(Path("var") / "redis", persistent=True) as server:
        client = sync_client(server.url)
        assert client.ping()
        client.close()
    assert (tmp_path / "var" / "redis").is_dir()
