"""What the benchmarks share: child processes, an embedded Redis, percentiles, reports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import resource
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

from server.state.connection import EmbeddedRedis, free_port


def raise_open_files() -> int:
    """Lift this process's open-file limit to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@contextlib.contextmanager
def embedded_redis() -> Iterator[str]:
    """A private redis-server on a TCP port for one benchmark run; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-redis-") as directory:
        server = EmbeddedRedis(Path(directory), persistent=False, port=free_port())
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def machine() -> str:
    """One line about where the figures come from."""
    load = os.getloadavg()
    return (
        f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load[0]:.2f} at start"
    )


def ratio(ours: float, baseline: float) -> str:
    return "n/a" if baseline <= 0 or ours != ours else f"{ours / baseline:.2f}x"


class Child:
    """A benchmark child process (``python -m <module> <args>``) talking in lines."""

    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.process = process
        self.name = name
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @property
    def pid(self) -> int:
        return self.process.pid

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            await self.lines.put(raw.decode().rstrip("\n"))
        await self.lines.put("")  # end of output

    async def expect(self, prefix: str, timeout: float) -> str:
        """The next line starting with ``prefix`` (other lines are echoed)."""
        async with asyncio.timeout(timeout):
            while True:
                line = await self.lines.get()
                if line.startswith(prefix):
                    return line
                if line == "" and self.process.returncode is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
                if line:
                    print(f"  [{self.name}] {line}", file=sys.stderr)

    async def tell(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def child(
    module: str, args: Sequence[str], name: str, pass_fds: Sequence[int] = ()
) -> AsyncIterator[Child]:
    """Run ``python -m module args`` with pipes; stop it on exit."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        pass_fds=tuple(pass_fds),
        cwd=Path(__file__).resolve().parent.parent,
    )
    running = Child(process, name)
    try:
        yield running
    finally:
        await running.stop()
