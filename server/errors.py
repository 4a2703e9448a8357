"""The API's named errors. Each carries a stable ``extensions.code`` for clients."""

from __future__ import annotations

import math
from typing import Any, Literal

from graphql import GraphQLError

ErrorCode = Literal[
    "INVALID_INPUT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NICKNAME_TAKEN",
    "EVENT_CLOSED",
    "NOT_FOUND",
    "CAPTCHA_REQUIRED",
    "CAPTCHA_INVALID",
    "RATE_LIMITED",
    "IN_FLIGHT",
    "BUSY",
    "BANNED",
    "UNAVAILABLE",
    # The request itself (server/api/intake.py): not a well-formed GraphQL-over-HTTP request
    # or graphql-transport-ws operation, another method, another media type.
    "BAD_REQUEST",
    "METHOD_NOT_ALLOWED",
    "UNSUPPORTED_MEDIA_TYPE",
    "PAYLOAD_TOO_LARGE",  # the body, a document or a message over its limit
    # Its document: it does not parse, or does not validate against the schema.
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "INTERNAL",  # a bug of ours, and nothing else: logged at ERROR with its traceback
]


class ApiError(GraphQLError):
    """An error the client should show; ``code`` is stable, the message is for people."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        retry_after: float | None = None,
        **details: Any,
    ) -> None:
        extensions: dict[str, Any] = {"code": code, **details}
        if retry_after is not None:
            # Up to the next millisecond: a wait of 0.3 ms must not read "retry after 0".
            extensions["retryAfter"] = math.ceil(round(max(retry_after, 0.0) * 1000, 6)) / 1000
        super().__init__(message, extensions=extensions)
        self.code: ErrorCode = code
        self.retry_after = retry_after


def invalid_input(message: str, **details: Any) -> ApiError:
    return ApiError("INVALID_INPUT", message, **details)


# A part of the event (Redis) is down and being restarted: worth trying again this soon.
UNAVAILABLE_RETRY_AFTER_S = 2.0


def unavailable() -> ApiError:
    return ApiError(
        "UNAVAILABLE",
        "the event is restarting a part; please try again in a moment",
        retry_after=UNAVAILABLE_RETRY_AFTER_S,
    )
