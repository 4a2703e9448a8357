"""Time-ordered ids (UUIDv7, RFC 9562), so sorting ids sorts by creation time."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id(now_ms: int | None = None) -> str:
    """A UUIDv7 string; ids made by one process are strictly increasing.

    Within one millisecond the 12-bit ``rand_a`` field is a counter (RFC 9562,
    method 1), so two submissions in the same millisecond still order by arrival.
    """
    global _last_ms, _counter
    with _lock:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:
                ms += 1
                _counter = 0
        else:
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave room to count up
        _last_ms = ms
        counter = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def id_time(ident: str) -> float:
    """Unix seconds encoded in a UUIDv7."""
    return (uuid.UUID(ident).int >> 80) / 1000.0


def is_id(text: str) -> bool:
    try:
        return uuid.UUID(text).version == 7 and str(uuid.UUID(text)) == text
    except ValueError:
        return False
