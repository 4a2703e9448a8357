"""Blocklists for prompts and nicknames, matched so that simple tricks do not get around.

Terms come from ``server/abuse/blocklists/*.txt`` (see the header of ``en.txt`` for the
syntax) plus ``settings.blocklist_extra``. Text and terms are both reduced to the
duplicate-detection skeleton (:func:`server.abuse.dedup.skeleton`), so look-alike letters,
zero-width characters, accents and punctuation fold away; the text is also tried with
leetspeak undone, CamelCase split and spelt-out letters joined ("f.u.c.k", "씨 발").
Latin-script terms match whole words; terms in scripts written without spaces (Hangul,
kana, CJK, Thai) match anywhere.

This is a first filter, not a judge: booth staff still hide anything that slips through.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Final

from server.abuse.dedup import skeleton
from server.errors import invalid_input
from server.settings import Settings

LISTS: Final = ("en.txt", "ko.txt")

# Digits and symbols used as letters. Applied only to the copy of the text that is
# matched, so "b00bs" is caught while "2 ducks" is shown as typed.
_LEET: Final = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_CAMEL_CASE: Final = re.compile(r"(?<=[a-z])(?=[A-Z])")
_UNSPACED_SCRIPTS: Final = (
    (0x1100, 0x11FF),  # Hangul jamo
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul compatibility jamo
    (0x3400, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0x0E00, 0x0E7F),  # Thai
)


@dataclass(frozen=True)
class Blocklist:
    """Compiled terms; :meth:`blocked` says whether a text contains one."""

    pattern: re.Pattern[str] | None
    exceptions: tuple[str, ...]

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> Blocklist:
        """Build from blocklist lines: ``term``, ``prefix*``, ``!exception``, ``# comment``."""
        words: list[str] = []
        anywhere: list[str] = []
        exceptions: list[str] = []
        for raw in lines:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("!"):
                if exception := skeleton(line[1:]):
                    exceptions.append(exception)
                continue
            prefix = line.endswith("*")
            term = skeleton(line.rstrip("*"))
            if not term:
                continue
            if _unspaced(term):
                anywhere.append(re.escape(term))
                continue
            words.append(re.escape(term) + (r"\S*" if prefix else ""))
            if " " not in term and len(term) > 1:
                # Spelt out letter by letter: "f u c k", which is also what "f.u.c.k" becomes.
                words.append(" ".join(map(re.escape, term)) + (r"(?: \S)*" if prefix else ""))
        alternatives = []
        if words:
            # The skeleton separates words by single spaces, so spaces are the boundaries.
            alternatives.append(r"(?<!\S)(?:" + "|".join(sorted(words)) + r")(?!\S)")
        if anywhere:
            alternatives.append("|".join(sorted(anywhere)))
        pattern = re.compile("|".join(alternatives)) if alternatives else None
        # Longest first, so "시발점" is removed before any shorter exception inside it.
        return cls(pattern, tuple(sorted(set(exceptions), key=len, reverse=True)))

    def blocked(self, text: str) -> bool:
        """Whether ``text`` (raw or normalised) contains a blocked term."""
        if self.pattern is None:
            return False
        for form in _forms(text):
            for exception in self.exceptions:
                form = form.replace(exception, " ")
            if self.pattern.search(form):
                return True
        return False


def check_prompt(text: str, settings: Settings) -> None:
    """Raise ``INVALID_INPUT`` (reason ``blocked``) if the prompt contains a blocked term."""
    if _blocked(text, settings.blocklist_extra):
        raise invalid_input(
            "this prompt contains a word that is not allowed at this booth; please rephrase it",
            reason="blocked",
            field="prompt",
        )


def check_nickname(text: str, settings: Settings) -> None:
    """Raise ``INVALID_INPUT`` (reason ``blocked``) if the nickname contains a blocked term."""
    if blocklist(settings.blocklist_extra).blocked(text):
        raise invalid_input(
            "this nickname contains a word that is not allowed at this booth; "
            "please choose another",
            reason="blocked",
            field="nickname",
        )


# Answers kept per process: the same prompt is often sent again (duplicates are free).
@functools.lru_cache(maxsize=4096)
def _blocked(text: str, extra: tuple[str, ...]) -> bool:
    return blocklist(extra).blocked(text)


@functools.lru_cache(maxsize=8)
def blocklist(extra: tuple[str, ...] = ()) -> Blocklist:
    """The packaged lists plus ``extra`` terms (same syntax), compiled once."""
    lines: list[str] = []
    folder = resources.files("server.abuse").joinpath("blocklists")
    for name in LISTS:
        lines += folder.joinpath(name).read_text(encoding="utf-8").splitlines()
    return Blocklist.from_lines([*lines, *extra])


def _forms(text: str) -> set[str]:
    """The variants of ``text`` that are matched.

    With CamelCase split ("ShitLord"), with leetspeak undone, and with runs of
    one-character words joined ("씨 발"), in every combination.
    """
    forms: set[str] = set()
    for source in {text, _CAMEL_CASE.sub(" ", text)}:
        for form in (skeleton(source), skeleton(_undo_leet(source))):
            forms |= {form, _join_single_letters(form)}
    return forms


def _undo_leet(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().translate(_LEET)


def _join_single_letters(form: str) -> str:
    """Join runs of one-character words: "f u c k" -> "fuck", "씨 발" -> "씨발"."""
    out: list[str] = []
    run: list[str] = []
    for word in form.split(" "):
        if len(word) == 1:
            run.append(word)
            continue
        if run:
            out.append("".join(run))
            run = []
        out.append(word)
    if run:
        out.append("".join(run))
    return " ".join(out)


def _unspaced(term: str) -> bool:
    return any(lo <= ord(ch) <= hi for ch in term for lo, hi in _UNSPACED_SCRIPTS)
