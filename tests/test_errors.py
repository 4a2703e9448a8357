"""The error codes (server/errors.py) are the ones the web pages know (web/src/api.ts)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from server.errors import ApiError, ErrorCode

API_TS = Path(__file__).resolve().parent.parent / "web" / "src" / "api.ts"


def listed(source: str, name: str) -> list[str]:
    """The codes in ``const NAME = [...] as const`` of the TypeScript ``source``."""
    block = source.split(f"const {name} = [", 1)[1].split("] as const", 1)[0]
    return re.findall(r'"([A-Z_]+)"', block)


def test_the_web_pages_know_every_error_code() -> None:
    source = API_TS.read_text()
    assert "...REQUEST_CODES," in source
    codes = listed(source, "SERVER_CODES") + listed(source, "REQUEST_CODES")
    assert sorted(codes) == sorted(get_args(ErrorCode))


def test_an_error_carries_its_code_and_wait() -> None:
    error = ApiError("RATE_LIMITED", "slow down", retry_after=2.0004, field="prompt")
    assert error.formatted["extensions"] == {
        "code": "RATE_LIMITED", "field": "prompt", "retryAfter": 2.001
    }  # fmt: skip
    # A refusal never says "retry after 0": the wait is rounded up to the millisecond.
    assert ApiError("RATE_LIMITED", "x", retry_after=0.0003).extensions["retryAfter"] == 0.001
    assert ApiError("BUSY", "x", retry_after=1.5).extensions["retryAfter"] == 1.5
