"""Typed comparators: each compares one gold value with one predicted value.

Every comparator returns a :class:`Verdict`: ``correct``, ``partial`` or ``incorrect``.
Whether a value is there at all (``missing`` / ``spurious``) is decided by the caller
(:mod:`extract.scoring.incidents`), so the comparators only ever see two values.

Thresholds are module constants so that a report can name them.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Protocol

from rapidfuzz import fuzz

from extract.core.schema import CountQualifier, DateInfo, IncidentType
from extract.scoring.normalize import AliasIndex, digits, name_keys, normalize_date, normalize_name

#: Similarity (0-100, rapidfuzz) at or above which two names or dates are a partial match.
FUZZY_NAME_THRESHOLD = 85.0
#: ``about N`` accepts counts within this share of N either side.
ABOUT_TOLERANCE = 0.2


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


class NameMatcher:
    """Compares names and places against a gold value, its alternatives and the alias table.

    * correct: the normalised forms or the transliteration skeletons are equal
      (:mod:`extract.scoring.normalize`), for the gold value, one of its alternatives,
      or any member of an alias group one of them belongs to;
    * partial: the digits are the same and either the rapidfuzz ratio (or token-sort
      ratio) of the normalised forms is at least :data:`FUZZY_NAME_THRESHOLD`, or the
      words of one are a subset of the words of the other with at least two words
      shared (``Tahrir al-Sham`` in ``Hayat Tahrir al-Sham``);
    * incorrect otherwise.
    """

    def __init__(self, aliases: AliasIndex | None = None, threshold: float = FUZZY_NAME_THRESHOLD):
        self.aliases = aliases or AliasIndex()
        self.threshold = threshold
        self._accepted: dict[tuple[str, tuple[str, ...]], tuple[frozenset[str], tuple[str, ...]]] = {}

    def _accept(self, gold: str, alternatives: Sequence[str]) -> tuple[frozenset[str], tuple[str, ...]]:
        cache_key = (gold, tuple(alternatives))
        found = self._accepted.get(cache_key)
        if found is None:
            names = self.aliases.expand((gold, *alternatives))
            keys = frozenset().union(*(name_keys(n) for n in names))
            found = (keys, tuple(dict.fromkeys(normalize_name(n) for n in names)))
            self._accepted[cache_key] = found
        return found

    def compare(self, gold: str, pred: str, alternatives: Sequence[str] = ()) -> Verdict:
        """Compare a predicted name with the gold one."""
        keys, norms = self._accept(gold, alternatives)
        if not keys.isdisjoint(name_keys(pred)):
            return Verdict.CORRECT
        pred_norm = normalize_name(pred)
        pred_digits = digits(pred_norm)
        pred_words = set(pred_norm.split())
        for norm in norms:
            if digits(norm) != pred_digits:
                continue
            if (
                fuzz.ratio(norm, pred_norm) >= self.threshold
                or fuzz.token_sort_ratio(norm, pred_norm) >= self.threshold
            ):
                return Verdict.PARTIAL
            words = set(norm.split())
            shared = len(words & pred_words)
            if shared >= 2 and shared == min(len(words), len(pred_words)):
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

    ``exact N``: N only; ``at_least N``: >= N; ``more_than N``: > N; ``about N``: within
    :data:`ABOUT_TOLERANCE` of N; ``range N..M``: N to M inclusive.
    """
    q = gold.qualifier
    if q is CountQualifier.AT_LEAST:
        return value >= gold.count
    if q is CountQualifier.MORE_THAN:
        return value > gold.count
    if q is CountQualifier.ABOUT:
        return abs(value - gold.count) <= ABOUT_TOLERANCE * gold.count
    if q is CountQualifier.RANGE:
        return gold.count <= value <= (gold.count_max if gold.count_max is not None else gold.count)
    return value == gold.count


def compare_count(gold: CountLike, pred: CountLike, alternatives: Sequence[str] = ()) -> Verdict:
    """Compare casualty counts.

    * correct: same count and qualifier (and the same upper bound for a range), or a
      predicted count listed in the gold alternatives;
    * partial: the same count with another qualifier (``30`` for ``more than 30``), or a
      predicted count (the lower bound of a predicted range) inside the range the gold
      qualifier describes (:func:`count_accepts`);
    * incorrect otherwise.
    """
    if pred.count == gold.count and pred.qualifier is gold.qualifier and pred.count_max == gold.count_max:
        return Verdict.CORRECT
    if str(pred.count) in alternatives:
        return Verdict.CORRECT
    if pred.count == gold.count or count_accepts(gold, pred.count):
        return Verdict.PARTIAL
    return Verdict.INCORRECT


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
