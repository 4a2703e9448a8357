"""Submit → score on the board, with the tiny models, for two versions of the code.

    python -m benchmarks.latency                     # this tree against main at 4ea9b62
    python -m benchmarks.latency --before REV --submissions 40

Each version runs as its own processes from its own source tree (``REV`` is unpacked
with ``git archive``): an embedded Redis, ``lookalike serve`` and ``lookalike worker``
(tiny models on the CPU, one shared copy). A client joins players, watches the
leaderboard over the GraphQL WebSocket, and submits one new prompt at a time; a
submission's latency runs from sending the mutation to the first board that shows it
with a score. One prompt at a time: this is the path's own latency, not a queue's.
The versions take turns (``--rounds``), so a machine's changing load falls on both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import embedded_redis, machine, percentile
from tests.client import gql, ws_connect

ROOT = Path(__file__).resolve().parent.parent
# Main just before 39ae09d, the mechanical move (no behaviour change) whose blocklist path
# broke joining until it was fixed on main.
BEFORE = "4ea9b62"
JOIN = "mutation($n: String!) { join(nickname: $n) { token } }"
SUBMIT = "mutation($p: String!) { submitPrompt(prompt: $p) { id } }"
BOARD = "subscription { leaderboard(first: 100) { submissions { id score } } }"


@contextlib.contextmanager
def source_tree(rev: str) -> Iterator[Path]:
    """The files of ``rev`` in a temporary directory."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tempfile.TemporaryDirectory(prefix=f"lookalike-{rev}-") as directory:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(directory, filter="data")
        yield Path(directory)


def environment(redis_url: str, data_dir: Path, tree: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(tree),
        "LOOKALIKE_REDIS_URL": redis_url,
        "LOOKALIKE_DATA_DIR": str(data_dir),
        "LOOKALIKE_MODELS": "tiny",
        "LOOKALIKE_DEVICE": "cpu",
        "LOOKALIKE_CAPTCHA_PROVIDER": "off",
        "LOOKALIKE_BATCH_WAIT_MS": "5",
        "LOOKALIKE_PARTICIPANT_BURST": "1000",
        "LOOKALIKE_PARTICIPANT_RATE_PER_S": "1000",
        "LOOKALIKE_IP_BURST": "100000",
        "LOOKALIKE_IP_RATE_PER_S": "100000",
        "LOOKALIKE_JOIN_BURST": "100000",
        "LOOKALIKE_JOIN_RATE_PER_S": "100000",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }


@contextlib.asynccontextmanager
async def deployment(tree: Path, models: Path, port: int) -> AsyncIterator[str]:
    """Redis, a worker and a server of the code in ``tree``; yields the server's URL."""
    with embedded_redis() as redis_url, tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        (data_dir / "models").symlink_to(models, target_is_directory=True)
        env = environment(redis_url, data_dir, tree)
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "server.cli", *args],
                cwd=tree,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for args in (["worker"], ["serve", "--port", str(port)])
        ]
        try:
            base = f"http://127.0.0.1:{port}"
            await ready(base, redis_url, processes)
            yield base
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)


async def ready(base: str, redis_url: str, processes: list[subprocess.Popen[bytes]]) -> None:
    """Until the server answers /readyz and a worker has sent a heartbeat."""
    from server.state.connection import async_client

    client = async_client(redis_url)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if any(p.poll() is not None for p in processes):
                    raise RuntimeError("a process of the deployment exited")
                with contextlib.suppress(httpx.TransportError):
                    answered = (await http.get(base + "/readyz")).status_code == 200
                    if answered and await client.zcard("lk:workers"):
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError("the deployment did not get ready in 120 s")
    finally:
        await client.aclose()


async def measure(base: str, count: int, tag: str) -> list[float]:
    """Seconds from submit to the board showing the score, one prompt at a time."""
    latencies = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http, ws_connect(
        base.replace("http://", "ws://") + "/graphql"
    ) as ws:
        board = ws.subscribe(BOARD)
        await anext(board)
        for i in range(count + 1):  # the first warms the path up, uncounted
            token = (await gql(http, JOIN, {"n": f"{tag}{i}"}))["join"]["token"]
            began = time.perf_counter()
            submitted = await gql(http, SUBMIT, {"p": f"a duck number {i} of {tag}"}, token)
            sid = submitted["submitPrompt"]["id"]
            await scored(board, sid)
            if i:
                latencies.append(time.perf_counter() - began)
    return latencies


async def scored(board: AsyncIterator[dict[str, Any]], sid: str) -> None:
    async with asyncio.timeout(60):
        async for payload in board:
            rows = payload["leaderboard"]["submissions"]
            if any(row["id"] == sid and row["score"] is not None for row in rows):
                return


def summary(name: str, values: list[float]) -> str:
    p50, p95 = percentile(values, 50) * 1000, percentile(values, 95) * 1000
    return f"{name:<8} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   ({len(values)} submissions)"


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__)
    parser.add_argument("--before", default=BEFORE, help=f"the code to compare with ({BEFORE})")
    parser.add_argument("--submissions", type=int, default=30, help="per round and version")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="3 submissions, one round")
    args = parser.parse_args(argv)
    if args.quick:
        args.submissions, args.rounds = 3, 1
    from pipelines.tiny import build_tiny_models
    from server.state.connection import free_port

    figures: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as models_dir, source_tree(args.before) as old:
        models = Path(models_dir)
        build_tiny_models(models)
        for round_ in range(args.rounds):
            for name, tree in (("before", old), ("after", ROOT)):
                async with deployment(tree, models, free_port()) as base:
                    figures[name] += await measure(base, args.submissions, f"{name}{round_}-")
    print(f"submit -> score on the board, tiny models on the CPU; machine: {machine()}")
    print(f"before = {args.before}, after = this tree; one prompt at a time")
    for name, values in figures.items():
        print(summary(name, values))
    p50 = percentile(figures["after"], 50) / percentile(figures["before"], 50)
    p95 = percentile(figures["after"], 95) / percentile(figures["before"], 95)
    print(f"after / before: p50 {p50:.2f}x, p95 {p95:.2f}x (goal: not slower)")


if __name__ == "__main__":
    asyncio.run(main())
