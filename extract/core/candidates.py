"""Values from the article: the names and numbers a grammar-constrained model may choose from.

A small model given a free string invents names (or copies the schema's examples). Given the
article's own spans as an ``enum``, a grammar-constrained backend (llama.cpp, vLLM, OpenAI strict
mode) can only pick one of them. The candidates are found without a model:

* **names**: runs of capitalised words, joined by the connectors of names ("of", "for", "al-",
  "bin"...), such as "Syrian Observatory for Human Rights" or "Khan al-Subl", and each single
  capitalised word of a run (a run's words are names too: "Syrian", "Idlib"). Punctuation ends a
  run. A sentence's first word alone is kept only when the article also capitalises it inside a
  sentence and never writes it in lower case ("Rebels" and "Advertisement" are dropped, "Syria"
  kept; "Tahrir al-Sham" is kept as a run); common function words never count. Words such as
  "Russian-backed" end a run and are not names, and a run of three or more words in capitals is a
  shouted headline;
* **designations** such as "Su-25", "Mi-28N", "F-16", "MQ-9": letters, a hyphen, digits;
* **dates**: the article's own date phrases: weekdays ("Saturday", "Friday night", "late Tuesday"),
  calendar dates ("March 3", "3 March 2021", "March 2021"), ISO dates and relative ones ("yesterday",
  "last week", "earlier this month");
* **numbers**: numerals and number words (:func:`~extract.core.support.numbers_in`; not the
  digits of a designation), the guidelines' values for "dozens", "scores" and "hundreds" where those words occur, 2 for
  "both", and 1, which articles state with "a" or "the" ("killed its pilot").

A value the article implies but does not write (a country named only by its adjective) must still
be possible, so by default every constrained field has a free-text twin, ``<field>_other``, used only
when no candidate fits; the pipeline folds it back into the field. In strict mode (``--candidates
strict``) there is no twin and no free-text summary: a small model given a free string copies it from
the prompt's examples (a place or date of another article), so it is given only the article's values
to choose from, and the record's summary is the sentence the incident cites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from extract.core.sentences import split_sentences
from extract.core.support import NUMBER_WORDS, VAGUE_QUANTITIES, numbers_in, tokens

#: The suffix of the free-text twin of a constrained name field.
OTHER_SUFFIX = "_other"

_CONNECTORS = frozenset({"of", "for", "the", "de", "del", "al", "el", "bin", "ibn", "abu", "van", "von", "da"})
_FUNCTION_WORDS = frozenset(
    word
    for line in (
        "A An The This That These Those It Its He She His Her They Their We Our You I In On At By For From To Of",
        "And But Or As If When While Since After Before Although Though Because However Meanwhile Also Then",
        "There Here What Which Who Whom Whose Where Why How Some Many Most All No Not Both Each Other Another",
        "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
    )
    for word in line.split()
)
_WORD = re.compile(r"[^\W\d_][\w'’]*(?:-[\w'’]+)*")  # letters of any script: Şanlıurfa, Łódź
_DESIGNATION = re.compile(r"\b[A-Z][A-Za-z]{0,4}-\d{1,4}[A-Za-z]{0,3}\b")
MAX_NAME_WORDS = 6
#: Larger numbers are ids, phone numbers or URLs, not counts.
MAX_NUMBER = 10_000_000


#: ``--candidates`` modes: the article's values with a free-text twin each, or the article's values only.
OPEN = "open"
STRICT = "strict"
MODES = (OPEN, STRICT)

_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan\.|Feb\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)"
)
_DATE_PHRASES = re.compile(
    "|".join(
        (
            rf"\b(?:(?:early|late)\s+)?{_WEEKDAY}(?:\s+(?:morning|afternoon|evening|night))?\b",
            rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b",
            rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}(?:,?\s+\d{{4}})?\b",
            rf"\b(?:(?:early|late|mid-?|last)\s*)?{_MONTH}(?:\s+\d{{4}})?\b",
            r"\b\d{4}-\d{2}-\d{2}\b",
            r"\b(?:yesterday|today|tonight|overnight|last\s+(?:night|week|month|year|weekend)"
            r"|(?:earlier|later)\s+(?:this|that|in\s+the)\s+(?:day|week|month|year))\b",
        )
    ),
    re.IGNORECASE,
)
_RELATIVE_START = re.compile(r"(?:yesterday|today|tonight|overnight|last|earlier|later|early|late|mid)\b")


@dataclass(frozen=True)
class Candidates:
    """The names, numbers and date phrases of one document, in order of first appearance.

    ``strict``: offered without a free-text twin (see the module's docstring).
    """

    names: tuple[str, ...]
    numbers: tuple[int, ...]
    dates: tuple[str, ...] = ()
    strict: bool = False


def find_dates(text: str) -> tuple[str, ...]:
    """The date phrases of ``text``, as written (white space folded), in order of first appearance.

    A phrase in lower case must start with a word of time ("yesterday", "last", "late"); "May" and
    "March" alone count only after a word such as "in" or "since", so that the verbs are not dates.
    """
    found: dict[str, None] = {}
    for m in _DATE_PHRASES.finditer(text):
        phrase = " ".join(m.group(0).split())
        if phrase[0].islower() and not _RELATIVE_START.match(phrase):
            continue  # "monday" in a URL, "march" the verb
        if phrase in ("May", "March") and not _month_context(text, m.start()):
            continue  # "May" opening a sentence is usually the verb
        found.setdefault(phrase, None)
    return tuple(found)


def _month_context(text: str, start: int) -> bool:
    """Whether a bare "May" or "March" reads as a month: after "in", "since", "until", "of", "last", "early"..."""
    before = text[max(0, start - 12) : start].lower().split()
    return bool(before) and before[-1] in {"in", "since", "until", "of", "last", "early", "late", "mid", "by", "from"}


def find_candidates(text: str, strict: bool = False) -> Candidates:
    """The candidate names (with designations), numbers and date phrases of ``text``."""
    words = _WORD.findall(text)
    lower_words = {w for w in words if w[0].islower()}
    inner_capitals: set[str] = set()
    sentences = [s.text for s in split_sentences(text, max_chars=10_000)]
    for sentence in sentences:
        inner_capitals.update(w for _, w, first in _words(sentence) if not first and w[:1].isupper())
    lower_titles = {w.capitalize() for w in lower_words}  # "Rebel" of "Rebel groups" where "rebel" is a word
    names: dict[str, None] = {}
    for sentence in sentences:
        for run in _capitalised_runs(sentence, lower_words, inner_capitals):
            names.setdefault(run, None)
            if " " in run:
                for word in run.split():
                    if word[0].isupper() and len(word) > 1 and word not in _FUNCTION_WORDS and word not in lower_titles:
                        names.setdefault(word, None)
    for m in _DESIGNATION.finditer(text):
        names.setdefault(m.group(0), None)
    folded = set(tokens(text))
    numbers = {n for n in numbers_in(_DESIGNATION.sub(" ", text)) if n < MAX_NUMBER} | {1}
    numbers |= {value for word, value in VAGUE_QUANTITIES.items() if word in folded}
    if "both" in folded:
        numbers.add(2)
    dates = find_dates(text)
    return Candidates(tuple(n for n in names if n not in dates), tuple(sorted(numbers)), dates, strict)


def _words(sentence: str) -> list[tuple[str, str, bool]]:
    """(the text between the previous word and this one, the word without a possessive, first in its sentence)."""
    out = []
    end = 0
    for k, m in enumerate(_WORD.finditer(sentence)):
        word = re.sub(r"['’]s$", "", m.group(0))
        gap = sentence[end : m.start()]
        opening = gap.strip() in ('"', "“", "‘", "'") and not sentence[:end].strip()
        after_dateline = "—" in gap or " - " in gap or "--" in gap  # "BEIRUT (AP) — Rebels ..."
        out.append((gap, word, k == 0 or opening or after_dateline))
        end = m.end()
    return out


def _capitalised_runs(sentence: str, lower_words: set[str], inner_capitals: set[str]) -> list[str]:
    """Runs of capitalised words (with name connectors inside) in one sentence."""
    runs: list[list[str]] = []
    current: list[str] = []
    pending: list[str] = []  # connectors after a capitalised word, kept if another capitalised word follows
    doubtful = False  # the run starts with a sentence's first word that is not known as a name

    def close() -> None:
        nonlocal doubtful
        if current and not (doubtful and len(current) == 1):
            runs.append(current[:MAX_NAME_WORDS])
        current[:] = []
        pending[:] = []
        doubtful = False

    for gap, word, first in _words(sentence):
        if gap.strip():  # punctuation between two words ends a name
            close()
        parts = word.split("-")
        capital = word[0].isupper() and not (len(parts) > 1 and parts[-1].islower())
        if capital:
            if word in _FUNCTION_WORDS or word.lower() in NUMBER_WORDS or word.lower() in VAGUE_QUANTITIES:
                close()
                continue
            if not current:
                dateline = word.isupper() and len(word) >= 3  # "BEIRUT (AP) —": a place
                doubtful = first and not dateline and (word.lower() in lower_words or word not in inner_capitals)
            current.extend(pending)
            pending[:] = []
            current.append(word)
        elif current and word.lower() in _CONNECTORS and (word.lower() != "the" or pending):
            pending.append(word)
        elif current and word.startswith(("al-", "el-")) and word[3:4].isupper():
            current.extend(pending)
            pending[:] = []
            current.append(word)
        else:
            close()
    close()
    # a run of three or more words in capitals is a shouted headline, not a name
    return [" ".join(r) for r in runs if not (len(r) >= 3 and all(w.isupper() for w in r))]
