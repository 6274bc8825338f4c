"""Values checked against their evidence: is the value stated in the text it cites?

A quote found in the article says the model cited a real passage; it does not say the value
came from it. A model can cite a real sentence for an invented place or count. So every name,
place, number and date is looked for in its own evidence text:

* names, places and dates: every content word of the value must appear, after folding case and
  diacritics, allowing a derived form (Syria / Syrian) and a transliteration variant (Saraqeb /
  Saraqib, Defence / Defense: same consonant skeleton or a close spelling). The quote comes
  first; failing that, the rest of the article: the coding guidelines (gold/GUIDELINES.md) fill
  a country, a province or an operator from context and give "the observatory" its full name
  from an earlier sentence, so a name stated elsewhere in the article is supported (the check
  says where), while a name the article never states is not;
* numbers must be stated in the quote itself, as digits ("1,200") or in words ("five",
  "twenty-one", "a dozen"). "dozens" or "scores" state no number; they support only the
  guidelines' conventional lower bound for them (dozens: at least 24, scores: at least 40,
  hundreds: at least 200). A count of one is also stated by an article before the casualty's
  noun ("killed its pilot"), two by "both", zero by "no" or "none".

Which fields are checked is declared with the field (:class:`~extract.core.fields.Spec`):
names and counts by default, others where their spec says ``checked=True``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pydantic import BaseModel
from rapidfuzz import fuzz

from extract.core.fields import Compare, fields_of
from extract.core.records import ValueCheck

_TOKEN = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    ["the", "of", "a", "an", "and", "al", "el", "for", "in", "on", "at", "to", "by", "de", "du", "la", "le"]
)
_VOWELS = re.compile(r"[aeiouy]")
_UNITS = {
    w: k
    for k, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
_TENS = {
    w: 10 * k
    for k, w in enumerate(["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])
    if k >= 2
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TENS) | frozenset(_SCALES) | {"dozen"}
_ONE_WORDS = frozenset({"single", "lone", "sole"})
_SINGULAR_MARKERS = frozenset({"a", "an", "the", "its", "his", "her", "their"})
_ZERO_WORDS = frozenset({"no", "none", "nobody", "zero"})
#: Vague quantities and the lower bound the coding guidelines give them (gold/GUIDELINES.md, section 10).
VAGUE_QUANTITIES = {"dozens": 24, "scores": 40, "hundreds": 200, "thousands": 2000}
_LOWER_BOUNDS = frozenset({"at_least", "more_than"})


def fold(text: str) -> str:
    """Lower case, diacritics removed, apostrophes dropped, other punctuation a space."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"['’ʼ`‘]", "", text.lower())
    return text


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(fold(text))


def _skeleton(token: str) -> str:
    return _VOWELS.sub("", token[:1]) + _VOWELS.sub("", token[1:]) if token else token


def _token_matches(value: str, cited: str) -> bool:
    if value == cited:
        return True
    if value.isdigit() or cited.isdigit():
        return False
    short, long_ = sorted((value, cited), key=len)
    if len(short) >= 4 and long_.startswith(short) and len(long_) - len(short) <= 3:
        return True  # Syria / Syrian, Russia / Russians
    if len(short) >= 5 and len(_skeleton(short)) >= 3 and _skeleton(value) == _skeleton(cited):
        return True  # Saraqeb / Saraqib
    return len(short) >= 5 and fuzz.ratio(value, cited) >= 80


def name_supported(value: str, evidence: str) -> bool:
    """Whether every content word of ``value`` appears in ``evidence`` (variants allowed)."""
    wanted = tokens(value)
    content = [t for t in wanted if t not in _STOP] or wanted
    if not content:
        return False
    have = set(tokens(evidence))
    return all(any(_token_matches(t, c) for c in have) for t in content)


def numbers_in(text: str) -> set[int]:
    """Every number ``text`` states in digits or in words."""
    folded = fold(text)
    found = {int(m.replace(",", "")) for m in re.findall(r"\d{1,3}(?:,\d{3})+|\d+", folded)}
    words = re.findall(r"[a-z]+|\d+", folded.replace("-", " "))
    k = 0
    while k < len(words):
        value, used = _number_words(words, k)
        if used:
            found.add(value)
            k += used
        else:
            k += 1
    return found


def _number_words(words: list[str], k: int) -> tuple[int, int]:
    """The number spelled out from ``words[k]`` on, and how many words it used (0 when none).

    "dozens", "scores" and "hundreds" are other words, so they state no number.
    """
    total, current, used = 0, 0, 0
    while k + used < len(words):
        w = words[k + used]
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w in _SCALES and used:
            current *= _SCALES[w]
            if _SCALES[w] >= 1000:
                total, current = total + current, 0
        elif w == "dozen" and (used or (k > 0 and words[k - 1] == "a")):
            current = max(current, 1) * 12
        elif w == "and" and used and words[k + used - 1] in _SCALES and _next_is_number(words, k + used + 1):
            pass  # "one hundred and five"
        else:
            break
        used += 1
    return total + current, used


def _next_is_number(words: list[str], k: int) -> bool:
    return k < len(words) and (words[k] in _UNITS or words[k] in _TENS)


def count_supported(count: int, evidence: str, who: str | None = None, qualifier: str = "exact") -> bool:
    """Whether ``evidence`` states ``count`` (see the module docstring for vague words, one, two and zero)."""
    if count in numbers_in(evidence):
        return True
    words = tokens(evidence)
    if qualifier in _LOWER_BOUNDS and any(VAGUE_QUANTITIES.get(w) == count for w in words):
        return True
    if count == 2 and "both" in words:
        return True
    if count == 0:
        return bool(_ZERO_WORDS & set(words))
    if count == 1:
        if _ONE_WORDS & set(words):
            return True
        if who:
            noun = tokens(who)[-1:] or [""]
            for k, w in enumerate(words):
                if _token_matches(noun[0], w) and any(m in _SINGULAR_MARKERS for m in words[max(0, k - 3) : k]):
                    return True
    return False


def _checked(compare: Compare | None, declared: bool | None) -> bool:
    if declared is not None:
        return declared
    return compare in (Compare.NAME, Compare.COUNT)


def check_values(value: BaseModel, quote: str, article: str | None = None) -> list[ValueCheck]:
    """A check for each declared name, place, number and date of ``value`` against its quote
    (names, places and dates also against the ``article``, when given).

    Only the value's own scalar fields are checked; parts that carry their own evidence are
    checked against theirs.
    """
    checks = []
    for info in fields_of(type(value)):
        if info.model is not None or not _checked(info.spec.compare, info.spec.checked):
            continue
        held: Any = getattr(value, info.name)
        if held is None or isinstance(held, bool) or not isinstance(held, int | str):
            continue
        where = ""
        if isinstance(held, int):
            qualifier = getattr(value, "qualifier", None)
            qualifier_name = str(getattr(qualifier, "value", qualifier or "exact"))
            if count_supported(held, quote, getattr(value, "who", None), qualifier_name):
                where = "quote"
        elif name_supported(held, quote):
            where = "quote"
        elif article is not None and name_supported(held, article):
            where = "article"
        checks.append(ValueCheck(field=info.name, value=str(held), supported=bool(where), stated_in=where or None))
    return checks
