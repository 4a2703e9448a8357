"""Normalising prompts and nicknames, and the keys that tell two prompts are "the same".

Two layers, and :func:`prepare`, which every submission goes through:

* :func:`normalise_prompt` / :func:`normalise_nickname` turn raw input into the text
  that is stored, shown and drawn (NFKC except Hangul compatibility jamo such as "ㅋㅋ",
  invisible characters dropped, whitespace collapsed; prompts also case-folded).
  Bad input raises ``INVALID_INPUT`` here, where it enters.
* :func:`prompt_key` hashes a harder *skeleton* of a normalised prompt, so prompts that
  differ only by look-alike letters, zero-width characters, accents, punctuation or
  spacing share one key, and therefore one drawing (day one's macro re-sent the same
  prompt with trivial changes). :func:`skeleton` is public because moderation matches
  blocklists against the same skeleton.

* :func:`prepare` gives a submitted prompt all three forms at once (:class:`PreparedPrompt`):
  as typed for showing back, normalised for drawing, and its key. The drawing's seed comes
  from the key and the event's secret, inside the submission script
  (``server/state/lua/submit.lua``).

Hangul is never decomposed: Korean text keeps its syllables in every form.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from server.errors import ApiError, invalid_input

# Bump when the skeleton changes: keys of old prompts must not silently collide or split.
KEY_VERSION: Final = "v1"
# Skeletons kept per process: a prompt is skeletonised for dedup and for the blocklist,
# and a duplicate prompt again each time it is sent.
SKELETON_CACHE_SIZE: Final = 4096

# Invisible characters that are dropped, not rejected: zero-width space/joiners, word
# joiner and invisible operators, BOM, soft hyphen, Mongolian vowel separator,
# left/right-to-left marks, Hangul fillers (used to make "blank" names) and tag
# characters (used to smuggle hidden text).
_INVISIBLE: Final = frozenset(
    chr(c)
    for c in (
        0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E,
        0x200B, 0x200C, 0x200D, 0x200E, 0x200F,
        0x2060, 0x2061, 0x2062, 0x2063, 0x2064,
        0x3164, 0xFEFF, 0xFFA0,
        *range(0xE0000, 0xE0080),
    )
)  # fmt: skip

# Whitespace by Unicode category, plus the C0/C1 whitespace controls. Python's
# str.isspace() also counts U+001C..U+001F, which are controls: those are rejected.
_WHITESPACE_CONTROLS: Final = frozenset("\t\n\v\f\r\x85")
_WHITESPACE_CATEGORIES: Final = frozenset({"Zs", "Zl", "Zp"})
_REJECTED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs"})

# Skeleton only: invisible in print, so never a real difference between two prompts.
_SKELETON_DROP_CATEGORIES: Final = frozenset({"Cf", "Sk"})
_VARIATION_SELECTORS: Final = frozenset(
    [chr(c) for c in range(0xFE00, 0xFE10)] + [chr(c) for c in range(0xE0100, 0xE01F0)]
)
# Apostrophes vanish ("cat's" ~ "cats"); other punctuation separates words ("cat,dog").
_APOSTROPHES: Final = frozenset("'\u2018\u2019\u02bc\u02bb\u2032\uff07")
_DECORATION_RANGES: Final = ((0x2500, 0x259F),)  # box drawing, block elements
_DECORATION: Final = frozenset("~|")
_COMBINING_DIACRITICS: Final = (0x0300, 0x036F)
_COMPAT_JAMO: Final = re.compile("([\u3131-\u318e]+)")
# Never decomposed: Hangul syllables, and Cyrillic letters whose marks make another letter.
_KEEP_WHOLE: Final = ((0xAC00, 0xD7A3), (0x0400, 0x052F))

# A compact confusables map: after case folding, letters that print like a Latin
# letter (in either case) map to it. Cyrillic, Greek and Armenian letters each map to
# distinct Latin letters, so two prompts written in one of those scripts never merge.
_LOOKALIKES: Final = (
    ("CYRILLIC SMALL LETTER A", "a"),
    ("CYRILLIC SMALL LETTER VE", "b"),
    ("CYRILLIC SMALL LETTER IE", "e"),
    ("CYRILLIC SMALL LETTER KA", "k"),
    ("CYRILLIC SMALL LETTER EM", "m"),
    ("CYRILLIC SMALL LETTER EN", "h"),
    ("CYRILLIC SMALL LETTER O", "o"),
    ("CYRILLIC SMALL LETTER ER", "p"),
    ("CYRILLIC SMALL LETTER ES", "c"),
    ("CYRILLIC SMALL LETTER TE", "t"),
    ("CYRILLIC SMALL LETTER U", "y"),
    ("CYRILLIC SMALL LETTER HA", "x"),
    ("CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I", "i"),
    ("CYRILLIC SMALL LETTER JE", "j"),
    ("CYRILLIC SMALL LETTER DZE", "s"),
    ("CYRILLIC SMALL LETTER KOMI DE", "d"),
    ("CYRILLIC SMALL LETTER QA", "q"),
    ("CYRILLIC SMALL LETTER WE", "w"),
    ("CYRILLIC SMALL LETTER PALOCHKA", "l"),
    ("GREEK SMALL LETTER ALPHA", "a"),
    ("GREEK SMALL LETTER BETA", "b"),
    ("GREEK SMALL LETTER EPSILON", "e"),
    ("GREEK SMALL LETTER ETA", "n"),
    ("GREEK SMALL LETTER IOTA", "i"),
    ("GREEK SMALL LETTER KAPPA", "k"),
    ("GREEK SMALL LETTER MU", "m"),
    ("GREEK SMALL LETTER NU", "v"),
    ("GREEK SMALL LETTER OMICRON", "o"),
    ("GREEK SMALL LETTER RHO", "p"),
    ("GREEK SMALL LETTER TAU", "t"),
    ("GREEK SMALL LETTER UPSILON", "u"),
    ("GREEK SMALL LETTER CHI", "x"),
    ("GREEK LUNATE SIGMA SYMBOL", "c"),
    ("GREEK LETTER YOT", "j"),
    ("GREEK SMALL LETTER ZETA", "z"),
    ("ARMENIAN SMALL LETTER OH", "o"),
    ("ARMENIAN SMALL LETTER SEH", "u"),
    ("ARMENIAN SMALL LETTER HO", "h"),
    ("ARMENIAN SMALL LETTER VO", "n"),
    ("ARMENIAN SMALL LETTER CO", "g"),
    ("ARMENIAN SMALL LETTER ZA", "q"),
    ("LATIN SMALL LETTER DOTLESS I", "i"),
    ("LATIN SMALL LETTER DOTLESS J", "j"),
    ("LATIN SMALL LETTER ALPHA", "a"),
    ("LATIN SMALL LETTER SCRIPT G", "g"),
    ("LATIN SMALL LETTER IOTA", "i"),
    ("LATIN SMALL LETTER V WITH HOOK", "u"),
    ("SCRIPT SMALL L", "l"),
    ("LATIN LETTER SMALL CAPITAL A", "a"),
    ("LATIN LETTER SMALL CAPITAL B", "b"),
    ("LATIN LETTER SMALL CAPITAL C", "c"),
    ("LATIN LETTER SMALL CAPITAL D", "d"),
    ("LATIN LETTER SMALL CAPITAL E", "e"),
    ("LATIN LETTER SMALL CAPITAL G", "g"),
    ("LATIN LETTER SMALL CAPITAL H", "h"),
    ("LATIN LETTER SMALL CAPITAL I", "i"),
    ("LATIN LETTER SMALL CAPITAL J", "j"),
    ("LATIN LETTER SMALL CAPITAL K", "k"),
    ("LATIN LETTER SMALL CAPITAL L", "l"),
    ("LATIN LETTER SMALL CAPITAL M", "m"),
    ("LATIN LETTER SMALL CAPITAL N", "n"),
    ("LATIN LETTER SMALL CAPITAL O", "o"),
    ("LATIN LETTER SMALL CAPITAL P", "p"),
    ("LATIN LETTER SMALL CAPITAL R", "r"),
    ("LATIN LETTER SMALL CAPITAL S", "s"),
    ("LATIN LETTER SMALL CAPITAL T", "t"),
    ("LATIN LETTER SMALL CAPITAL U", "u"),
    ("LATIN LETTER SMALL CAPITAL V", "v"),
    ("LATIN LETTER SMALL CAPITAL W", "w"),
    ("LATIN LETTER SMALL CAPITAL Y", "y"),
    ("LATIN LETTER SMALL CAPITAL Z", "z"),
)
_CONFUSABLES: Final = str.maketrans(
    {unicodedata.lookup(name): latin for name, latin in _LOOKALIKES}
)


def normalise_prompt(text: str, max_chars: int) -> str:
    """The prompt as stored and drawn: NFKC, case-folded, invisibles dropped, one space.

    Raises ``ApiError("INVALID_INPUT")`` with ``extensions.reason`` one of ``empty``,
    ``too_long`` or ``control_characters``.
    """
    return _normalise(text, max_chars, field="prompt", fold=True)


def normalise_nickname(text: str, max_chars: int) -> str:
    """The nickname as shown: NFKC, invisibles dropped, one space; case is kept.

    Raises ``ApiError("INVALID_INPUT")`` like :func:`normalise_prompt`.
    """
    return _normalise(text, max_chars, field="nickname", fold=False)


def nickname_key(nickname: str) -> str:
    """The form under which a nickname must be unique in an event.

    Case-folded, and also look-alike letters and accents folded, so nobody can take
    "Alice" spelt with a Cyrillic A, or "Alicé", next to "Alice" on the board.
    Punctuation is kept.
    """
    return _letters(_fold(nickname))


@functools.lru_cache(maxsize=SKELETON_CACHE_SIZE)
def skeleton(text: str) -> str:
    """The hardened canonical form of ``text`` that :func:`prompt_key` hashes.

    Case-folded NFKC; invisible characters, variation selectors, accents on
    Latin/Greek/Cyrillic letters, apostrophes and decoration removed; look-alike letters
    mapped to Latin; other punctuation turned into spaces; whitespace collapsed.
    Idempotent: ``skeleton(skeleton(t)) == skeleton(t)``.
    """
    out = _letters(_fold(text))
    for _ in range(4):
        # Removing characters can bring a base letter next to a mark it composes with;
        # a few passes reach the fixed point for every real input.
        again = _letters(_fold(out))
        if again == out:
            break
        out = again
    return out


def prompt_key(normalised: str) -> str:
    """Hex SHA-256 identifying a prompt for duplicate detection (see :func:`skeleton`)."""
    data = f"lookalike-prompt-{KEY_VERSION}\x00{skeleton(normalised)}".encode()
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PreparedPrompt:
    """A prompt as a submission records it."""

    text: str  # as typed, whitespace collapsed: what people see again
    normalised: str  # what is drawn (normalise_prompt)
    key: str  # which prompts are "the same" (prompt_key)


def prepare(prompt: str, max_chars: int) -> PreparedPrompt:
    """The one way a submitted prompt is prepared: shown, normalised and keyed.

    Raises ``ApiError("INVALID_INPUT")`` like :func:`normalise_prompt`.
    """
    normalised = normalise_prompt(prompt, max_chars)
    return PreparedPrompt(" ".join(prompt.split()), normalised, prompt_key(normalised))


# --- internals


def _normalise(text: str, max_chars: int, *, field: str, fold: bool) -> str:
    # Bound the work on absurd input before NFKC (which can expand a character 18-fold).
    if len(text) > max(4 * max_chars, max_chars + 256):
        raise _too_long(field, max_chars, len(text))
    out = _nfkc_keep_jamo(_drop_invisible(text))
    if fold:
        out = _nfkc_keep_jamo(out.casefold())
    chars: list[str] = []
    for ch in _drop_invisible(out):
        if ch in _WHITESPACE_CONTROLS or unicodedata.category(ch) in _WHITESPACE_CATEGORIES:
            chars.append(" ")
        elif unicodedata.category(ch) in _REJECTED_CATEGORIES:
            raise invalid_input(
                f"the {field} may only contain printable characters, "
                f"but it contains U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed control')})",
                reason="control_characters",
                field=field,
            )
        else:
            chars.append(ch)
    out = " ".join(part for part in "".join(chars).split(" ") if part)
    if not out:
        raise invalid_input(
            f"expected a {field} with at least one visible character, but it was empty",
            reason="empty",
            field=field,
        )
    if len(out) > max_chars:
        raise _too_long(field, max_chars, len(out))
    return out


def _too_long(field: str, max_chars: int, got: int) -> ApiError:
    return invalid_input(
        f"expected a {field} of at most {max_chars} characters, but it has {got}",
        reason="too_long",
        field=field,
        maxChars=max_chars,
    )


def _nfkc_keep_jamo(text: str) -> str:
    # NFKC turns compatibility jamo (what Korean keyboards type: "ㅋㅋ", "ㅠㅠ") into
    # conjoining jamo, which render broken and can even fuse into syllables ("ㄱㅏ" ->
    # "가"). Shown text keeps them; the skeleton folds them like NFKC does.
    parts = _COMPAT_JAMO.split(text)
    return "".join(
        part if i % 2 else unicodedata.normalize("NFKC", part) for i, part in enumerate(parts)
    )


def _drop_invisible(text: str) -> str:
    return "".join(ch for ch in text if ch not in _INVISIBLE)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _letters(folded: str) -> str:
    """Invisibles and accents dropped, look-alikes mapped, punctuation and spaces evened."""
    text = unicodedata.normalize("NFC", folded.translate(_LETTER_MAP)).translate(_CONFUSABLES)
    return " ".join(text.split())


def _letter(ch: str) -> str:
    """What :func:`_letters` makes of one character: itself, without accents, a space
    (punctuation, spaces, decoration) or nothing (invisible)."""
    if ch in _INVISIBLE or ch in _VARIATION_SELECTORS or ch in _APOSTROPHES:
        return ""
    category = unicodedata.category(ch)
    if category in _SKELETON_DROP_CATEGORIES:
        return ""
    if (
        category.startswith("P")
        or category in _WHITESPACE_CATEGORIES
        or ch in _WHITESPACE_CONTROLS
        or ch in _DECORATION
        or any(lo <= ord(ch) <= hi for lo, hi in _DECORATION_RANGES)
    ):
        return " "
    return _strip_accents(ch)


class _LetterMap(dict[int, str]):
    """A ``str.translate`` table computing :func:`_letter` once per character seen.

    Bounded: past ``_LETTER_MAP_MAX`` characters (a text of many rare code points) new
    ones are computed each time instead of kept.
    """

    def __missing__(self, code: int) -> str:
        out = _letter(chr(code))
        if len(self) < _LETTER_MAP_MAX:
            self[code] = out
        return out


_LETTER_MAP_MAX: Final = 1 << 16
_LETTER_MAP: Final = _LetterMap()


def _strip_accents(ch: str) -> str:
    """Accents off Latin and Greek letters; Hangul and Cyrillic letters (й, ё) kept whole."""
    if any(lo <= ord(ch) <= hi for lo, hi in _KEEP_WHOLE):
        return ch
    mark_lo, mark_hi = _COMBINING_DIACRITICS
    decomposed = unicodedata.normalize("NFD", ch)
    return "".join(c for c in decomposed if not mark_lo <= ord(c) <= mark_hi)
