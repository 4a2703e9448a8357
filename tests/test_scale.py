"""Two `lookalike serve` and two `lookalike worker` processes share one Redis: a board on
one server hears about submissions made through the other, the workers share the job
stream, and the jobs of a worker killed mid-run are finished by the other."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis.asyncio

from server.state import keys
from server.state.connection import EmbeddedRedis, async_client, free_port
from tests.client import gql, ws_connect
from tests.documents import BOARD_50, BOARD_50_NOW, JOIN, SUBMISSION, SUBMIT
from tests.waiting import next_until, until

pytestmark = pytest.mark.timeout(150)

ROOT = Path(__file__).resolve().parent.parent
BURST = 10


@dataclass
class Process:
    """A child process of the test, its output going to a file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (exit {self.popen.poll()}):\n" + "\n".join(
            text.splitlines()[-lines:]
        )


@dataclass
class Cluster:
    redis_url: str
    servers: list[str]  # base URLs
    server_processes: list[Process]
    workers: list[Process]


def lookalike(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("lookalike")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "server.cli", *args]


@pytest.fixture
def cluster(tmp_path: Path, tiny_models_dir: Path) -> Iterator[Cluster]:
    """Redis, two workers and two servers, each its own process; all stopped afterwards."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "models").symlink_to(tiny_models_dir / "models", target_is_directory=True)
    with EmbeddedRedis(tmp_path / "redis", persistent=False, port=free_port()) as server:
        env = {
            **os.environ,
            "LOOKALIKE_REDIS_URL": server.url,
            "LOOKALIKE_MODELS": "tiny",
            "LOOKALIKE_DEVICE": "cpu",
            "LOOKALIKE_DATA_DIR": str(data_dir),
            "LOOKALIKE_CAPTCHA_PROVIDER": "off",
            "LOOKALIKE_JOB_CLAIM_IDLE_MS": "1500",
            "LOOKALIKE_BATCH_SIZE": "2",  # a burst takes several batches: time to kill one
            "LOOKALIKE_BATCH_WAIT_MS": "5",
            "LOOKALIKE_PARTICIPANT_BURST": "100",
            "LOOKALIKE_PARTICIPANT_RATE_PER_S": "100",
            "LOOKALIKE_IP_BURST": "1000",
            "LOOKALIKE_IP_RATE_PER_S": "1000",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",  # four processes on a shared two-core machine
        }
        processes: list[Process] = []

        def start(name: str, *args: str) -> Process:
            log = tmp_path / f"{name}.log"
            with log.open("wb") as out:
                popen = subprocess.Popen(
                    lookalike(*args), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            process = Process(name, popen, log)
            processes.append(process)
            return process

        try:
            workers = [start(f"worker-{i}", "worker") for i in range(2)]
            ports = [free_port(), free_port()]
            servers = [start(f"server-{p}", "serve", "--port", str(p)) for p in ports]
            yield Cluster(server.url, [f"http://127.0.0.1:{p}" for p in ports], servers, workers)
        finally:
            for process in processes:
                if process.popen.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGCONT)  # a frozen one cannot exit
                    process.popen.terminate()
            for process in processes:
                try:
                    process.popen.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.popen.kill()
                    process.popen.wait()
                print(process.tail())  # shown by pytest when the test failed


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[redis.asyncio.Redis]:
    c = async_client(cluster.redis_url)
    yield c
    await c.aclose()


async def wait_ready(cluster: Cluster, client: redis.asyncio.Redis) -> None:
    """Both servers answer /readyz and both workers have sent a heartbeat."""
    everyone = cluster.server_processes + cluster.workers

    async def ready() -> bool:
        if exited := [p for p in everyone if p.popen.poll() is not None]:
            raise AssertionError("exited early:\n" + "\n".join(p.tail() for p in exited))
        async with httpx.AsyncClient(timeout=5) as http:
            for base in cluster.servers:
                try:
                    if (await http.get(base + "/readyz")).status_code != 200:
                        return False
                except httpx.TransportError:
                    return False  # not listening yet
        names = set(await client.zrange(keys.WORKERS, 0, -1))
        return names >= {consumer(w) for w in cluster.workers}

    await until(ready, timeout=90, what="two ready servers and two workers", interval=0.2)


def consumer(worker: Process) -> str:
    """The consumer-group name of a worker process (``pipelines.worker.Worker.name``)."""
    import socket

    return f"{socket.gethostname()}-{worker.pid}"


def process_state(pid: int) -> str:
    """The state letter in /proc/PID/stat: R running, S sleeping, T stopped, ..."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0]


async def freeze(process: Process) -> None:
    os.kill(process.pid, signal.SIGSTOP)

    async def stopped() -> bool:
        return process_state(process.pid) == "T"

    await until(stopped, timeout=5, what=f"{process.name} to stop", interval=0.01)


async def held_by(client: redis.asyncio.Redis, name: str) -> list[str]:
    """Stream entry ids pending (taken, not acknowledged) under consumer ``name``."""
    rows = await client.xpending_range(
        keys.JOBS, keys.JOBS_GROUP, min="-", max="+", count=100, consumername=name
    )
    return [row["message_id"] for row in rows]


async def kill_while_holding_jobs(client: redis.asyncio.Redis, victim: Process) -> list[str]:
    """SIGKILL ``victim`` at a moment it holds taken, unfinished jobs; return their ids.

    Freezing it first makes "holds jobs" a fact at the moment of the kill, not a guess.
    """
    name = consumer(victim)
    while True:
        await until(lambda: held_by(client, name), timeout=30, what=f"{name} to take jobs",
                    interval=0.01)  # fmt: skip
        await freeze(victim)
        held = await held_by(client, name)
        if held:
            victim.popen.kill()
            victim.popen.wait(timeout=10)
            return held
        os.kill(victim.pid, signal.SIGCONT)  # it finished them meanwhile: catch the next


async def test_two_servers_two_workers_and_a_killed_worker(
    cluster: Cluster, client: redis.asyncio.Redis
) -> None:
    await wait_ready(cluster, client)
    victim, survivor = cluster.workers
    server_a, server_b = cluster.servers
    async with (
        httpx.AsyncClient(base_url=server_a, timeout=30) as http_a,
        ws_connect(server_b.replace("http://", "ws://") + "/graphql") as ws_b,
    ):
        board_b = ws_b.subscribe(BOARD_50)
        first = await next_until(board_b, lambda _: True, timeout=10, what="B's first board")
        assert first["leaderboard"]["submissions"] == []

        # Only the victim takes jobs while the burst arrives (the survivor may still get
        # one it was already blocked on); the victim dies holding some of them.
        await freeze(survivor)
        ids = []
        for i in range(BURST):
            token = (await gql(http_a, JOIN, {"n": f"player{i}"}))["join"]["token"]
            submitted = await gql(http_a, SUBMIT, {"p": f"duck number {i}"}, token)
            ids.append(submitted["submitPrompt"]["id"])
        orphaned = await kill_while_holding_jobs(client, victim)
        orphaned_jobs = [
            (await client.xrange(keys.JOBS, entry, entry))[0][1]["submission_id"]
            for entry in orphaned
        ]
        assert set(orphaned_jobs) <= set(ids) and orphaned_jobs
        os.kill(survivor.pid, signal.SIGCONT)

        # B never saw the submissions, A never held the subscription: B's board fills up.
        full = await next_until(
            board_b,
            lambda p: {s["id"] for s in p["leaderboard"]["submissions"]} == set(ids),
            timeout=60,
            what=f"all {BURST} submissions on server B's board",
        )

    board = full["leaderboard"]
    assert (board["participantCount"], board["submissionCount"]) == (BURST, BURST)
    assert [s["rank"] for s in board["submissions"]] == list(range(1, BURST + 1))
    scores = [s["score"] for s in board["submissions"]]
    assert scores == sorted(scores, reverse=True)
    async with httpx.AsyncClient(base_url=server_a, timeout=30) as http_a:
        assert (await gql(http_a, BOARD_50_NOW))["leaderboard"] == board  # A agrees with B
        for submission_id in ids:
            record = (await gql(http_a, SUBMISSION, {"id": submission_id}))["submission"]
            assert record["status"] == "DONE", record
    # The dead worker's jobs were claimed and finished by the other; nothing is left over.
    assert "claimed" in survivor.log.read_text()
    assert (await client.xpending(keys.JOBS, keys.JOBS_GROUP))["pending"] == 0
    assert await client.xlen(keys.JOBS) == 0

    # The servers' results consumers shared the results stream and emptied it.
    async def results_applied() -> bool:
        pending = (await client.xpending(keys.RESULTS, keys.RESULTS_GROUP))["pending"]
        return pending == 0 and await client.xlen(keys.RESULTS) == 0

    await until(results_applied, timeout=10, what="every result acknowledged")
    consumers = await client.xinfo_consumers(keys.RESULTS, keys.RESULTS_GROUP)
    assert len(consumers) == 2  # one per server process
