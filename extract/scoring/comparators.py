"""Typed comparators: each compares one gold value with one predicted value.

Every comparator returns a :class:`Verdict`: ``correct``, ``partial`` or ``incorrect``.
Whether a value is there at all (``missing`` / ``spurious``) is decided by the caller
(:mod:`extract.scoring.incidents`), so the comparators only ever see two values.

Thresholds are module constants so that a report can name them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from enum import Enum
from typing import Protocol

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from extract.core.schema import CountQualifier, DateInfo, IncidentType
from extract.scoring.normalize import AliasIndex, digits, name_keys, normalize_date, normalize_name

#: Similarity (0-100, rapidfuzz) at or above which two names or dates are a partial match.
FUZZY_NAME_THRESHOLD = 85.0
#: ``about N`` accepts counts within this share of N either side.
ABOUT_TOLERANCE = 0.2
#: ``at least N`` and ``more than N`` accept counts up to this multiple of N (and at least N + 1):
#: "at least 21" is read as 21 to 42, never as any larger number.
OPEN_COUNT_FACTOR = 2
#: Words left out when two names are compared word by word ("Observatory for/of Human Rights").
FUNCTION_WORDS = frozenset({"of", "for", "the", "and", "in", "on", "de", "du", "la", "le"})
#: A shorter name is a partial match of a longer one that contains all its words only when the
#: longer has at most this many words per shared word ("Tahrir al-Sham" in "Hayat Tahrir al-Sham"),
#: so that a string listing ten actors matches none of them.
MAX_WORDS_PER_SHARED_WORD = 2


class Verdict(str, Enum):  # noqa: UP042 - StrEnum needs Python 3.11; the package supports 3.10
    """The outcome of one slot, in MUC terms."""

    CORRECT = "correct"
    PARTIAL = "partial"
    INCORRECT = "incorrect"
    MISSING = "missing"
    SPURIOUS = "spurious"

    @property
    def credit(self) -> float:
        """1 for correct, 0.5 for partial, 0 otherwise (the MUC numerator)."""
        return _CREDIT[self]


_CREDIT = {
    Verdict.CORRECT: 1.0,
    Verdict.PARTIAL: 0.5,
    Verdict.INCORRECT: 0.0,
    Verdict.MISSING: 0.0,
    Verdict.SPURIOUS: 0.0,
}


# Pairs of incident types that may be aligned with each other, besides identical types.
# They are the confusions an article's own wording invites: a crash "after being hit"
# vs a downing, a "missile strike" carried out from the air, rocket fire reported as
# shelling or as a missile strike, a raid reported as a clash.
COMPATIBLE_TYPES: frozenset[frozenset[IncidentType]] = frozenset(
    {
        frozenset({IncidentType.AIRCRAFT_DOWNING, IncidentType.AIRCRAFT_LOSS}),
        frozenset({IncidentType.AIR_STRIKE, IncidentType.MISSILE_STRIKE}),
        frozenset({IncidentType.MISSILE_STRIKE, IncidentType.SHELLING}),
        frozenset({IncidentType.ARMED_CLASH, IncidentType.OTHER_ATTACK}),
    }
)


def types_compatible(gold: IncidentType, pred: IncidentType) -> bool:
    """Whether incidents of these two types may be aligned (see :data:`COMPATIBLE_TYPES`)."""
    return gold is pred or frozenset({gold, pred}) in COMPATIBLE_TYPES


def _enum_value(value: object) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def compare_enum(gold: object, pred: object, alternatives: Sequence[str] = ()) -> Verdict:
    """Exact match of an enum value (or the gold alternatives for it)."""
    value = _enum_value(pred)
    if value == _enum_value(gold) or value in alternatives:
        return Verdict.CORRECT
    return Verdict.INCORRECT


def compare_bool(gold: bool, pred: bool) -> Verdict:
    """Exact match of a flag."""
    return Verdict.CORRECT if gold == pred else Verdict.INCORRECT


# Verdicts a matcher remembers (the same names recur across a corpus); the memo is emptied when full.
_MEMO_SIZE = 1 << 17


# An English possessive before a qualifier: "Idlib's countryside".
_POSSESSIVE = re.compile(r"(?<=\w)['\u2019]s\b")


def without_qualifiers(name: str, qualifiers: Collection[str]) -> str:
    """A name without the generic words that qualify it (a field's declared ``qualifiers``).

    "Idlib countryside", "Idlib's countryside" and "the countryside of Idlib" become "idlib" (the
    normalised form), "Saraqib town" "saraqib"; the function words left around a qualifier go
    with it. A name that holds no qualifier is returned unchanged, and so is one made of nothing
    else ("the countryside"): it names no place, and stays as it is, matching none.
    """
    words = normalize_name(_POSSESSIVE.sub("", name)).split()
    kept = [w for w in words if w not in qualifiers]
    if len(kept) == len(words):
        return name
    kept = [w for w in kept if w not in FUNCTION_WORDS]
    return " ".join(kept) if kept else name


def _content_words(norm: str) -> list[str]:
    words = [w for w in norm.split() if w not in FUNCTION_WORDS]
    return words or norm.split()


def _close_words(a: str, b: str) -> bool:
    """Whether two words are spellings of one word: same first letter and same transliteration key, or one typo."""
    if a == b:
        return True
    if a[:1] != b[:1]:
        return False  # "Prussia"/"Russia", "Ahrar"/"Tahrir": a different word, however similar
    if not name_keys(a).isdisjoint(name_keys(b)):
        return True
    return min(len(a), len(b)) >= 4 and Levenshtein.distance(a, b) <= 1


def _same_words(gold: str, pred: str) -> bool:
    """Whether the content words of two names pair off one to one as spellings of each other.

    Tried in order and in sorted order (a reordered name, "Ministry of Defence" for
    "Defence Ministry", is the job of the alias table).
    """
    g, p = _content_words(gold), _content_words(pred)
    if len(g) != len(p):
        return False
    return all(_close_words(a, b) for a, b in zip(g, p, strict=True)) or all(
        _close_words(a, b) for a, b in zip(sorted(g), sorted(p), strict=True)
    )


def _contained(gold: str, pred: str) -> bool:
    """One name's words all in the other, sharing two or more, the longer not much longer."""
    g, p = set(gold.split()), set(pred.split())
    shared = len(g & p)
    shorter, longer = sorted((len(g), len(p)))
    return shared >= 2 and shared == shorter and longer <= MAX_WORDS_PER_SHARED_WORD * shared


class NameMatcher:
    """Compares names and places against a gold value, its alternatives and the alias table.

    * correct: the normalised forms or the transliteration skeletons are equal
      (:mod:`extract.scoring.normalize`), for the gold value, one of its alternatives,
      or any member of an alias group one of them belongs to;
    * partial: the digits are the same and either
      - the rapidfuzz ratio (or token-sort ratio) of the normalised forms is at least
        :data:`FUZZY_NAME_THRESHOLD` *and* their words pair off one to one as spellings of
        the same word (same first letter and transliteration key, or one typo; words in
        :data:`FUNCTION_WORDS` left out), so "Prussia" is not "Russia" and "Ahrar al-Sham"
        is not "Tahrir al-Sham"; or
      - the words of one are a subset of the words of the other, with at least two words
        shared and the longer at most :data:`MAX_WORDS_PER_SHARED_WORD` times as long
        (``Tahrir al-Sham`` in ``Hayat Tahrir al-Sham``, but not in a list of ten actors);
    * incorrect otherwise.

    With ``qualifiers`` (a field's declared generic words, such as "countryside" or "town"),
    the gold value, its alternatives and the prediction are compared without them
    (:func:`without_qualifiers`).
    """

    def __init__(self, aliases: AliasIndex | None = None, threshold: float = FUZZY_NAME_THRESHOLD):
        self.aliases = aliases or AliasIndex()
        self.threshold = threshold
        self._accepted: dict[tuple[str, tuple[str, ...]], tuple[frozenset[str], tuple[str, ...]]] = {}
        self._verdicts: dict[tuple[str, tuple[str, ...], str], Verdict] = {}

    def _accept(self, gold: str, alternatives: Sequence[str]) -> tuple[frozenset[str], tuple[str, ...]]:
        cache_key = (gold, tuple(alternatives))
        found = self._accepted.get(cache_key)
        if found is None:
            names = self.aliases.expand((gold, *alternatives))
            keys = frozenset().union(*(name_keys(n) for n in names))
            found = (keys, tuple(dict.fromkeys(normalize_name(n) for n in names)))
            self._accepted[cache_key] = found
        return found

    def compare(
        self, gold: str, pred: str, alternatives: Sequence[str] = (), qualifiers: Collection[str] = ()
    ) -> Verdict:
        """Compare a predicted name with the gold one (without the ``qualifiers`` words, when given)."""
        if qualifiers:
            gold, pred = without_qualifiers(gold, qualifiers), without_qualifiers(pred, qualifiers)
            alternatives = tuple(without_qualifiers(a, qualifiers) for a in alternatives)
        memo = (gold, tuple(alternatives), pred)
        found = self._verdicts.get(memo)
        if found is None:
            if len(self._verdicts) >= _MEMO_SIZE:
                self._verdicts.clear()
            found = self._verdicts[memo] = self._compare(gold, pred, alternatives)
        return found

    def _compare(self, gold: str, pred: str, alternatives: Sequence[str]) -> Verdict:
        keys, norms = self._accept(gold, alternatives)
        if not keys.isdisjoint(name_keys(pred)):
            return Verdict.CORRECT
        pred_norm = normalize_name(pred)
        pred_digits = digits(pred_norm)
        for norm in norms:
            if digits(norm) != pred_digits:
                continue
            similar = (
                fuzz.ratio(norm, pred_norm) >= self.threshold
                or fuzz.token_sort_ratio(norm, pred_norm) >= self.threshold
            )
            if (similar and _same_words(norm, pred_norm)) or _contained(norm, pred_norm):
                return Verdict.PARTIAL
        return Verdict.INCORRECT


def compare_name(gold: str, pred: str, alternatives: Sequence[str] = (), aliases: AliasIndex | None = None) -> Verdict:
    """Compare two names or places (see :class:`NameMatcher`); builds a matcher per call."""
    return NameMatcher(aliases).compare(gold, pred, alternatives)


class CountLike(Protocol):
    @property
    def count(self) -> int: ...
    @property
    def count_max(self) -> int | None: ...
    @property
    def qualifier(self) -> CountQualifier: ...


def count_accepts(gold: CountLike, value: int) -> bool:
    """Whether a number lies in the range the gold qualifier describes.

    ``exact N``: N only; ``at_least N``: N up to :data:`OPEN_COUNT_FACTOR` times N;
    ``more_than N``: above N up to the same bound; ``about N``: within
    :data:`ABOUT_TOLERANCE` of N; ``range N..M``: N to M inclusive. The open qualifiers
    are bounded so that an absurd number never earns credit.
    """
    q = gold.qualifier
    ceiling = max(OPEN_COUNT_FACTOR * gold.count, gold.count + 1)
    if q is CountQualifier.AT_LEAST:
        return gold.count <= value <= ceiling
    if q is CountQualifier.MORE_THAN:
        return gold.count < value <= ceiling
    if q is CountQualifier.ABOUT:
        return abs(value - gold.count) <= ABOUT_TOLERANCE * gold.count
    if q is CountQualifier.RANGE:
        return gold.count <= value <= (gold.count_max if gold.count_max is not None else gold.count)
    return value == gold.count


def _upper(item: CountLike) -> int | None:
    return item.count_max if item.qualifier is CountQualifier.RANGE else None


def compare_count(gold: CountLike, pred: CountLike, alternatives: Sequence[str] = ()) -> Verdict:
    """Compare casualty counts.

    * correct: same count and qualifier (and the same upper bound for a range), or a
      predicted count listed in the gold alternatives;
    * partial: the same count with another qualifier (``30`` for ``more than 30``), or a
      predicted count inside the range the gold qualifier describes
      (:func:`count_accepts`); a predicted range must have both ends inside it;
    * incorrect otherwise.
    """
    if pred.count == gold.count and pred.qualifier is gold.qualifier and pred.count_max == gold.count_max:
        return Verdict.CORRECT
    if str(pred.count) in alternatives:
        return Verdict.CORRECT
    upper = _upper(pred)
    if upper is not None and upper != pred.count and not count_accepts(gold, upper):
        return Verdict.INCORRECT
    if pred.count == gold.count or count_accepts(gold, pred.count):
        return Verdict.PARTIAL
    return Verdict.INCORRECT


#: What the comparison of one location part gives: the verdict (None when both sides are empty).
PartJudge = Callable[[str, "str | None"], "Verdict | None"]


def compare_place_near(
    judge: PartJudge, gold_place: str | None, gold_near: str | None, pred_place: str | None, pred_near: str | None
) -> list[tuple[str, Verdict, str | None, str | None]]:
    """Judge a location's ``place`` and ``near`` together, crediting a town related differently.

    ``judge(part, value)`` compares one predicted value with the gold ``part`` (its
    alternatives and empty-gold rules included). A town given as ``place`` on one side
    and ``near`` on the other is the same town, only related differently: the crossed
    reading earns partial credit and is used when it earns more than the straight one.
    Returns ``(part, verdict, gold value, predicted value)`` for each part judged.
    """
    straight = [("place", judge("place", pred_place), gold_place, pred_place)]
    straight.append(("near", judge("near", pred_near), gold_near, pred_near))
    crossed = [
        ("place", _related(judge("place", pred_near)), gold_place, pred_near),
        ("near", _related(judge("near", pred_place)), gold_near, pred_place),
    ]

    def credit(judged: list[tuple[str, Verdict | None, str | None, str | None]]) -> float:
        return sum(v.credit for _, v, _, _ in judged if v is not None)

    best = crossed if credit(crossed) > credit(straight) else straight
    return [(part, v, g, p) for part, v, g, p in best if v is not None]


def _related(verdict: Verdict | None) -> Verdict | None:
    """A match found by crossing place and near is partial at best."""
    return Verdict.PARTIAL if verdict is Verdict.CORRECT else verdict


def compare_date(
    gold: DateInfo,
    pred: DateInfo,
    text_alternatives: Sequence[str] = (),
    iso_alternatives: Sequence[str] = (),
    threshold: float = FUZZY_NAME_THRESHOLD,
) -> Verdict:
    """Compare dates.

    * correct: the written text is the same after :func:`normalize_date` (or equals a
      ``date.text`` alternative), or both ISO dates are given and equal (or the predicted
      one is a ``date.iso`` alternative);
    * partial: one ISO date is a coarser form of the other (``2018-02`` and
      ``2018-02-03``), or the texts have the same digits and a fuzzy ratio at or above
      the threshold;
    * incorrect otherwise.
    """
    pred_text = normalize_date(pred.text)
    if pred_text == normalize_date(gold.text) or any(pred_text == normalize_date(a) for a in text_alternatives):
        return Verdict.CORRECT
    if pred.iso is not None and (pred.iso == gold.iso or pred.iso in iso_alternatives):
        return Verdict.CORRECT
    if pred.iso is not None and gold.iso is not None:
        shorter, longer = sorted((pred.iso, gold.iso), key=len)
        if longer.startswith(shorter + "-"):
            return Verdict.PARTIAL
    gold_text = normalize_date(gold.text)
    if digits(gold_text) == digits(pred_text) and fuzz.ratio(gold_text, pred_text) >= threshold:
        return Verdict.PARTIAL
    return Verdict.INCORRECT
