"""The ASGI application: one origin for pages, GraphQL (HTTP and WebSocket) and images."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import segno
from redis import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from server.abuse import limits
from server.api.fastpath import FastPath
from server.api.view import GraphQLView, make_schema
from server.errors import unavailable
from server.headers import SecurityHeaders
from server.live.screen import SCREEN_PATH, STATE_KEY
from server.logs import RequestIdMiddleware
from server.metrics import render
from server.organiser import routes as organiser_routes
from server.resources import Resources, open_resources
from server.settings import Settings
from server.state.connection import RETRY_ON

log = logging.getLogger(__name__)

WEB_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
PAGES = ("play", "board", "admin", "results")
IMMUTABLE = "public, max-age=31536000, immutable"


def create_app(settings: Settings) -> Starlette:
    """The whole web application; resources open in its lifespan."""

    schema = make_schema(settings)
    graphql = GraphQLView(schema, settings)
    screens = graphql.screens

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with open_resources(settings) as resources:
            app.state.resources = resources
            if screens is None:
                yield {}
                return
            screens.start(resources)
            try:
                yield {STATE_KEY: screens}  # uvicorn hands its lifespan state to ScreenProtocol
            finally:
                screens.stop()

    routes: list[BaseRoute] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        # Served by ScreenProtocol under `lookalike serve`; this route is the fallback.
        WebSocketRoute(SCREEN_PATH, graphql),
        Route("/images/{key}.webp", image),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/api/config", config),
        Route("/api/captcha/challenge", captcha_challenge),
        Route("/api/qr.svg", qr_code),
        *organiser_routes.routes(),  # organiser exports and uploads under /admin/...
        Route("/", lambda request: RedirectResponse("/play")),
        *(Route(f"/{page}", page_route(page)) for page in PAGES),
    ]
    if WEB_DIST.is_dir():
        routes.append(Mount("/", StaticFiles(directory=WEB_DIST), name="web"))
    middleware = [
        # Outermost: the client's address and scheme, as a trusted proxy in front saw them.
        *(
            [Middleware(limits.proxy_headers, trusted_proxies=settings.trusted_proxies)]
            if settings.trusted_proxies
            else []
        ),
        Middleware(SecurityHeaders, settings=settings),
        Middleware(RequestIdMiddleware),
        Middleware(
            FastPath,
            view=graphql,
            enabled=settings.http_fast_path,
            max_body_bytes=settings.max_body_bytes,
        ),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware,
        exception_handlers={error: redis_unavailable for error in RETRY_ON},
    )


async def redis_unavailable(request: Request, exc: Exception) -> Response:
    """Redis away past the client's retries outside GraphQL (organiser downloads and
    uploads): a typed 503 that says when to try again, not a bare 500."""
    return organiser_routes.error_response(unavailable())


def resources_of(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def image(request: Request) -> Response:
    key = request.path_params["key"]
    resources = resources_of(request)
    store = resources.images
    # A picture an organiser hid is not served, whoever asks and however they found it.
    if not store.exists(key) or await resources.store.image_hidden(key):
        return JSONResponse({"error": {"code": "NOT_FOUND", "message": "no such image"}}, 404)
    return FileResponse(
        store.path(key), media_type="image/webp", headers={"Cache-Control": IMMUTABLE}
    )


async def _health(request: Request) -> dict[str, object]:
    resources = resources_of(request)
    try:
        await resources.redis.ping()
        workers = await resources.workers_alive()
        redis_ok = True
    except (RedisError, OSError) as exc:  # "not ready", never a 500
        log.warning("health check: redis unavailable: %s", exc)
        redis_ok, workers = False, 0
    return {"ok": redis_ok and workers > 0, "redis": redis_ok, "workers": workers}


async def healthz(request: Request) -> Response:
    """The process is alive (200); the body says whether Redis and a worker are."""
    return JSONResponse(await _health(request))


async def readyz(request: Request) -> Response:
    """Ready to play: Redis reachable and a worker seen recently; else 503."""
    body = await _health(request)
    return JSONResponse(body, status_code=200 if body["ok"] else 503)


async def metrics(request: Request) -> Response:
    body, content_type = render()
    return Response(body, media_type=content_type)


def public_url(request: Request) -> str:
    configured = resources_of(request).settings.public_url.rstrip("/")
    return configured or str(request.base_url).rstrip("/")


async def config(request: Request) -> Response:
    settings = resources_of(request).settings
    return JSONResponse(
        {
            "captcha": {
                "provider": settings.captcha_provider,
                "siteKey": settings.captcha_site_key,
                "challengeUrl": "/api/captcha/challenge",
            },
            "playUrl": public_url(request) + "/play",
            "limits": {
                "promptMaxChars": settings.prompt_max_chars,
                "nicknameMaxChars": settings.nickname_max_chars,
            },
        }
    )


async def captcha_challenge(request: Request) -> Response:
    challenge = await resources_of(request).captcha.challenge()
    if challenge is None:
        return JSONResponse({"error": {"code": "NOT_FOUND", "message": "no challenge"}}, 404)
    return JSONResponse(challenge, headers={"Cache-Control": "no-store"})


async def qr_code(request: Request) -> Response:
    """SVG QR code of the play page, for the big screen."""
    qr = segno.make(public_url(request) + "/play", error="m")
    buffer = io.BytesIO()
    # A standalone SVG document (with xmlns), so browsers show it in an <img>.
    qr.save(buffer, kind="svg", scale=10, border=2, dark="#111", light="#fff")
    svg = buffer.getvalue()
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})


def page_route(page: str) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        path = WEB_DIST / f"{page}.html"
        if not path.exists():
            return Response(
                "The pages are not built: run `npm ci && npm run build` in web/.",
                status_code=503,
                media_type="text/plain",
            )
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    return serve
