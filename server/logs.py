"""Logging: JSON lines in production, readable lines in development, request ids, redaction.

Call :func:`configure_logging` once at process start, then run uvicorn with
``log_config=None`` so that its loggers reach ours instead of installing their own
handlers. Wrap the ASGI app in :class:`RequestIdMiddleware`; every record logged while
a request (or WebSocket connection) is handled then carries its ``request_id``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from server.settings import Settings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
"""Id of the request or WebSocket connection being handled; None outside one."""

REDACTED = "[redacted]"

# Settings whose values must never appear in a log line.
SECRET_SETTINGS = ("secret_key", "captcha_secret", "organiser_password")
# Shorter secret values would redact ordinary words; they are still covered by key names.
_MIN_SECRET_LEN = 4

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_SENSITIVE_KEY = (
    r"[\w.-]*?(?:token|secret|secret[_-]?key|password|passwd|api[_-]?key"
    r"|session|cookie|authorization|credentials?)"
)
_SENSITIVE_KEY_RE = re.compile(rf"(?i){_SENSITIVE_KEY}")
# Header lines: the whole value goes ("Bearer abc", "a=1; b=2").
_HEADER_RE = re.compile(
    r"(?i)\b((?:proxy-)?authorization|cookie|set-cookie|x-api-key)(\s*[:=]\s*)([^\r\n\"']+)"
)
# key=value, key: value, 'key': 'value', key='value' (a dataclass repr), ?token=...
_KEY_VALUE_RE = re.compile(
    rf"(?i)\b({_SENSITIVE_KEY})\b([\"']?\s*[:=]\s*[\"']?)"
    rf"(?!{re.escape(REDACTED)})([^\s\"'&,;)}}\]]+)"
)
# scheme://user:password@host
_URL_PASSWORD_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s/]+)(@)", re.I)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_BLANK_RECORD = logging.LogRecord("", logging.INFO, "", 0, "", None, None)
# uvicorn adds `color_message` (the message with terminal colours) to its records.
_RECORD_ATTRS = frozenset(vars(_BLANK_RECORD)) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
    "color_message",
}

_OWN_HANDLER = "_lookalike_handler"


class Redactor:
    """Removes secrets from text and from ``extra`` values."""

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is removed whole.
        self.secret_values = sorted(
            {v for v in secret_values if len(v) >= _MIN_SECRET_LEN}, key=len, reverse=True
        )

    @classmethod
    def for_settings(cls, settings: Settings) -> Redactor:
        """A redactor for the secret settings' values and the Redis URL's password."""
        values = [str(getattr(settings, name)) for name in SECRET_SETTINGS]
        match = _URL_PASSWORD_RE.search(settings.redis_url)
        if match:
            values.append(match.group(2))
        return cls(values)

    def text(self, text: str) -> str:
        """``text`` with secret values and sensitive-looking fields replaced."""
        for value in self.secret_values:
            text = text.replace(value, REDACTED)
        text = _HEADER_RE.sub(rf"\1\2{REDACTED}", text)
        text = _KEY_VALUE_RE.sub(rf"\1\2{REDACTED}", text)
        return _URL_PASSWORD_RE.sub(rf"\1{REDACTED}\3", text)

    def value(self, key: str, value: Any) -> Any:
        """An ``extra`` value: gone under a sensitive key, else redacted inside."""
        if _SENSITIVE_KEY_RE.fullmatch(key):
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value("", v) for v in value]
        return value


class RedactingFilter(logging.Filter):
    """Rewrites each record's message, traceback and extras without secrets."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.text(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.text(record.stack_info)
        for key in extra_fields(record):
            setattr(record, key, self.redactor.value(key, getattr(record, key)))
        return True


class RequestIdFilter(logging.Filter):
    """Puts the current :data:`request_id_var` on each record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key in extra_fields(record):
            entry[key if key not in entry else f"extra_{key}"] = getattr(record, key)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request id] message key=value ...`` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        request_id = getattr(record, "request_id", None) or "-"
        line = (
            f"{self.formatTime(record)} {record.levelname:<7} {record.name}"
            f" [{request_id}] {record.message}"
        )
        extras = " ".join(f"{key}={getattr(record, key)!r}" for key in extra_fields(record))
        if extras:
            line += " " + extras
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def extra_fields(record: logging.LogRecord) -> list[str]:
    """Names of the attributes a record got from ``extra=``."""
    return [key for key in vars(record) if key not in _RECORD_ATTRS and not key.startswith("_")]


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's records through one handler on the root logger.

    JSON lines when ``settings.log_json`` or in production mode, else readable lines;
    level ``settings.log_level``; secrets redacted. Calling it again replaces the handler
    it installed before (and leaves other handlers, e.g. pytest's, alone). Returns it.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(
        JsonFormatter() if settings.log_json or settings.production else TextFormatter()
    )
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter(Redactor.for_settings(settings)))
    setattr(handler, _OWN_HANDLER, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OWN_HANDLER, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # In case uvicorn configured itself already: its records go to our handler.
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    return handler


def new_request_id() -> str:
    """A fresh random request id (32 hex digits)."""
    return secrets.token_hex(16)


def valid_request_id(value: str) -> bool:
    """Whether a client-sent id is short and safe to echo and log (1-64 of ``A-Za-z0-9._:-``)."""
    return _REQUEST_ID_RE.fullmatch(value) is not None


class RequestIdMiddleware:
    """Pure ASGI middleware: one request id per HTTP request or WebSocket connection.

    Takes the client's ``X-Request-ID`` when it is valid (see :func:`valid_request_id`),
    else makes one; sets :data:`request_id_var` while the app runs; returns the id in the
    response's (or WebSocket accept's) ``X-Request-ID`` header.
    """

    def __init__(self, app: ASGIApp, *, header: str = "x-request-id") -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = self._incoming(scope) or new_request_id()
        header_value = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] in (
                "http.response.start",
                "websocket.accept",
                "websocket.http.response.start",  # a WebSocket denial response
            ):
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != self.header
                ]
                headers.append((self.header, header_value))
                message = {**message, "headers": headers}
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)

    def _incoming(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", []):
            if name.lower() == self.header:
                text = value.decode("latin-1").strip()
                return text if valid_request_id(text) else None
        return None
