"""Lua scripts: their sources (``server/state/lua/*.lua``), run straight on pooled
connections.

:func:`lua` reads the sources: each script is one file whose first lines name its KEYS and
ARGV entries as locals; libraries (``keys.lua``, ``phase.lua``, ``leaderboard.lua``,
``gcra.lua``, ``frozen.lua``) are joined in front of the scripts that use them.

Why straight on pooled connections (every submission runs a script):

Through redis-py's client, every command takes a connection from the blocking pool (an
``asyncio.Condition``), goes through the retry wrapper and ``execute_command``'s layers,
packs its arguments in Python, runs a health check and gives the connection back: about
125 µs of CPU per command against 60 µs for the same EVALSHA written to and read from a
connection directly. Every submission runs a script, on the one event-loop thread that
every request shares.

:class:`Scripts` keeps a few connections of the client's own pool checked out and runs
each script on one of them directly: the arguments packed by hiredis, the reply read
with the connection's own timeout. Whenever that cannot simply work (a lost or timed-out
connection, a Redis that restarted without the script, a demoted master, anything else
redis-py would retry), the connection goes back to the pool, disconnected, and the same
call runs through redis-py's client instead, which reconnects, loads the script and
retries with backoff exactly as before. So the direct path only takes the common case,
and every failure is handled by the code that handled it before.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from typing import Any

import hiredis
import redis.asyncio
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import DataError, NoScriptError, ResponseError

from server.state.connection import RETRY_ON

IDLE_MAX = 32  # connections kept checked out for scripts, at most (the pool holds 256)

# What redis-py's client retries, on a fresh connection.
_RETRIED: tuple[type[BaseException], ...] = (*RETRY_ON, OSError)


@functools.cache
def lua(*names: str) -> str:
    """The sources of ``server/state/lua/<name>.lua`` for ``names``, joined in order
    (libraries first, then the script)."""
    folder = resources.files("server.state").joinpath("lua")
    return "\n".join(folder.joinpath(f"{name}.lua").read_text(encoding="utf-8") for name in names)


class Scripts:
    """The direct path of one client; make its scripts with :meth:`register`."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.pool = client.connection_pool
        self.idle: list[AbstractConnection] = []

    def register(self, source: str) -> Script:
        return Script(self, source)

    async def run(self, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        command = hiredis.pack_command(
            ("EVALSHA", script.sha, len(keys), *map(_encoded, keys), *map(_encoded, args))
        )
        connection = self.idle.pop() if self.idle else await self.pool.get_connection()
        try:
            await connection.send_packed_command(command, check_health=False)
            reply = await connection.read_response()
        except NoScriptError:  # a restarted Redis: redis-py loads the script again
            await self._keep(connection)
            return await script.fallback(keys=keys, args=args)
        except _RETRIED:
            await self._drop(connection)
            return await script.fallback(keys=keys, args=args)
        except ResponseError:  # the script's own error: its reply was read in full
            await self._keep(connection)
            raise
        except BaseException:  # cancelled while its reply was owed: out of step
            await self._drop(connection)
            raise
        await self._keep(connection)
        return reply

    async def _keep(self, connection: AbstractConnection) -> None:
        if len(self.idle) < IDLE_MAX:
            self.idle.append(connection)
        else:
            await self.pool.release(connection)

    async def _drop(self, connection: AbstractConnection) -> None:
        await connection.disconnect(nowait=True)
        await self.pool.release(connection)


class Script:
    """A Lua script, called like redis-py's: ``await script(keys=[...], args=[...])``."""

    def __init__(self, scripts: Scripts, source: str) -> None:
        self.scripts = scripts
        self.fallback = scripts.client.register_script(source)
        self.sha = self.fallback.sha

    async def __call__(self, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        return await self.scripts.run(self, keys, args)


def _encoded(value: Any) -> str | bytes:
    """An argument as redis-py's encoder would send it (hiredis takes str and bytes)."""
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, bool):
        raise DataError("a bool is no Redis argument: send '1' or '0'")
    if isinstance(value, float):
        return repr(value)
    return str(value)
