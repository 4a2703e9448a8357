"""What arrives on ``/graphql``, checked where it enters, and the status of each answer.

The rules of the GraphQL-over-HTTP spec for a request (a ``POST`` of one JSON object with
a string ``query`` and optional ``operationName``, ``variables`` and ``extensions``),
and of graphql-transport-ws for a WebSocket message (a JSON object; a ``subscribe`` has a
string ``id`` and a payload of the same shape). A request that breaks them is refused
with a typed error (:class:`Refusal`), a message with close code 4400; neither reaches
GraphQL. Text that UTF-8 cannot carry (a lone surrogate, which JSON can escape) is
refused here too, so that it never reaches Redis or an encoder.

The status of an answer (:func:`status_of`) follows the spec's media types: with
``application/graphql-response+json`` a request error (the document does not parse or
validate, no operation can be picked, a variable does not coerce) is a 400; with
``application/json`` every well-formed request gets a 200, its errors in the body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.errors import ApiError, ErrorCode

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
NOT_UNICODE = "text must be valid Unicode (it holds a lone surrogate)"


class Refusal(Exception):
    """A request refused before any GraphQL runs: its HTTP status and typed error."""

    def __init__(
        self, status: int, code: ErrorCode, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = ApiError(code, message)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"errors": [self.error.formatted]}


def bad_request(message: str) -> Refusal:
    return Refusal(400, "BAD_REQUEST", message)


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    """One well-formed GraphQL-over-HTTP request (or subscribe payload)."""

    query: str
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None


def read_json(data: str | bytes) -> Any:
    """``json.loads``, raising :class:`json.JSONDecodeError` for anything it cannot read:
    not JSON, not UTF-8, nested too deeply, an integer of more digits than Python reads."""
    try:
        return json.loads(data)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise json.JSONDecodeError(f"unreadable JSON ({exc.__class__.__name__})", "", 0) from exc


def encodable(value: object, raw: bytes | None = None) -> bool:
    """Whether every string in ``value`` (decoded from the JSON text ``raw``) is UTF-8.

    Only an escape can put a lone surrogate in JSON, so with ``raw`` given, text without
    ``\\u`` is fine and costs a scan; the rest is encoded once to find out."""
    if raw is not None and b"\\u" not in raw:
        return True
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def graphql_request(data: object) -> GraphQLRequest:
    """The request in a decoded JSON body; :class:`Refusal` if it is not well-formed."""
    if isinstance(data, list):
        raise bad_request("batches are not served: send one operation per request")
    if not isinstance(data, dict):
        raise bad_request("the body must be a JSON object with a `query`")
    query, name = data.get("query"), data.get("operationName")
    variables, extensions = data.get("variables"), data.get("extensions")
    if not isinstance(query, str):
        raise bad_request("`query` must be a string holding the GraphQL document")
    if not isinstance(name, str | None):
        raise bad_request("`operationName` must be a string or null")
    if not isinstance(variables, dict | None):
        raise bad_request("`variables` must be an object or null")
    if not isinstance(extensions, dict | None):
        raise bad_request("`extensions` must be an object or null")
    return GraphQLRequest(query, name, variables, extensions)


def media_type_for(accept: str | None) -> str:
    """The answer's media type for an ``Accept`` header: the first of ours it names
    (``*/*`` and ``application/*`` mean ``application/json``), else ``application/json``."""
    for part in (accept or "").split(","):
        kind, _, params = part.partition(";")
        kind = kind.strip().lower()
        if _quality(params) <= 0:
            continue  # explicitly not acceptable
        if kind == GRAPHQL_RESPONSE:
            return GRAPHQL_RESPONSE
        if kind in (JSON, "application/*", "*/*"):
            return JSON
    return JSON


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def is_request_error(result: Mapping[str, Any]) -> bool:
    """Whether a result's errors came before execution: no data, and no error at a path."""
    errors = result.get("errors") or ()
    return bool(errors) and result.get("data") is None and not any(
        isinstance(error, Mapping) and error.get("path") for error in errors
    )


def status_of(result: Mapping[str, Any], media_type: str) -> int:
    """The HTTP status of a GraphQL result sent as ``media_type`` (see the module)."""
    return 400 if media_type == GRAPHQL_RESPONSE and is_request_error(result) else 200


# ---------------------------------------------------------------- graphql-transport-ws


class BadMessage(Exception):
    """A WebSocket message the protocol cannot accept: the socket closes with 4400."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def ws_message(message: object, raw: bytes | None = None) -> dict[str, Any]:
    """The decoded message ``message`` (from ``raw``) if it is an object whose text is
    all UTF-8, except a ``subscribe`` payload's (:func:`subscribe_payload` answers that
    with an error for the operation); else :class:`BadMessage`."""
    if not isinstance(message, dict):
        raise BadMessage("WebSocket message must be a JSON object")
    if message.get("type") in ("subscribe", "complete") and not isinstance(message.get("id"), str):
        raise BadMessage("Failed to parse message: `id` must be a string")
    if not encodable(message, raw):
        rest = {k: v for k, v in message.items() if k != "payload"}
        if message.get("type") != "subscribe" or not encodable(rest, raw):
            raise BadMessage("WebSocket message must be valid Unicode text")
    return message


def subscribe_payload(
    message: Mapping[str, Any], raw: bytes | None = None
) -> ApiError | None:
    """:class:`BadMessage` if a ``subscribe`` message's payload is not a well-formed
    request; an error for the operation if its payload holds text UTF-8 cannot carry;
    else None."""
    try:
        graphql_request(message.get("payload"))
    except Refusal as refused:
        raise BadMessage(f"Failed to parse message: {refused}") from None
    if not encodable(message.get("payload"), raw):
        return ApiError("INVALID_INPUT", NOT_UNICODE)
    return None


def too_many_operations(limit: int) -> ApiError:
    """The error for a ``subscribe`` past the per-connection limit."""
    return ApiError(
        "RATE_LIMITED",
        f"Subscription limit reached: at most {limit} operations at once on one connection",
    )
