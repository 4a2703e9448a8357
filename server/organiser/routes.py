"""The organiser's plain-HTTP routes: exports to download, and target picture uploads.

* ``GET /admin/export/{event}/winners.{csv|json}[?top=N]``
* ``GET /admin/export/{event}/submissions.{csv|json}``
* ``GET /admin/export/audit.{csv|json}[?eventId=ID]``
* ``GET /admin/export/{event}/drawings.zip``: every drawing, with ``manifest.csv``
* ``POST /admin/events/{event}/target`` with the picture's bytes as the body

``{event}`` is an event id or ``current``. Each needs an organiser token, as for the
GraphQL API (bearer header or the login cookie; a cookie upload also needs the
``X-Lookalike-CSRF`` header). Errors are JSON ``{"error": {"code", "message"}}``, made by
:func:`error_response`, which the app also answers a Redis outage with.
"""

from __future__ import annotations

import math
from typing import cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from server.errors import ApiError
from server.organiser import auth
from server.organiser.console import Console, ExportKind
from server.organiser.export import Format, zip_stream
from server.organiser.inputs import picture_too_large
from server.resources import Resources
from server.state.pictures import image_url

STATUS = {
    "INVALID_INPUT": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "RATE_LIMITED": 429,
    "UNAVAILABLE": 503,
}
MEDIA = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def routes() -> list[Route]:
    return [
        Route("/admin/export/audit.{fmt:str}", export_audit, methods=["GET"]),
        Route("/admin/export/{event}/drawings.zip", export_drawings, methods=["GET"]),
        Route("/admin/export/{event}/{kind:str}.{fmt:str}", export_event, methods=["GET"]),
        Route("/admin/events/{event}/target", upload_target, methods=["POST"]),
    ]


async def _console(request: Request, *, changes_state: bool) -> Console:
    resources: Resources = request.app.state.resources
    return await auth.organiser_console(resources, request, changes_state=changes_state)


def error_response(exc: ApiError) -> JSONResponse:
    """An API error outside GraphQL: ``{"error": {"code", "message", ...}}`` with its
    HTTP status, and ``Retry-After`` where it says when to try again."""
    body = {"error": {**(exc.extensions or {}), "message": exc.message}}
    headers = {} if exc.retry_after is None else {"Retry-After": str(math.ceil(exc.retry_after))}
    return JSONResponse(body, status_code=STATUS.get(exc.code, 500), headers=headers)


async def _event_id(console: Console, raw: str) -> str:
    if raw != "current":
        return raw
    current = await console.store.current_event_id()
    if current is None:
        raise ApiError("NOT_FOUND", "no event is current")
    return current


def _format(raw: str) -> Format:
    if raw not in MEDIA:
        raise ApiError("NOT_FOUND", f"exports come as .csv or .json, not .{raw}")
    return cast(Format, raw)


def _top(request: Request) -> int | None:
    raw = request.query_params.get("top")
    if raw is None:
        return None
    if not raw.isdigit():
        raise ApiError("INVALID_INPUT", f"expected top to be a whole number, got {raw!r}")
    return int(raw)


def _download(text: str, fmt: Format, name: str) -> Response:
    return Response(
        text,
        media_type=MEDIA[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


def _base_url(request: Request, console: Console) -> str:
    return (console.settings.public_url or str(request.base_url)).rstrip("/")


async def export_event(request: Request) -> Response:
    """Winners or all submissions of an event, as CSV or JSON."""
    try:
        console = await _console(request, changes_state=False)
        kind = request.path_params["kind"]
        if kind not in ("winners", "submissions"):
            raise ApiError("NOT_FOUND", f"no export {kind!r}: winners or submissions")
        fmt = _format(request.path_params["fmt"])
        event_id = await _event_id(console, request.path_params["event"])
        text = await console.export(
            cast(ExportKind, kind),
            fmt,
            event_id=event_id,
            top=_top(request),
            base_url=_base_url(request, console),
        )
    except ApiError as exc:
        return error_response(exc)
    return _download(text, fmt, f"{kind}-{event_id}")


async def export_drawings(request: Request) -> Response:
    """Every drawing of an event and a CSV manifest of them, as one zip streamed as it is
    made (the manifest first)."""
    try:
        console = await _console(request, changes_state=False)
        event_id = await _event_id(console, request.path_params["event"])
        manifest, files = await console.drawings(event_id, base_url=_base_url(request, console))
    except ApiError as exc:
        return error_response(exc)
    return StreamingResponse(
        zip_stream(manifest, files),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="drawings-{event_id}.zip"',
            "Cache-Control": "no-store",
        },
    )


async def export_audit(request: Request) -> Response:
    """The audit log (of one event with ``?eventId=``), as CSV or JSON."""
    try:
        console = await _console(request, changes_state=False)
        fmt = _format(request.path_params["fmt"])
        event_id = request.query_params.get("eventId")
        text = await console.export("audit", fmt, event_id=event_id)
    except ApiError as exc:
        return error_response(exc)
    return _download(text, fmt, "audit" if event_id is None else f"audit-{event_id}")


async def upload_target(request: Request) -> Response:
    """A new target picture for an event: the request body is the picture's bytes."""
    try:
        console = await _console(request, changes_state=True)
        event_id = await _event_id(console, request.path_params["event"])
        picture = await _body(request, console.settings.target_max_bytes)
        record = await console.set_target(event_id, picture)
    except ApiError as exc:
        return error_response(exc)
    return JSONResponse(
        {"id": record.id, "title": record.title, "targetImageUrl": image_url(record.target_key)}
    )


async def _body(request: Request, most: int) -> bytes:
    """The body, refused once past ``most`` bytes rather than read whole."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > most:
            raise picture_too_large(most, "target")
        chunks.append(chunk)
    return b"".join(chunks)
