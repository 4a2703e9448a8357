"""Blocklists: tricks that must not get through, and innocent text that must."""

from __future__ import annotations

import pytest

from server.abuse.blocklist import Blocklist, blocklist, check_nickname, check_prompt
from server.errors import ApiError
from server.settings import Settings


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env({})


@pytest.mark.parametrize(
    "text",
    [
        "fuck",
        "A FUCKING duck",  # case, prefix term
        "a f.u.c.k duck",  # punctuation between letters
        "a f u c k duck",  # spaced out
        "fu\u200bck",  # zero-width space
        "\u0455hit",  # Cyrillic dze for s
        "sh1t",  # leetspeak
        "\uff53\uff48\uff49\uff54",  # fullwidth
        "bullshit!!!",
        "naked swan",
        "씨발",
        "씨발아 뭐해",  # Hangul matches inside words (particles attach)
        "씨.발",
        "병신 오리",
        "\u3145\u3142",  # compatibility jamo abbreviation
    ],
)
def test_blocked(text: str) -> None:
    assert blocklist().blocked(text)


@pytest.mark.parametrize(
    "text",
    [
        "a yellow duck and a white swan",
        "Scunthorpe",
        "an assassin duck",
        "shiitake mushrooms",
        "a blue tit on a branch",
        "a rooster next to a duck",
        "2 ducks in 1 pond",
        "sussex countryside",
        "오리 새끼",  # duckling
        "시발점에서 출발하는 기차",  # starting point
        "아저씨 발",  # a man's foot, not a spaced-out swear
        "보지 마세요",
        "노란 오리와 하얀 백조",
    ],
)
def test_not_blocked(text: str) -> None:
    assert not blocklist().blocked(text)


def test_check_prompt_raises_without_echoing_the_term(settings: Settings) -> None:
    with pytest.raises(ApiError) as info:
        check_prompt("a fucking duck", settings)
    assert info.value.code == "INVALID_INPUT"
    assert info.value.extensions == {
        "code": "INVALID_INPUT",
        "reason": "blocked",
        "field": "prompt",
    }
    assert "fuck" not in info.value.message
    check_prompt("a lovely duck", settings)


def test_check_nickname_raises(settings: Settings) -> None:
    with pytest.raises(ApiError) as info:
        check_nickname("Sh1tLord", settings)
    assert info.value.extensions is not None
    assert info.value.extensions["field"] == "nickname"
    assert info.value.extensions["reason"] == "blocked"
    check_nickname("DuckLover", settings)


def test_extra_terms_from_settings() -> None:
    settings = Settings.from_env({"LOOKALIKE_BLOCKLIST_EXTRA": "competitorcorp*, 바보, !바보상자"})
    with pytest.raises(ApiError):
        check_prompt("CompetitorCorps logo", settings)
    with pytest.raises(ApiError):
        check_nickname("바보야", settings)
    check_prompt("바보상자 속 오리", settings)
    check_prompt("competitor logo", settings)
    check_prompt("바보", Settings.from_env({}))


def test_remembered_answers_belong_to_their_terms() -> None:
    extra = Settings.from_env({"LOOKALIKE_BLOCKLIST_EXTRA": "quackquack"})
    for _ in range(2):  # the second round is answered from memory
        with pytest.raises(ApiError):
            check_prompt("a quackquack duck", extra)
        check_prompt("a quackquack duck", Settings.from_env({}))


def test_from_lines_syntax() -> None:
    lines = ["# comment", "", "  duck  # trailing comment", "swan*", "!swanky bar", "오리"]
    terms = Blocklist.from_lines(lines)
    assert terms.blocked("a duck")
    assert not terms.blocked("a ducky")  # whole words only
    assert terms.blocked("swans")  # prefix
    assert not terms.blocked("a swanky bar")  # exception
    assert terms.blocked("새끼오리")  # Hangul anywhere
    assert not terms.blocked("comment")


def test_empty_blocklist_blocks_nothing() -> None:
    assert not Blocklist.from_lines(["# nothing", "!only an exception"]).blocked("anything")


def test_packaged_lists_are_loaded() -> None:
    compiled = blocklist()
    assert compiled.pattern is not None
    assert "시발점" in compiled.exceptions
