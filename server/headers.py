"""Security headers on every HTTP response, and the scheme a trusted proxy saw.

:class:`SecurityHeaders` is pure ASGI middleware, the outermost layer:

* Behind a trusted proxy (``LOOKALIKE_TRUSTED_PROXIES``: Caddy, the ingress) that says
  ``X-Forwarded-Proto: https``, the request's scheme becomes ``https`` (``wss`` for a
  WebSocket), so session cookies are ``Secure`` and HSTS is sent. From anyone else the
  header is ignored: a client could write it.
* Every HTTP response gets a Content-Security-Policy without inline scripts (the built
  pages have none: Vite emits ``<script src>`` only), ``frame-ancestors 'none'`` in it,
  ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy``; over HTTPS also
  ``Strict-Transport-Security``.

WebSockets pass with only the scope's scheme changed: ``receive`` is never wrapped (the
fan-out reads uvicorn's transport through it), and the big screens' own protocol
(:mod:`server.live.screen`) answers before any ASGI application runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.abuse.limits import peer_trusted
from server.settings import CaptchaProvider, Settings

# The hosted captchas load their script and show their widget in a frame from these.
CAPTCHA_ORIGINS: Final[dict[str, tuple[str, ...]]] = {
    "turnstile": ("https://challenges.cloudflare.com",),
    "hcaptcha": ("https://hcaptcha.com", "https://*.hcaptcha.com"),
    "recaptcha": ("https://www.google.com", "https://www.gstatic.com"),
}
HSTS: Final = b"max-age=31536000"
NONE: Final = "'none'"
GRAPHIQL_PATH: Final = "/graphql"  # GraphiQL (development only) runs inline scripts


def content_security_policy(captcha: CaptchaProvider) -> str:
    """The pages' policy: our own origin, plus the hosted captcha's when one is chosen.

    Styles may be inline (Preact's ``style`` props, the ALTCHA widget's own sheet);
    scripts may not. ALTCHA solves its proof of work in a ``blob:`` worker."""
    hosted = " ".join(CAPTCHA_ORIGINS.get(captcha, ()))
    extra = f" {hosted}" if hosted else ""
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self'{extra}",
            f"style-src 'self' 'unsafe-inline'{extra}",
            "img-src 'self' data: blob:",
            f"connect-src 'self'{extra}",
            f"frame-src {hosted or NONE}",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def forwarded_https(scope: Scope, trusted_proxies: tuple[str, ...]) -> bool:
    """Whether a trusted proxy in front says the client spoke HTTPS to it."""
    for name, value in scope["headers"]:
        if name == b"x-forwarded-proto":
            if bytes(value).strip().lower() not in (b"https", b"wss"):
                return False
            client = scope.get("client")
            return peer_trusted(client[0] if client else None, trusted_proxies)
    return False


class SecurityHeaders:
    """Pure ASGI middleware: see the module's docstring."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.trusted_proxies = settings.trusted_proxies
        self.graphiql = settings.dev_graphiql
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]
        csp = content_security_policy(settings.captcha_provider)
        policy = (b"content-security-policy", csp.encode())
        self.plain = [*common, policy]
        self.secure = [*self.plain, (b"strict-transport-security", HSTS)]
        self.graphiql_plain = common
        self.graphiql_secure = [*common, (b"strict-transport-security", HSTS)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") in ("https", "wss")
        if not https and self.trusted_proxies and forwarded_https(scope, self.trusted_proxies):
            https = True
            # In place, as uvicorn's own proxy-headers middleware does.
            scope["scheme"] = "https" if scope["type"] == "http" else "wss"
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        if self.graphiql and scope["path"] == GRAPHIQL_PATH and scope["method"] == "GET":
            headers = self.graphiql_secure if https else self.graphiql_plain
        else:
            headers = self.secure if https else self.plain
        await self.app(scope, receive, _adding(send, headers))


def _adding(send: Send, headers: Iterable[tuple[bytes, bytes]]) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *headers]
        await send(message)

    return sending
