"""Keeps what ``lookalike up`` started running: the embedded Redis and the worker.

One watcher thread per part blocks on the part's exit. An exit that nobody asked for is
a crash: logged loudly, counted in :data:`STATE_FILE` under the data directory (which
``lookalike doctor`` reads), and followed by a restart after an exponential backoff
(:func:`restart_delay`), so a part that dies at once on every start does not spin.
The embedded Redis comes back from its append-only file; a new worker reclaims the jobs
its predecessor left pending.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

STATE_FILE = "parts.json"
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0
STABLE_AFTER_S = 60.0  # a part that ran this long starts over at the first delay
WORKER_STOP_S = 20.0  # a worker finishes its batch on SIGTERM; killed after this long


class Part(Protocol):
    """Something the supervisor starts, watches and stops."""

    name: str

    @property
    def pid(self) -> int | None: ...

    def start(self) -> object: ...

    def wait(self) -> int: ...

    def stop(self) -> None: ...


class WorkerProcess:
    """``lookalike worker`` as a child process with ``env``."""

    name = "worker"

    def __init__(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        self.command = list(command)
        self.env = dict(env)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> subprocess.Popen[bytes]:
        # Its own process group, as the embedded Redis (see EmbeddedRedis.start).
        self._process = subprocess.Popen(self.command, env=self.env, process_group=0)
        return self._process

    def poll(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def wait(self, timeout: float | None = None) -> int:
        process = self._process
        return 0 if process is None else process.wait(timeout)

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=WORKER_STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class PartState:
    """What :data:`STATE_FILE` records of one part."""

    pid: int | None = None
    crashes: int = 0  # since `lookalike up` started
    in_a_row: int = 0  # crashes without a stable run between them
    last_exit: int | None = None
    last_crash_at: float | None = None
    started_at: float = 0.0


def restart_delay(in_a_row: int) -> float:
    """Seconds before the restart after the ``in_a_row``-th crash in a row: 0.5, 1, 2…,
    at most :data:`MAX_DELAY_S`."""
    return float(min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** max(0, in_a_row - 1)))


def read_state(data_dir: Path) -> dict[str, PartState]:
    """The parts' state as the supervisor of a running (or the last) ``lookalike up``
    left it; empty if there is none."""
    try:
        raw: dict[str, Any] = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {name: PartState(**fields) for name, fields in raw.items()}


class Supervisor:
    """Watches ``parts`` (already started) and restarts them when they die; :meth:`stop`
    stops them, the last first."""

    def __init__(self, parts: Sequence[Part], data_dir: Path) -> None:
        self.parts = list(parts)
        self.state_path = data_dir / STATE_FILE
        self.states = {part.name: PartState(part.pid, started_at=time.time()) for part in parts}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._watch, args=(part,), name=part.name, daemon=True)
            for part in parts
        ]

    def start(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self._save()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        with self._lock:  # no restart starts after this
            self._stopping.set()
        for part in reversed(self.parts):
            part.stop()
        for thread in self._threads:
            thread.join(timeout=5)

    def _watch(self, part: Part) -> None:
        while True:
            code = part.wait()
            if self._stopping.is_set():
                return
            delay = self._crashed(part, code)
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    part.start()
                except Exception:  # a failed start is one more crash: retried
                    log.exception("could not restart the %s", part.name)
                    continue
                state = self.states[part.name]
                state.pid, state.started_at = part.pid, time.time()
                self._save()
            log.warning("%s restarted (pid %s)", part.name, part.pid)

    def _crashed(self, part: Part, code: int) -> float:
        with self._lock:
            state = self.states[part.name]
            now = time.time()
            stable = now - state.started_at >= STABLE_AFTER_S
            state.in_a_row = 1 if stable else state.in_a_row + 1
            state.crashes += 1
            state.last_exit, state.last_crash_at, state.pid = code, now, None
            self._save()
        delay = restart_delay(state.in_a_row)
        level = logging.CRITICAL if state.in_a_row > 1 else logging.ERROR
        log.log(
            level,
            "!!! the %s died (exit status %s; crash %d in a row, %d since start): "
            "restarting it in %.1f s",
            part.name,
            code,
            state.in_a_row,
            state.crashes,
            delay,
        )
        return delay

    def _save(self) -> None:
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps({name: asdict(s) for name, s in self.states.items()}))
        os.replace(temporary, self.state_path)


@contextlib.contextmanager
def supervised(parts: Sequence[Part], data_dir: Path) -> Any:
    """Supervise ``parts`` for the ``with`` block; stop them all at its end."""
    supervisor = Supervisor(parts, data_dir)
    supervisor.start()
    try:
        yield supervisor
    finally:
        supervisor.stop()
