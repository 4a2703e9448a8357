"""Scripts run straight on pooled connections, against a real Redis: same replies as
redis-py's, and every failure handed to redis-py's own handling."""

from __future__ import annotations

import ast
import asyncio
import re
from importlib import resources
from pathlib import Path

import pytest
import redis.asyncio
from redis.exceptions import DataError, ResponseError

from server.state.scripts import Scripts, lua

pytestmark = pytest.mark.timeout(30)

ECHO = "return {KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]}"
# Spins for ARGV[1] ms of the server's clock: a reply that is late by construction.
SPIN = """
local function ms() local t = redis.call('TIME') return t[1] * 1000 + t[2] / 1000 end
local until_ms = ms() + tonumber(ARGV[1])
while ms() < until_ms do end
return 'late'
"""


@pytest.fixture
def scripts(aredis: redis.asyncio.Redis) -> Scripts:
    return Scripts(aredis)


async def test_a_script_answers_as_redis_py_would(
    scripts: Scripts, aredis: redis.asyncio.Redis
) -> None:
    args = ["오리 \U0001f986", 12, 0.1 + 0.2, b"raw"]
    ours = await scripts.register(ECHO)(keys=["k"], args=args)
    theirs = await aredis.register_script(ECHO)(keys=["k"], args=args)
    assert ours == theirs == ["k", "오리 \U0001f986", "12", repr(0.1 + 0.2), "raw"]


async def test_a_bool_is_refused_like_redis_py_refuses_it(scripts: Scripts) -> None:
    with pytest.raises(DataError):
        await scripts.register(ECHO)(keys=["k"], args=[True, 1, 2, 3])


async def test_a_flushed_script_is_loaded_again(
    scripts: Scripts, aredis: redis.asyncio.Redis
) -> None:
    echo = scripts.register(ECHO)
    await echo(keys=["k"], args=[1, 2, 3, 4])
    await aredis.script_flush()
    assert await echo(keys=["k"], args=[5, 6, 7, 8]) == ["k", "5", "6", "7", "8"]
    assert scripts.idle  # the connection was fine: it is kept


async def test_a_killed_connection_is_replaced(
    scripts: Scripts, aredis: redis.asyncio.Redis
) -> None:
    echo = scripts.register(ECHO)
    await echo(keys=["k"], args=[1, 2, 3, 4])
    assert len(scripts.idle) == 1
    (kept,) = scripts.idle
    await aredis.execute_command("CLIENT KILL TYPE normal SKIPME yes")
    assert await echo(keys=["k"], args=[5, 6, 7, 8]) == ["k", "5", "6", "7", "8"]
    assert kept not in scripts.idle  # given back to the pool, disconnected


async def test_a_script_error_is_raised_and_the_next_call_works(
    scripts: Scripts, aredis: redis.asyncio.Redis
) -> None:
    await aredis.set("text", "x")
    failing = scripts.register("return redis.call('LPUSH', KEYS[1], 'v')")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await failing(keys=["text"])
    assert await scripts.register(ECHO)(keys=["k"], args=[1, 2, 3, 4]) == [
        "k", "1", "2", "3", "4",
    ]  # fmt: skip


async def test_a_cancelled_call_never_hands_its_reply_to_the_next(scripts: Scripts) -> None:
    spin = scripts.register(SPIN)
    assert await spin(args=[0]) == "late"  # loaded, so the next call takes the direct path
    assert len(scripts.idle) == 1
    slow = asyncio.create_task(spin(args=[300]))
    # The call is on the wire, its reply 300 ms away: cancel it while it waits.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(slow), timeout=0.05)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert not scripts.idle  # its connection, with a reply still owed, was dropped
    assert await scripts.register(ECHO)(keys=["k"], args=[1, 2, 3, 4]) == [
        "k", "1", "2", "3", "4",
    ]  # fmt: skip


async def test_concurrent_calls_each_get_their_own_reply(scripts: Scripts) -> None:
    echo = scripts.register(ECHO)
    replies = await asyncio.gather(*(echo(keys=["k"], args=[i, i, i, i]) for i in range(200)))
    assert replies == [["k", str(i), str(i), str(i), str(i)] for i in range(200)]
    assert 1 <= len(scripts.idle) <= 32


ROOT = Path(__file__).resolve().parent.parent

# --- the Lua files: each names its KEYS and ARGV entries as locals in its first lines
LUA_FILES = sorted(
    (entry.name, entry.read_text(encoding="utf-8"))
    for entry in resources.files("server.state").joinpath("lua").iterdir()
    if entry.name.endswith(".lua")
)
# `local name = KEYS[3]`, `local n = tonumber(ARGV[5])`, `local rest = {unpack(KEYS, 15)}`
_NAMED = re.compile(r"^local \w+ = [^\n]*?\b(KEYS|ARGV)(?:\[(\d+)\]|, (\d+)\)\})")
_USED = re.compile(r"\b(KEYS|ARGV)\b")


def lua_header(source: str) -> tuple[dict[str, list[int]], dict[str, int], list[str]]:
    """The entries a file's header names ({'KEYS': [1, 2, ...]}), where each list's rest
    starts (unpack), and the lines after the header that still use KEYS or ARGV."""
    named: dict[str, list[int]] = {"KEYS": [], "ARGV": []}
    rest: dict[str, int] = {}
    lines = source.splitlines()
    body = len(lines)
    for number, line in enumerate(lines):
        match = _NAMED.match(line)
        if match and len(_USED.findall(line)) == 1:
            if match[2]:
                named[match[1]].append(int(match[2]))
            else:
                rest[match[1]] = int(match[3])
        elif line.strip() and not line.startswith("--"):
            body = number
            break
    later = [line for line in lines[body:] if _USED.search(line.split("--", 1)[0])]
    return named, rest, later


@pytest.mark.parametrize(("name", "source"), LUA_FILES, ids=[name for name, _ in LUA_FILES])
def test_a_lua_file_names_every_key_and_argument_in_its_first_lines(
    name: str, source: str
) -> None:
    named, rest, later = lua_header(source)
    assert later == [], f"{name} uses KEYS or ARGV after its header"
    for kind, indices in named.items():
        assert indices == list(range(1, len(indices) + 1)), f"{name}: {kind} {indices}"
        if kind in rest:
            assert rest[kind] == len(indices) + 1, f"{name}: {kind} rest from {rest[kind]}"
    assert "lk:" not in source, f"{name} names a key: key formats live in server.state.keys"


def test_the_header_check_sees_a_key_used_in_the_body() -> None:
    source = "-- a script\nlocal board = KEYS[1]\nlocal now = ARGV[2]\n\nreturn KEYS[2]\n"
    named, _, later = lua_header(source)
    assert named == {"KEYS": [1], "ARGV": [2]}
    assert later == ["return KEYS[2]"]


def test_every_script_file_is_loaded_and_every_library_is_used() -> None:
    python = "\n".join(
        path.read_text(encoding="utf-8") for path in (ROOT / "server").rglob("*.py")
    )
    loaded = set(re.findall(r'lua\(([^)]*)\)', python))
    names = {name for call in loaded for name in re.findall(r'"(\w+)"', call)}
    assert names == {name.removesuffix(".lua") for name, _ in LUA_FILES}
    for name in names:
        assert lua(name)


def test_key_names_are_written_only_in_keys_py_and_the_contract() -> None:
    """The server's keys are in server/state/keys.py; the ones it shares with the GPU
    service (the streams, the heartbeats, the targets) in pipelines/contract.py."""
    holders = set()
    for path in [*(ROOT / "server").rglob("*.py"), *(ROOT / "pipelines").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                "lk:" in node.value or node.value == "lk"
            ):
                holders.add(path.relative_to(ROOT).as_posix())
    assert holders == {"server/state/keys.py", "pipelines/contract.py"}
