"""The error codes (server/errors.py) are the ones the web pages know (web/src/api.ts)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from server.errors import ApiError, ErrorCode

API_TS = Path(__file__).resolve().parent.parent / "web" / "src" / "api.ts"


def test_the_web_pages_know_every_error_code() -> None:
    listed = API_TS.read_text().split("const SERVER_CODES = [", 1)[1].split("] as const", 1)[0]
    assert sorted(re.findall(r'"([A-Z_]+)"', listed)) == sorted(get_args(ErrorCode))


def test_an_error_carries_its_code_and_wait() -> None:
    error = ApiError("RATE_LIMITED", "slow down", retry_after=2.0004, field="prompt")
    assert error.formatted["extensions"] == {
        "code": "RATE_LIMITED", "field": "prompt", "retryAfter": 2.0
    }  # fmt: skip
