"""Support for the browser tests: build the pages, run `lookalike up`, drive Chromium.

Chromium is Debian's package (``/usr/bin/chromium``), launched by Playwright through an
explicit executable path: Playwright's own browser download is not used. The site runs
with an organiser password (:data:`ORGANISER_PASSWORD`) so the console can be tested.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)
from websockets import Subprotocol
from websockets.sync.client import connect as ws_connect

from tests.documents import JOIN_EVENT, LOGIN, SUBMIT, WATCH

REPO = Path(__file__).resolve().parent.parent
WEB = REPO / "web"
DIST = WEB / "dist"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")


def page_test_marks(timeout: float) -> list[pytest.MarkDecorator]:
    """A page-test module's marks: ``browser``, a time limit that also covers the
    module's one-time set-up (building the pages, starting the site), and a skip where
    Debian's Chromium is missing."""
    return [
        pytest.mark.browser,
        pytest.mark.timeout(timeout),
        pytest.mark.skipif(
            not CHROMIUM.exists(),
            reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)",
        ),
    ]
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
ORGANISER_PASSWORD = "duck-and-swan-at-the-booth"
DRAWN_MS = 90_000  # a tiny model on CPU draws and scores well within this

# What the build reads: a change to any of these makes web/dist stale.
_BUILD_INPUTS = (
    "src",
    "public",
    "play.html",
    "board.html",
    "admin.html",
    "results.html",
    "vite.config.ts",
    "tsconfig.json",
    "package.json",
    "package-lock.json",
)


@dataclass(frozen=True)
class Site:
    """A running `lookalike up`: its URL and its data directory."""

    url: str
    data_dir: Path


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
    built = [DIST / f"{page}.html" for page in ("play", "board", "admin", "results")]
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
    # Run from REPO: this checkout's code, even where the installed `lookalike` script
    # belongs to another checkout (an editable install shared by git worktrees).
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
def running_site(
    data_dir: Path, *, timeout: float = 240.0, lan: bool = False, **settings: str
) -> Iterator[str]:
    """Run `lookalike up` (embedded Redis, web server, tiny-model worker); yield its URL.

    ``settings`` are extra ``LOOKALIKE_*`` values, e.g. ``captcha_provider="altcha"``.
    ``lan``: `lookalike up --lan` (every interface) instead of loopback only.
    """
    port = _free_port()
    env = {
        **os.environ,
        "LOOKALIKE_MODELS": "tiny",
        "LOOKALIKE_DATA_DIR": str(data_dir),
        "LOOKALIKE_CAPTCHA_PROVIDER": "off",
        "LOOKALIKE_DEVICE": "cpu",
        "LOOKALIKE_ORGANISER_PASSWORD": ORGANISER_PASSWORD,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        # This checkout's code, even where the environment's editable install of the
        # package points at another checkout (a git worktree sharing one venv).
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    env.update({f"LOOKALIKE_{name.upper()}": value for name, value in settings.items()})
    log = data_dir / "lookalike.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *_lookalike_command(),
                "up",
                *(["--lan"] if lan else ["--host", "127.0.0.1"]),
                *("--port", str(port)),
            ],
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, one per test module (registered in conftest.py)."""
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Browser, site: str) -> Iterator[PageOpener]:
    """Factory: a page in its own browser context on the module's ``site``; fails the
    test on any uncaught page error or native dialog (an injected ``alert(1)`` would open
    one; the pages themselves ask in the page, never with confirm())."""
    opener = PageOpener(browser, site)
    yield opener
    problems = opener.close()
    assert not problems, "\n".join(problems)


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


class PageOpener:
    """Opens pages, each in its own browser context (its own cookies and storage).

    Records every uncaught page error and every native dialog (an injected ``alert(1)``
    would open one; the pages themselves never do): :meth:`close` returns them.
    """

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[BrowserContext] = []
        self.problems: list[str] = []

    def __call__(
        self,
        path: str,
        *,
        viewport: ViewportSize = PHONE,
        locale: str = "en-US",
        goto: bool = True,
        base_url: str | None = None,
    ) -> Page:
        mobile = viewport == PHONE
        context = self.browser.new_context(
            base_url=base_url or self.base_url,
            viewport=viewport,
            locale=locale,
            is_mobile=mobile,
            has_touch=mobile,
            device_scale_factor=2 if mobile else 1,
        )
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.problems.append(f"{path}: page error: {error}"))

        def on_dialog(dialog: Any) -> None:
            self.problems.append(f"{path}: dialog opened: {dialog.message!r}")
            dialog.dismiss()

        def on_console(message: Any) -> None:
            # The server's Content-Security-Policy: anything it blocks is a problem.
            if "Content Security Policy" in message.text:
                self.problems.append(f"{path}: {message.text}")

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        if goto:
            page.goto(path)
        return page

    def close(self) -> list[str]:
        for context in self.contexts:
            context.close()
        return self.problems


def expect_live(page: Page) -> None:
    expect(page.locator(".conn")).to_have_attribute("data-status", "live", timeout=30_000)


def join(phone: Page, nickname: str) -> None:
    phone.get_by_label("Nickname").fill(nickname)
    phone.get_by_role("button", name="Join").click()
    expect(phone.get_by_label("Your prompt")).to_be_visible()


def draw(phone: Page, prompt: str) -> str:
    """Submit a prompt on the phone and wait for its score; returns the score as shown."""
    phone.get_by_label("Your prompt").fill(prompt)
    phone.get_by_role("button", name="Draw it!").click()
    score = phone.get_by_test_id("score")
    expect(score).to_have_text(SCORE, timeout=DRAWN_MS)
    return score.inner_text()


def log_in_organiser(admin: Page, password: str = ORGANISER_PASSWORD) -> None:
    """Log in on /admin through its form."""
    admin.get_by_label("Organiser password").fill(password)
    admin.get_by_role("button", name="Log in").click()
    expect(admin.get_by_role("button", name="Log out")).to_be_visible()


def graphql(
    base_url: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    """Run one GraphQL operation over HTTP; an error in the answer fails the test."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    answer = httpx.post(
        f"{base_url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=30.0,
    ).json()
    assert not answer.get("errors"), answer["errors"]
    data: dict[str, Any] = answer["data"]
    return data


def organiser_token(base_url: str) -> str:
    data = graphql(
        base_url,
        LOGIN,
        {"p": ORGANISER_PASSWORD, "n": "tests"},
    )
    token: str = data["organiserLogin"]["token"]
    return token


def _until_scored(base_url: str, token: str, submission_id: str, prompt: str) -> dict[str, Any]:
    """Watch a submission over the WebSocket until it is DONE or FAILED; its last state."""
    deadline = time.monotonic() + DRAWN_MS / 1000
    url = base_url.replace("http://", "ws://") + "/graphql"
    with ws_connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        subscribe = {"query": WATCH, "variables": {"id": submission_id}}
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"{prompt!r} was not drawn in time"
            try:
                message = json.loads(ws.recv(timeout=left))
            except TimeoutError:
                raise AssertionError(f"{prompt!r} was not drawn in time") from None
            if message["type"] == "ping":
                ws.send(json.dumps({"type": "pong"}))
                continue
            assert message["type"] == "next", message
            status: dict[str, Any] = message["payload"]["data"]["submission"]
            if status["status"] in ("DONE", "FAILED"):
                return status


def seed_drawing(
    base_url: str, nickname: str, prompt: str, *, event_id: str | None = None
) -> dict[str, Any]:
    """A new participant (of the current event, or ``event_id``) with one scored drawing,
    made through the public API. Returns ``{"participantId", "token", "submissionId",
    "score"}``.
    """
    joined = graphql(
        base_url,
        JOIN_EVENT,
        {"n": nickname, "e": event_id},
    )["join"]
    token = joined["token"]
    submitted = graphql(
        base_url,
        SUBMIT,
        {"p": prompt},
        token,
    )["submitPrompt"]
    status = submitted
    if status["status"] not in ("DONE", "FAILED"):
        status = _until_scored(base_url, token, submitted["id"], prompt)
    assert status["status"] == "DONE", status
    return {
        "participantId": joined["participant"]["id"],
        "token": token,
        "submissionId": submitted["id"],
        "score": status["score"],
    }
