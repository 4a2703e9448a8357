"""Prompt and nickname normalisation, and the duplicate-prompt key."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.abuse import dedup
from server.abuse.dedup import (
    PreparedPrompt,
    nickname_key,
    normalise_nickname,
    normalise_prompt,
    prepare,
    prompt_key,
    skeleton,
)
from server.errors import ApiError

MAX = 300

# Text without the characters normalisation rejects, so every example normalises or is
# empty; surrogates are excluded because they cannot arrive in a decoded JSON string.
printable_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs")),
    max_size=60,
)


def normalised_or_none(text: str) -> str | None:
    try:
        return normalise_prompt(text, MAX)
    except ApiError as exc:
        assert exc.extensions is not None
        assert exc.extensions["reason"] in ("empty", "too_long")
        return None


@settings(max_examples=400, deadline=None)
@given(printable_text)
def test_normalise_prompt_is_idempotent(text: str) -> None:
    once = normalised_or_none(text)
    if once is not None:
        assert normalise_prompt(once, MAX) == once


@settings(max_examples=400, deadline=None)
@given(printable_text)
def test_normalised_prompt_has_no_edge_or_double_spaces(text: str) -> None:
    once = normalised_or_none(text)
    if once is not None:
        assert once == once.strip()
        assert "  " not in once
        if not any("\u3131" <= ch <= "\u318e" for ch in once):
            assert once == unicodedata.normalize("NFKC", once)


@settings(max_examples=400, deadline=None)
@given(printable_text)
def test_skeleton_is_idempotent_and_key_stable(text: str) -> None:
    once = normalised_or_none(text)
    if once is not None:
        assert skeleton(skeleton(once)) == skeleton(once)
        assert prompt_key(once) == prompt_key(normalise_prompt(once, MAX))
        assert prompt_key(skeleton(once)) == prompt_key(once)


@settings(max_examples=200, deadline=None)
@given(printable_text)
def test_skeleton_is_the_same_when_its_character_table_is_full(text: str) -> None:
    remembered = skeleton.__wrapped__(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dedup, "_LETTER_MAP", dedup._LetterMap())
        patch.setattr(dedup, "_LETTER_MAP_MAX", 0)  # every character worked out afresh
        assert skeleton.__wrapped__(text) == remembered
        assert not dedup._LETTER_MAP


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=30),
    st.sampled_from(["!!!", "...", "?", " ~~", "\u200b", "\u200d"]),
)
def test_decoration_does_not_change_key(text: str, noise: str) -> None:
    base = normalised_or_none(text)
    if base is not None:
        assert prompt_key(normalise_prompt(text + noise, MAX)) == prompt_key(base)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("a cat", "a c\u200dat"),  # zero-width joiner inside a word
        ("a cat", "a c\u200bat\ufeff"),  # zero-width space, BOM
        ("a cat", "\u0430 cat"),  # Cyrillic a
        ("a cat", "a \u0441\u0430t"),  # Cyrillic c and a
        ("a cool dog", "a c\u03bf\u03bfl dog"),  # Greek omicron
        ("a cat", "a cat!!!"),
        ("a cat", "a, cat."),
        ("a cat", "A   CAT"),
        ("a cat", "\uff41\u3000\uff43\uff41\uff54"),  # fullwidth letters and space
        ("cat-dog", "cat dog"),
        ("a cafe", "a caf\u00e9"),
        ("a cat", "\u1d00 cat"),  # small capital A
        ("고양이 한 마리", "고양이 한 마리!!"),
        ("고양이 한 마리", "고양이\u200b 한 마리"),
    ],
)
def test_lookalike_prompts_share_a_key(a: str, b: str) -> None:
    assert prompt_key(normalise_prompt(a, MAX)) == prompt_key(normalise_prompt(b, MAX))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("a cat", "a dog"),
        ("a cat", "a cats"),
        ("a cat", "acat"),
        ("a red duck", "a duck red"),
        ("고양이 한 마리", "고양이 두 마리"),
        ("오리", "고리"),
        ("мой", "мои"),  # Cyrillic й is a letter of its own, not an accented и
        ("1 cat", "2 cats"),
        ("🦆", "🦢"),
    ],
)
def test_different_prompts_have_different_keys(a: str, b: str) -> None:
    assert prompt_key(normalise_prompt(a, MAX)) != prompt_key(normalise_prompt(b, MAX))


def test_prompt_key_is_hex_sha256() -> None:
    key = prompt_key("a cat")
    assert len(key) == 64
    assert int(key, 16) >= 0


def test_korean_survives_intact() -> None:
    text = "노란 오리와 하얀 백조가 함께 있는 귀여운 마스코트"
    assert normalise_prompt(text, MAX) == text
    assert skeleton(text) == text
    assert all(unicodedata.name(ch).startswith("HANGUL") for ch in text if ch != " ")


def test_compatibility_jamo_are_kept_but_share_a_key_with_conjoining_jamo() -> None:
    assert normalise_prompt("\u314b\u314b \u3131\u314f", MAX) == "\u314b\u314b \u3131\u314f"
    assert prompt_key("\u314b\u314b") == prompt_key("\u110f\u110f")


def test_conjoining_jamo_compose_into_syllables() -> None:
    decomposed = unicodedata.normalize("NFD", "오리")
    assert normalise_prompt(decomposed, MAX) == "오리"


def test_normalise_prompt_folds_case_and_spaces() -> None:
    assert normalise_prompt("  A\tYellow\n\nDUCK\u3000 ", MAX) == "a yellow duck"
    assert normalise_prompt("Straße", MAX) == "strasse"


def test_prepare_gives_a_prompt_as_shown_as_drawn_and_its_key() -> None:
    prepared = prepare("  A\tYellow\n\nDUCK\u3000 ", MAX)
    assert prepared == PreparedPrompt(
        text="A Yellow DUCK", normalised="a yellow duck", key=prompt_key("a yellow duck")
    )
    assert prepare("a yellow duck", MAX).key == prepared.key
    with pytest.raises(ApiError):
        prepare("\u200b", MAX)


@pytest.mark.parametrize("text", ["", "   ", "\u200b\u200d", "\n\t", "\u3164"])
def test_empty_prompt_is_rejected(text: str) -> None:
    with pytest.raises(ApiError) as info:
        normalise_prompt(text, MAX)
    assert info.value.code == "INVALID_INPUT"
    assert info.value.extensions == {"code": "INVALID_INPUT", "reason": "empty", "field": "prompt"}


def test_too_long_prompt_is_rejected_after_normalising() -> None:
    assert normalise_prompt("a" + " " * 50 + "b", 3) == "a b"
    with pytest.raises(ApiError) as info:
        normalise_prompt("abcd", 3)
    assert info.value.extensions is not None
    assert info.value.extensions["reason"] == "too_long"
    assert "at most 3" in info.value.message
    assert "has 4" in info.value.message


def test_huge_prompt_is_rejected_before_normalising() -> None:
    with pytest.raises(ApiError) as info:
        normalise_prompt("a" * 1_000_000, MAX)
    assert info.value.extensions is not None
    assert info.value.extensions["reason"] == "too_long"


@pytest.mark.parametrize(
    "text",
    ["a\x00cat", "a\x07cat", "a\x1fcat", "a\u202ecat", "a\u2066cat", "a\x7fcat", "a\ud800"],
)
def test_control_characters_are_rejected(text: str) -> None:
    with pytest.raises(ApiError) as info:
        normalise_prompt(text, MAX)
    assert info.value.code == "INVALID_INPUT"
    assert info.value.extensions is not None
    assert info.value.extensions["reason"] == "control_characters"
    assert "U+" in info.value.message


def test_nickname_keeps_case_and_collapses_spaces() -> None:
    assert normalise_nickname("  Duck\u200b   Lover ", 24) == "Duck Lover"
    assert normalise_nickname("\uff2b\uff49\uff4d", 24) == "Kim"
    assert normalise_nickname("오리 사랑", 24) == "오리 사랑"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("\u3164\u3164", "empty"),
        ("x" * 25, "too_long"),
        ("a\x00b", "control_characters"),
    ],
)
def test_bad_nicknames_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(ApiError) as info:
        normalise_nickname(text, 24)
    assert info.value.extensions is not None
    assert info.value.extensions["reason"] == reason
    assert info.value.extensions["field"] == "nickname"


def test_nickname_key_folds_case_and_lookalikes() -> None:
    assert nickname_key("Alice") == nickname_key("ALICE") == nickname_key("alice")
    assert nickname_key("Alice") == nickname_key("\u0410lice")  # Cyrillic A
    assert nickname_key("Alice") != nickname_key("Alice2")
    assert nickname_key("김철수") == "김철수"
