"""Text normalisation for matching names, places and dates.

Three forms of a name are used, from strict to loose:

``normalize_name``
    case folded, diacritics stripped, apostrophes dropped (``Hay'at`` = ``Hayat``),
    punctuation, hyphens and runs of spaces turned into one space, and the Arabic
    article removed at the start of a word (``al-``, ``el-``, ``al ``, and the
    assimilated forms ``ad-``, ``ar-``, ``as-``, ``ash-``, ``az-``, ``ez-``, ... when the
    next word starts with the same consonant, as in ``Deir ez-Zor``).
``compact``
    the normalised form without spaces (``Su-25`` = ``Su 25`` = ``SU25``).
``vowel_key`` and ``skeleton``
    transliteration keys. Both fold consonant spellings (``q`` -> ``k``, ``ch`` -> ``sh``,
    ``ph`` -> ``f``) and diphthongs (``ay``, ``ai``, ``ae``, ``ei``, ``ey`` -> ``e``; ``aw``, ``au``,
    ``ow`` -> ``o``; ``ou``, ``oo`` -> ``u``; ``ee`` -> ``i``), drop a word-final ``h`` after a vowel
    (``Raqqah`` = ``Raqqa``) and collapse doubled letters. The vowel key then merges only
    the vowels transliterations swap, ``e`` with ``i`` and ``o`` with ``u``, and keeps ``a``
    apart (``Saraqeb`` = ``Saraqib``, ``Qaeda`` = ``Qaida``, ``Deir ez-Zor`` = ``Dayr az-Zawr``,
    but ``Oman`` != ``Amman`` and ``Sinai`` != ``Sanaa``). The skeleton drops the vowels
    altogether, which catches an omitted vowel (``Sarqeb`` = ``Saraqeb``: ``srkb``); as it
    is the loosest key it is used only from four consonants up. The known price is that
    rare pairs of different places share a key (``Mari``/``Mare``).

Names are equal when their compact forms or one of their keys are equal. Digits are
kept in every form, so ``Su-24`` and ``Su-25`` never match.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

#: Vowel keys shorter than this are not used.
MIN_VOWEL_KEY = 3
#: Skeletons shorter than this are not used (``Basra``/``Bosra`` -> ``bsr``).
MIN_SKELETON = 4

# Letters that NFKD does not decompose into a base letter plus a combining mark.
_LETTERS = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i", "ħ": "h"}
)
# Apostrophe-like marks used in transliteration (hamza, ayn) join the letters around them.
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc\u02bb\u02bf\u02be`\u00b4]")
_ARTICLE = re.compile(r"(?<!\w)(?:(?:al|el)(?:-|\s+)(?=\w)|[ae](sh|th|dh|[dnrstz])-(?=\1))")
_NON_WORD = re.compile(r"[\W_]+")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
_DATE_FILLER = re.compile(r"^(?:(?:on|in|at|the|of)\s+)+")
_DIGITS = re.compile(r"\d+")
_FINAL_H = re.compile(r"(?<=[aeiou])h\b")
_DOUBLE = re.compile(r"(.)\1+")
_VOWELS = re.compile(r"[aeiouy]")
_SPELLINGS = (
    ("ch", "sh"), ("q", "k"), ("ph", "f"),
    ("aw", "o"), ("au", "o"), ("ow", "o"),
    ("ay", "e"), ("ai", "e"), ("ae", "e"), ("ei", "e"), ("ey", "e"),
    ("ou", "u"), ("oo", "u"), ("ee", "i"),
)  # fmt: skip
_VOWEL_CLASSES = str.maketrans({"e": "i", "o": "u"})


def fold(text: str) -> str:
    """Case fold and strip diacritics, keeping letters of every script."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LETTERS))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=1 << 16)
def normalize_name(text: str) -> str:
    """The normalised form of a name or place (see the module docstring)."""
    folded = _APOSTROPHES.sub("", fold(text))
    without_article = _ARTICLE.sub("", folded)
    words = _NON_WORD.sub(" ", without_article).split()
    if not words:  # a name that was only an article ("Al") keeps it
        words = _NON_WORD.sub(" ", folded).split()
    return " ".join(words)


@lru_cache(maxsize=1 << 16)
def _folded_spelling(text: str) -> str:
    norm = normalize_name(text)
    for old, new in _SPELLINGS:
        norm = norm.replace(old, new)
    return _DOUBLE.sub(r"\1", _FINAL_H.sub("", norm).replace(" ", ""))


def vowel_key(text: str) -> str:
    """The transliteration key that keeps the vowels, up to e/i and o/u (see the module docstring)."""
    return _DOUBLE.sub(r"\1", _folded_spelling(text).translate(_VOWEL_CLASSES))


def skeleton(text: str) -> str:
    """The transliteration key without vowels (see the module docstring)."""
    return _DOUBLE.sub(r"\1", _VOWELS.sub("", _folded_spelling(text)))


@lru_cache(maxsize=1 << 16)
def name_keys(text: str) -> frozenset[str]:
    """The keys under which two names count as the same: compact form, vowel key and skeleton."""
    compact = normalize_name(text).replace(" ", "") or text.casefold()
    keys = {compact}
    vowels, consonants = vowel_key(text), skeleton(text)
    if len(vowels) >= MIN_VOWEL_KEY:
        keys.add("~" + vowels)
    if len(consonants) >= MIN_SKELETON:
        keys.add("#" + consonants)
    return frozenset(keys)


@lru_cache(maxsize=1 << 16)
def digits(text: str) -> tuple[str, ...]:
    """The runs of digits in a text, in order; names whose digits differ never match."""
    return tuple(_DIGITS.findall(fold(text)))


@lru_cache(maxsize=1 << 14)
def normalize_date(text: str) -> str:
    """A written date folded for comparison: ``On July 8th,`` = ``july 8``."""
    words = _NON_WORD.sub(" ", _ORDINAL.sub(r"\1", fold(text))).strip()
    return _DATE_FILLER.sub("", words)


class AliasIndex:
    """The set-wide alias table: names that refer to the same actor, place or thing.

    Built from ``{"canonical": ["variant", ...]}``. A name belongs to a group when any
    of its keys (:func:`name_keys`) equals a key of a member of the group.
    """

    def __init__(self, aliases: Mapping[str, Sequence[str]] | None = None):
        self.groups: list[tuple[str, ...]] = []
        self._by_key: dict[str, set[int]] = {}
        for canonical, variants in (aliases or {}).items():
            members = (canonical, *variants)
            group = len(self.groups)
            self.groups.append(tuple(members))
            for member in members:
                for key in name_keys(member):
                    self._by_key.setdefault(key, set()).add(group)

    def __len__(self) -> int:
        return len(self.groups)

    def expand(self, names: Iterable[str]) -> tuple[str, ...]:
        """The names given plus every member of every alias group they belong to, without repeats."""
        out: dict[str, None] = {}
        for name in names:
            out[name] = None
            for key in name_keys(name):
                for group in self._by_key.get(key, ()):
                    for member in self.groups[group]:
                        out[member] = None
        return tuple(out)
