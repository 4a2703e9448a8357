"""Security headers on every HTTP response.

:class:`SecurityHeaders` is pure ASGI middleware, inside uvicorn's proxy-headers
middleware (see :func:`server.abuse.limits.proxy_headers`):

* The scope's scheme says whether the client spoke HTTPS: behind a trusted proxy
  (``LOOKALIKE_TRUSTED_PROXIES``: Caddy, the ingress) the proxy-headers middleware set it
  from ``X-Forwarded-Proto``; from anyone else that header is ignored, since a client
  could write it. Over HTTPS session cookies are ``Secure`` and HSTS is sent.
* Every HTTP response gets a Content-Security-Policy without inline scripts (the built
  pages have none: Vite emits ``<script src>`` only), ``frame-ancestors 'none'`` in it,
  ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy``; over HTTPS also
  ``Strict-Transport-Security``.

WebSockets pass untouched, and the big screens' own protocol (:mod:`server.live.screen`)
answers before any ASGI application runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class SecurityHeaders:
    """Pure ASGI middleware: see the module's docstring."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
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
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
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
