"""Content-addressed image store under the data dir, served immutable at /images/<key>.webp.

Drawings arrive from the GPU workers on the results stream; target pictures go the
other way, written to Redis for the workers (:func:`put_target`), as
:mod:`pipelines.contract` says.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import redis.asyncio

from pipelines.contract import picture_key
from server.state import keys

log = logging.getLogger(__name__)

KEY = re.compile(r"^[0-9a-f]{32}$")


class ImageStore:
    """Files named by the SHA-256 of their bytes: writing the same image twice is free."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes) -> str:
        key = picture_key(data)
        path = self.path(key)
        if not path.exists():
            write_durably(path, data)
        return key

    def path(self, key: str) -> Path:
        if not KEY.match(key):
            raise ValueError(f"image key must be 32 lowercase hex digits, got {key!r}")
        return self.root / f"{key}.webp"

    def exists(self, key: str) -> bool:
        return KEY.match(key) is not None and self.path(key).exists()


def write_durably(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all, even across a power cut.

    A temporary file in the same directory, flushed and fsynced, then renamed over the
    name, then the directory fsynced (the rename lives in it). A reader never sees half
    a file, even across processes; and a record is written only after this returns, so
    it never points at a truncated picture that would then be served as immutable.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def image_url(key: str) -> str:
    return f"/images/{key}.webp"


async def put_target(images: ImageStore, client: redis.asyncio.Redis, picture: bytes) -> str:
    """Store a target picture and hand it to the workers, before any job names it;
    returns its key."""
    key = await asyncio.to_thread(images.put, picture)
    await client.set(keys.target(key), base64.b64encode(picture))
    return key


async def share_targets(
    images: ImageStore, client: redis.asyncio.Redis, target_keys: Iterable[str]
) -> None:
    """Hand the workers the targets they lack (events made before targets went through
    Redis, or a Redis restored without them); a target missing on disk is logged."""
    for key in set(target_keys):
        if await client.exists(keys.target(key)):
            continue
        try:
            picture = await asyncio.to_thread(images.path(key).read_bytes)
        except (OSError, ValueError) as exc:
            log.warning("target picture %s cannot be handed to the workers: %s", key, exc)
            continue
        await client.set(keys.target(key), base64.b64encode(picture))
