"""Security headers on every response, and the scheme behind a trusted proxy: against a
real server, on the fast path, strawberry's view, pages, images and errors alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from server.app import WEB_DIST
from server.headers import content_security_policy
from server.organiser.auth import COOKIE as ORGANISER_COOKIE
from tests.client import gql, ws_connect
from tests.documents import JOIN, LOGIN
from tests.organiser_api import PASSWORD
from tests.pages_support import build_pages

pytestmark = pytest.mark.timeout(60)

HTTPS = {"X-Forwarded-Proto": "https"}
# One request of each kind: fast path, view, a refused body, JSON, 404, page, redirect.
REQUESTS: list[tuple[str, str, Any]] = [
    ("POST", "/graphql", {"json": {"query": "{ event { status } }"}}),
    ("POST", "/graphql", {"json": {"query": "{ nope }"}}),
    ("POST", "/graphql", {"content": b"x" * 70_000, "headers": {"content-type": "text/plain"}}),
    ("GET", "/healthz", {}),
    ("GET", "/images/" + "0" * 32 + ".webp", {}),
    ("GET", "/play", {}),
    ("GET", "/", {}),
]


@pytest.fixture
async def http(live: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A server with no proxy in front, and a client for it."""
    async with (
        live(worker=False, organiser_password=PASSWORD) as app,
        httpx.AsyncClient(base_url=app.base_url, timeout=30) as client,
    ):
        yield client


def directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    pairs = (item.strip().partition(" ") for item in policy.split(";"))
    return {name: value for name, _, value in pairs}


def assert_protected(response: httpx.Response) -> None:
    policy = directives(response)
    assert "'unsafe-inline'" not in policy["script-src"] and "'self'" in policy["script-src"]
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


async def test_every_response_carries_the_security_headers(http: httpx.AsyncClient) -> None:
    statuses = []
    for method, path, options in REQUESTS:
        response = await http.request(method, path, **options)
        statuses.append(response.status_code)
        assert_protected(response)
        assert "strict-transport-security" not in response.headers  # plain HTTP
    assert 413 in statuses and 404 in statuses and 307 in statuses


async def test_a_client_cannot_claim_https_for_itself(http: httpx.AsyncClient) -> None:
    """No trusted proxy: X-Forwarded-Proto is the client's own word, and ignored."""
    body = {"query": JOIN, "variables": {"n": "eve"}}
    joined = await http.post("/graphql", json=body, headers=HTTPS)
    assert joined.json()["data"]["join"]["token"]
    assert "secure" not in joined.headers["set-cookie"].lower()
    assert "strict-transport-security" not in joined.headers


async def test_behind_a_trusted_proxy_https_makes_cookies_secure(live: Any) -> None:
    async with (
        live(worker=False, organiser_password=PASSWORD, trusted_proxies=("127.0.0.1",)) as app,
        httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
    ):
        joined = await http.post(
            "/graphql", json={"query": JOIN, "variables": {"n": "ada"}}, headers=HTTPS
        )
        assert joined.json()["data"]["join"]["token"]
        assert "; secure" in joined.headers["set-cookie"].lower()
        assert joined.headers["strict-transport-security"].startswith("max-age=")
        assert_protected(joined)
        login = await http.post(
            "/graphql", json={"query": LOGIN, "variables": {"p": PASSWORD, "n": "o"}}, headers=HTTPS
        )
        cookie = login.headers["set-cookie"]
        assert cookie.startswith(ORGANISER_COOKIE) and "; secure" in cookie.lower()
        # The same proxy forwarding plain HTTP: no Secure (the browser would drop it).
        plain = await http.post("/graphql", json={"query": JOIN, "variables": {"n": "bob"}})
        assert "secure" not in plain.headers["set-cookie"].lower()
        assert "strict-transport-security" not in plain.headers
        # WebSockets pass through untouched, scheme and all.
        async with ws_connect(app.ws_url, additional_headers=HTTPS) as ws:
            assert (await ws.execute("{ event { status } }"))["event"]["status"] == "OPEN"


@pytest.mark.parametrize(
    ("trusted_proxies", "source"),
    [
        (("10.0.0.0/8",), "127.0.0.1"),  # the peer (loopback) is no trusted proxy: ignored
        (("127.0.0.1",), "198.51.100.7"),  # the peer is the trusted proxy: honoured
    ],
)
async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    live: Any, trusted_proxies: tuple[str, ...], source: str
) -> None:
    """The audit log records the client's address: a spoofed one only gets in through
    a proxy the settings trust."""
    async with (
        live(worker=False, organiser_password=PASSWORD, trusted_proxies=trusted_proxies) as app,
        httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
    ):
        spoofed = {"X-Forwarded-For": "198.51.100.7", **HTTPS}
        login = await http.post(
            "/graphql",
            json={"query": LOGIN, "variables": {"p": PASSWORD, "n": "o"}},
            headers=spoofed,
        )
        token = login.json()["data"]["organiserLogin"]["token"]
        assert ("; secure" in login.headers["set-cookie"].lower()) is (source != "127.0.0.1")
        log = await gql(http, "{ auditLog(first: 5) { action source } }", token=token)
    assert {"action": "organiser.login", "source": source} in log["auditLog"]


def test_the_policy_lets_the_chosen_captcha_in_and_nothing_else() -> None:
    own = content_security_policy("altcha")
    assert "https:" not in own and "worker-src 'self' blob:" in own
    assert "frame-src 'none'" in own
    turnstile = content_security_policy("turnstile")
    assert "script-src 'self' https://challenges.cloudflare.com" in turnstile
    assert "frame-src https://challenges.cloudflare.com" in turnstile


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = dict(attrs)
        if any(name.startswith("on") for name, _ in attrs):
            self.inline.append(f"<{tag}> event handler")

    def handle_data(self, data: str) -> None:
        if self._open is not None and "src" not in self._open and data.strip():
            self.inline.append(data.strip()[:80])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def test_the_built_pages_have_no_inline_scripts() -> None:
    build_pages()
    pages = sorted(WEB_DIST.glob("*.html"))
    assert {page.name for page in pages} >= {"play.html", "board.html", "admin.html"}
    for page in pages:
        parser = _Scripts()
        parser.feed(page.read_text())
        assert parser.inline == [], page.name
