"""Content-addressed image store under the data dir, served immutable at /images/<key>.webp."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

KEY = re.compile(r"^[0-9a-f]{32}$")


class ImageStore:
    """Files named by the SHA-256 of their bytes: writing the same image twice is free."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()[:32]
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
