"""Upper-case wire text (MUC-3/4) recased like ordinary news, labels and all.

Most MUC messages are in capitals and hard-wrapped at 70 columns. A small model trained on
them learns that incidents live in capitals: asked about ordinary mixed-case news, it answered
nothing. Recasing keeps every character's position (only letter case changes, and a single line
break becomes a space), so each label's quote is re-read at the same offsets of the new text.
The rules are plain and fallible: lower case, sentence starts capitalised, the month and day
names and every word of the document's own labelled names title-cased, and short labelled
names (FMLN, ELN) kept in capitals. What they get wrong (a name no label mentions stays lower
case) is noise the model sees in ordinary news too.
"""

from __future__ import annotations

import re
from typing import Any

from extract.training.examples import Labelled

_CALENDAR = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
}  # fmt: skip
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_SENTENCE_START = re.compile(r"(^|[.!?]\s+|\n\s*|--\s*|\]\s+)([a-z])")
_NAME_FIELDS = {"place", "near", "admin1", "country", "name", "model", "operator"}


def _names(incidents: tuple[dict[str, Any], ...]) -> set[str]:
    """The words of the labelled proper names, upper-cased."""
    words: set[str] = set()

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list | tuple):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and key in _NAME_FIELDS:
            words.update(w.upper() for w in _WORD.findall(node))

    walk(incidents)
    return words


#: An acronym is written before its expansion in brackets, or alone in parentheses: "FMLN [FARABUNDO ...]".
_ACRONYM = re.compile(r"\b([A-Z]{2,6})\s*\[|\(([A-Z]{2,6})\)")


def _acronyms(text: str) -> set[str]:
    return {a or b for a, b in _ACRONYM.findall(text)}


def _word_case(word: str, names: set[str], acronyms: frozenset[str] = frozenset()) -> str:
    upper = word.upper()
    if upper in acronyms:
        return upper
    if upper in names:
        return "-".join(part.capitalize() for part in word.split("-"))
    if word.lower() in _CALENDAR:
        return word.capitalize()
    return word.lower()


def _title(text: str) -> str:
    return re.sub(r"\b[a-z]", lambda c: c.group(0).upper(), text)


def _recase_words(value: str, names: set[str], acronyms: frozenset[str]) -> str:
    """Each word in the case of its kind (a labelled name, an acronym, a month or day, any other word)."""
    return _WORD.sub(lambda m: _word_case(m.group(0), names, acronyms), value)


def recase_text(text: str, names: set[str]) -> str:
    """``text`` in sentence case with ``names`` capitalised; same length, same positions."""
    out = _recase_words(text, names, frozenset(_acronyms(text)))
    out = re.sub(r"(?<!\n)\n(?!\n)", " ", out)
    out = _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), out)
    # words inside [brackets] are expansions of names: "[farabundo marti ...]"
    out = re.sub(r"\[([^\]]+)\]", lambda m: "[" + _title(m.group(1)) + "]", out)
    assert len(out) == len(text)
    return out


def recase(doc: Labelled) -> Labelled:
    """The document and its labels in ordinary case. Only for text that is mostly capitals."""
    letters = [c for c in doc.text if c.isalpha()]
    if not letters or sum(c.isupper() for c in letters) / len(letters) < 0.8:
        return doc
    names = _names(doc.incidents)
    acronyms = frozenset(_acronyms(doc.text))
    text = recase_text(doc.text, names)
    original = doc.text

    def fix(node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            return {k: fix(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v, key) for v in node]
        if isinstance(node, str) and key not in ("type", "status", "kind", "category", "qualifier", "precision", "iso"):
            at = original.find(node)
            if at >= 0:
                return text[at : at + len(node)]  # a quote or a value written as in the article
            at = original.upper().find(node.upper())
            if at >= 0 and key != "summary":
                return text[at : at + len(node)]
            value = _recase_words(node, names, acronyms)
            return value[:1].upper() + value[1:] if key == "summary" else value
        return node

    incidents = tuple(fix(dict(i)) for i in doc.incidents)
    return Labelled(doc.id, text, incidents, doc.source)
