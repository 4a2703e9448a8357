"""The seed of a prompt: the same normalised prompt always draws the same picture.

Kept free of torch so that the web server can compute seeds without loading models.
"""

from __future__ import annotations

import hashlib


def seed_for(normalised_prompt: str) -> int:
    """A 63-bit seed from the SHA-256 of the normalised prompt."""
    digest = hashlib.sha256(normalised_prompt.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)
