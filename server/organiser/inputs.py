"""Setting events up: titles and other organiser text, schedules, target pictures.

Everything here validates input where it enters and raises ``ApiError("INVALID_INPUT")``
with a ``reason`` and a ``field``, for the console, the HTTP upload and the command line
alike.
"""

from __future__ import annotations

import base64
import binascii
import io
import unicodedata
from datetime import datetime

import PIL.Image
import PIL.ImageOps

from server.errors import ApiError, invalid_input
from server.settings import Settings

TITLE_MAX_CHARS = 80
MIN_TARGET_SIDE = 16
MAX_TARGET_PIXELS = 40_000_000  # checked before decoding: a small file can be huge inside
TARGET_WEBP_QUALITY = 92


def clean_text(text: str, max_chars: int, field: str, *, required: bool = True) -> str:
    """Organiser or attendee text as stored: NFKC, whitespace collapsed, printable only."""
    out = " ".join(unicodedata.normalize("NFKC", text).split())
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in out):
        raise invalid_input(
            f"the {field} may only contain printable characters", reason="control_characters",
            field=field,
        )
    if required and not out:
        raise invalid_input(f"expected a {field}, but it was empty", reason="empty", field=field)
    if len(out) > max_chars:
        raise invalid_input(
            f"the {field} may have at most {max_chars} characters, it has {len(out)}",
            reason="too_long",
            field=field,
        )
    return out


def check_schedule(opens_at: float | None, closes_at: float | None) -> None:
    """An event must open before it closes."""
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        raise invalid_input(
            f"expected the event to close after it opens, got opens {opens_at} and "
            f"closes {closes_at}",
            reason="schedule",
            field="closesAt",
        )


def parse_time(text: str) -> float:
    """Unix seconds from ``1718000000`` or ISO 8601 (``2025-06-10T09:00``; no zone = local)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).astimezone().timestamp()
    except ValueError as exc:
        raise invalid_input(
            f"expected a time as ISO 8601 or unix seconds, got {text!r}", reason="time"
        ) from exc


def picture_too_large(most: int, field: str, size: int | None = None) -> ApiError:
    """INVALID_INPUT (reason ``too_large``): a picture over ``most`` bytes."""
    has = "" if size is None else f", it has {size}"
    return invalid_input(
        f"the picture may have at most {most} bytes{has}", reason="too_large", field=field
    )


def picture_from_base64(encoded: str, most: int, field: str) -> bytes:
    """The bytes of a picture sent as base64 (a ``data:`` URL is fine too), refused
    before decoding once it cannot fit in ``most`` bytes."""
    _, _, data = encoded.rpartition(",")
    if len(data) > most * 4 // 3 + 4:
        raise picture_too_large(most, field)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid_input(
            "expected the picture as base64", reason="not_base64", field=field
        ) from exc


def target_webp(data: bytes, settings: Settings) -> bytes:
    """An uploaded target picture checked and re-encoded as WebP, upright and at most
    ``target_max_side`` pixels a side.

    Raises:
        ApiError: INVALID_INPUT with reason ``empty``, ``too_large``, ``not_an_image``
            or ``too_small``.
    """
    if not data:
        raise invalid_input("expected a picture, got no data", reason="empty", field="target")
    if len(data) > settings.target_max_bytes:
        raise picture_too_large(settings.target_max_bytes, "target", len(data))
    picture = _decode(data)
    if min(picture.size) < MIN_TARGET_SIDE:
        raise invalid_input(
            f"expected a picture at least {MIN_TARGET_SIDE} pixels a side, got "
            f"{picture.width}x{picture.height}",
            reason="too_small",
            field="target",
        )
    picture.thumbnail((settings.target_max_side, settings.target_max_side))
    buffer = io.BytesIO()
    picture.save(buffer, format="WEBP", quality=TARGET_WEBP_QUALITY)
    return buffer.getvalue()


def _decode(data: bytes) -> PIL.Image.Image:
    try:
        with PIL.Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_TARGET_PIXELS:
                raise invalid_input(
                    f"the picture may have at most {MAX_TARGET_PIXELS} pixels, it has "
                    f"{image.width}x{image.height}",
                    reason="too_large",
                    field="target",
                )
            image.load()  # decode it all: a truncated or corrupt file fails here
            # Phone photos store their rotation in EXIF instead of rotating the pixels.
            return PIL.ImageOps.exif_transpose(image).convert("RGB")
    except (PIL.UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise invalid_input(
            "expected a picture (PNG, JPEG, WebP, ...), but it could not be read",
            reason="not_an_image",
            field="target",
        ) from exc
