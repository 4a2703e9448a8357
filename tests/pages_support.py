"""Support for the browser tests: build the pages, run `lookalike up`, drive Chromium.

Chromium is Debian's package (``/usr/bin/chromium``), launched by Playwright through an
explicit executable path: Playwright's own browser download is not used.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, Playwright, ViewportSize

REPO = Path(__file__).resolve().parent.parent
WEB = REPO / "web"
DIST = WEB / "dist"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: ViewportSize = {"width": 360, "height": 740}
BIG_SCREEN: ViewportSize = {"width": 1920, "height": 1080}
LAPTOP: ViewportSize = {"width": 1280, "height": 800}

# What the build reads: a change to any of these makes web/dist stale.
_BUILD_INPUTS = (
    "src",
    "public",
    "play.html",
    "board.html",
    "admin.html",
    "vite.config.ts",
    "tsconfig.json",
    "package.json",
    "package-lock.json",
)


class PagesBuildError(RuntimeError):
    """`npm ci` or `npm run build` failed; the message carries npm's output."""


class ServerStartError(RuntimeError):
    """`lookalike up` exited or did not become healthy; the message carries its log."""


def _newest_input_mtime() -> float:
    newest = 0.0
    for name in _BUILD_INPUTS:
        path = WEB / name
        files = path.rglob("*") if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                newest = max(newest, file.stat().st_mtime)
    return newest


def pages_are_built() -> bool:
    """web/dist exists and is newer than every build input."""
    built = [DIST / f"{page}.html" for page in ("play", "board", "admin")]
    if not all(path.exists() for path in built):
        return False
    return min(path.stat().st_mtime for path in built) >= _newest_input_mtime()


def _npm(*args: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise PagesBuildError("npm is not on PATH: install Node.js 20.19+ to build web/")
    done = subprocess.run(
        [npm, *args], cwd=WEB, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise PagesBuildError(
            f"`npm {' '.join(args)}` failed in web/ (exit {done.returncode}):\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )


def build_pages() -> None:
    """Build web/dist unless it is up to date (`npm ci` first when node_modules is missing)."""
    if pages_are_built():
        return
    if not (WEB / "node_modules").is_dir():
        _npm("ci", "--no-audit", "--no-fund")
    _npm("run", "build")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _lookalike_command() -> list[str]:
    script = Path(sys.executable).with_name("lookalike")
    if script.exists():
        return [str(script)]
    found = shutil.which("lookalike")
    if found:
        return [found]
    return [sys.executable, "-m", "server.cli"]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=5.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerStartError(
                    f"`lookalike up` exited with {process.returncode}:\n{_tail(log)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if client.get("/healthz").status_code == 200:
                    return
            # Polling the health endpoint of a child process: there is no event to await.
            time.sleep(0.25)
    raise ServerStartError(f"`lookalike up` was not healthy after {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path, chars: int = 6000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def running_site(data_dir: Path, *, timeout: float = 240.0, **settings: str) -> Iterator[str]:
    """Run `lookalike up` (embedded Redis, web server, tiny-model worker); yield its URL.

    ``settings`` are extra ``LOOKALIKE_*`` values, e.g. ``captcha_provider="altcha"``.
    """
    port = _free_port()
    env = {
        **os.environ,
        "LOOKALIKE_MODELS": "tiny",
        "LOOKALIKE_DATA_DIR": str(data_dir),
        "LOOKALIKE_CAPTCHA_PROVIDER": "off",
        "LOOKALIKE_DEVICE": "cpu",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.update({f"LOOKALIKE_{name.upper()}": value for name, value in settings.items()})
    log = data_dir / "lookalike.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*_lookalike_command(), "up", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own process group, so its worker and embedded Redis can be stopped too.
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process, log, timeout)
            yield url
        finally:
            _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM `lookalike up`, then whatever it left in its process group; SIGKILL last."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    group = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + grace / 2
        while time.monotonic() < deadline:
            os.killpg(group, 0)  # raises ProcessLookupError once the group is empty
            # Waiting for grandchildren we cannot wait() on: poll until they are gone.
            time.sleep(0.1)
        os.killpg(group, signal.SIGKILL)


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot under test-artifacts/ at the repository root."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def unique(prefix: str) -> str:
    """A nickname no earlier run has taken (state may outlive a run in a shared Redis)."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


SCORE = re.compile(r"^\d{1,3}\.\d{2}%$")


def graphql_error(code: str, message: str, **extensions: Any) -> dict[str, Any]:
    """A GraphQL response body carrying one API error, as the server sends it."""
    return {
        "data": None,
        "errors": [{"message": message, "extensions": {"code": code, **extensions}}],
    }
