"""The error codes (server/errors.py) are the ones the web pages know (web/src/api.ts),
both ways: every code the server sends is listed there and has a message, and every code
the pages name is one the server sends (or one of the pages' own)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from server.errors import ApiError, ErrorCode

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web" / "src"
API_TS = WEB / "api.ts"
# The pages' own codes, for what never reached the server's answer.
CLIENT_CODES = {"NETWORK", "UNSUPPORTED"}
# Codes the pages name: built, compared, or listed in a test.
WEB_CODE_USE = re.compile(
    r'(?:new ApiError\(|code [!=]==? |\.code, )"([A-Z_]+)"|^\s*"([A-Z_]{4,})",', re.MULTILINE
)


def listed(source: str, name: str) -> list[str]:
    """The codes in ``const NAME = [...] as const`` of the TypeScript ``source``."""
    block = source.split(f"const {name} = [", 1)[1].split("] as const", 1)[0]
    return re.findall(r'"([A-Z_]+)"', block)


def test_the_web_pages_know_every_error_code() -> None:
    source = API_TS.read_text()
    assert "...REQUEST_CODES," in source
    codes = listed(source, "SERVER_CODES") + listed(source, "REQUEST_CODES")
    assert sorted(codes) == sorted(get_args(ErrorCode))


def test_the_pages_own_codes_are_not_the_server_s() -> None:
    source = API_TS.read_text()
    client = set(
        re.findall(r'"([A-Z_]+)"', source.split("export type ErrorCode =", 1)[1].split(";")[0])
    )
    assert client == CLIENT_CODES
    assert not client & set(get_args(ErrorCode))


def test_every_code_the_pages_name_is_one_there_is() -> None:
    known = set(get_args(ErrorCode)) | CLIENT_CODES
    named: dict[str, set[str]] = {}
    for path in [*WEB.rglob("*.ts"), *WEB.rglob("*.tsx")]:
        for match in WEB_CODE_USE.finditer(path.read_text()):
            named.setdefault(match.group(1) or match.group(2), set()).add(path.name)
    assert {"UNAUTHENTICATED", "NETWORK", "CAPTCHA_REQUIRED"} <= named.keys()  # the scan works
    assert {code: files for code, files in named.items() if code not in known} == {}


def test_every_code_the_server_writes_by_hand_is_a_code() -> None:
    """Outside ApiError (typed by ErrorCode) a code is a plain string: JSON error bodies."""
    written = {
        match
        for path in (ROOT / "server").rglob("*.py")
        for match in re.findall(r'"code": "([A-Z_]+)"', path.read_text())
    }
    assert "NOT_FOUND" in written  # the scan works
    assert written <= set(get_args(ErrorCode))


def test_every_code_has_a_message_in_every_language() -> None:
    """errors.ts reads ``err.CODE`` (the request codes share ``err.BAD_REQUEST``; a code
    with a countdown also needs ``err.CODE.over``); i18n.ts types every language as the
    English one, so English having the key is enough."""
    source = (WEB / "i18n.ts").read_text()
    english = source.split("const en = {", 1)[1].split("\n};", 1)[0]
    keys = set(re.findall(r'"(err\.[A-Za-z_.]+)":', english))
    request = set(listed(API_TS.read_text(), "REQUEST_CODES"))
    countdown = set(
        re.findall(
            r'"([A-Z_]+)"',
            (WEB / "errors.ts").read_text().split("COUNTDOWN_CODES", 1)[1].split(";")[0],
        )
    )
    needed = {f"err.{code}" for code in set(get_args(ErrorCode)) - request | CLIENT_CODES}
    needed |= {"err.BAD_REQUEST"} | {f"err.{code}.over" for code in countdown}
    assert needed - keys == set()
    assert "const ko: Record<MessageKey, string> = {" in source


def test_an_error_carries_its_code_and_wait() -> None:
    error = ApiError("RATE_LIMITED", "slow down", retry_after=2.0004, field="prompt")
    assert error.formatted["extensions"] == {
        "code": "RATE_LIMITED", "field": "prompt", "retryAfter": 2.001
    }  # fmt: skip
    # A refusal never says "retry after 0": the wait is rounded up to the millisecond.
    assert ApiError("RATE_LIMITED", "x", retry_after=0.0003).extensions["retryAfter"] == 0.001
    assert ApiError("BUSY", "x", retry_after=1.5).extensions["retryAfter"] == 1.5
