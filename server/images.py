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
            # Write then rename: a reader never sees half a file, even across processes.
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        return key

    def path(self, key: str) -> Path:
        if not KEY.match(key):
            raise ValueError(f"image key must be 32 lowercase hex digits, got {key!r}")
        return self.root / f"{key}.webp"

    def exists(self, key: str) -> bool:
        return KEY.match(key) is not None and self.path(key).exists()


def image_url(key: str) -> str:
    return f"/images/{key}.webp"
