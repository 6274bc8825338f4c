"""Text addressed to the model: a check run on every document before it is extracted.

An article is data, but a hostile one may carry instructions for whatever model reads
it ("ignore the previous instructions"), chat-control tokens of some model family
(``<end_of_turn>``, ``<|im_start|>``, ``[INST]``), fake role markers ("SYSTEM:"), our own
article tags, or a ready-made answer in our output format. None of that belongs in a
news report. :func:`scan` finds it, after undoing the disguises that fool a plain
search: compatibility forms (fullwidth ``＜``), invisible format characters (zero-width
spaces, Unicode tag characters, which can also spell hidden ASCII), and Cyrillic or
Greek letters that look like Latin ones.

A hit does not change the extraction: it is recorded on the document's record
(``flags: ["injection_suspected"]``) so that a reviewer looks at what the model made
of it. :func:`normalize` is also used by the prompt renderer to find look-alikes of
the article tags.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

#: The flag written on a record whose document holds text addressed to the model.
INJECTION_FLAG = "injection_suspected"

# Letters of other scripts drawn like Latin ones, as used to disguise words. Only the
# common look-alikes: enough to undo "ignоre" with a Cyrillic o, not a full confusables table.
_CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
        "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l",
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
        "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J",
        # Greek
        "α": "a", "ο": "o", "ρ": "p", "ν": "v", "ι": "i", "κ": "k", "τ": "t", "υ": "u", "χ": "x", "ε": "e",
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
        "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    }
)  # fmt: skip

# Angle brackets NFKC leaves alone, one for one (so that the index map stays one character each).
_BRACKETS = str.maketrans(
    {"‹": "<", "›": ">", "〈": "<", "〉": ">", "⟨": "<", "⟩": ">", "❮": "<", "❯": ">", "⧼": "<", "⧽": ">"}
)


def _is_invisible(ch: str) -> bool:
    """A format character (zero-width space and joiners, BOM, bidi marks, tag characters, soft hyphen)."""
    return unicodedata.category(ch) == "Cf"


def normalize(text: str) -> tuple[str, Sequence[int]]:
    """``text`` as a plain search sees it, and for each character of the result its index in ``text``.

    NFKC per character (fullwidth and other compatibility forms become ASCII), format
    characters dropped, and, in a word that mixes Latin letters with look-alikes from
    another script ("ignоre" with a Cyrillic o), the look-alikes mapped to Latin. A word
    wholly in Cyrillic or Greek is left as it is. The index map lets a caller act on the
    original span of a match.

    Every document passes through here twice (the check and the prompt), so the work is done
    only where it can change something: ASCII is its own NFKC form and holds no format
    character or look-alike, so only the other characters are looked at, each once. A text
    whose other characters all stay as they are (curly quotes, dashes, accented letters) is
    its own plain form.
    """
    if text.isascii():
        return text, range(len(text))
    pieces = {
        ch: "" if _is_invisible(ch) else unicodedata.normalize("NFKC", ch) for ch in set(_NON_ASCII.findall(text))
    }
    where: Sequence[int]
    if all(piece == ch for ch, piece in pieces.items()):  # curly quotes, dashes, accented letters: one for one
        plain, where = text, range(len(text))
    else:
        chars: list[str] = []
        listed: list[int] = []
        last = 0
        for run in _NON_ASCII_RUN.finditer(text):
            start, end = run.span()
            chars.append(text[last:start])
            listed.extend(range(last, start))
            for k in range(start, end):
                piece = pieces[text[k]]
                chars.append(piece)
                listed.extend([k] * len(piece))
            last = end
        chars.append(text[last:])
        listed.extend(range(last, len(text)))
        plain, where = "".join(chars), listed
    if any(ord(ch) in _BRACKETS for piece in pieces.values() for ch in piece):
        plain = plain.translate(_BRACKETS)  # one for one: the index map holds
    if not _LOOKALIKE.search(plain):
        return plain, where
    return _WORD.sub(lambda m: _latinise(m.group(0)), plain), where


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
_LOOKALIKE = re.compile("[" + re.escape("".join(chr(c) for c in _CONFUSABLES)) + "]")
_WORD = re.compile(r"[^\W\d]+(?:_[^\W\d]+)*")
_LATIN = re.compile(r"[A-Za-z]")


def _latinise(word: str) -> str:
    """A word mixing Latin letters with look-alikes, in Latin letters; any other word unchanged."""
    mapped = word.translate(_CONFUSABLES)
    return mapped if mapped != word and _LATIN.search(word) and len(mapped) == len(word) else word


def hidden_runs(text: str, min_length: int = 8) -> list[tuple[int, str]]:
    """(start, ASCII) for each run of Unicode tag characters spelling at least ``min_length`` characters.

    Tag characters are invisible on screen but some models read them. A flag emoji uses a short
    run (🏴 + "gbsct" + cancel), which is left alone.
    """
    runs: list[tuple[int, str]] = []
    for match in _TAG_RUN.finditer(text):
        spelled = "".join(chr(ord(ch) - 0xE0000) for ch in match.group(0) if 0x20 <= ord(ch) - 0xE0000 < 0x7F)
        if len(spelled) >= min_length:
            runs.append((match.start(), spelled))
    return runs


_TAG_RUN = re.compile("[\U000e0000-\U000e007f]+")


@dataclass(frozen=True)
class Hit:
    """One passage addressed to the model: which rule found it and what it says (normalised)."""

    rule: str
    excerpt: str
    start: int


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.MULTILINE)


_WORDS = r"(?:instructions?|prompts?|rules|guidelines|directives)"
# An order given to the reader: at the start of a sentence, a line or a quote, or after "please".
_IMPERATIVE = r"(?:^|(?<=[.:;!?\"“”'‘’(\[])|\bplease\b|\bnow\b|\bso\b)\s*"
_EARLIER = r"(?:previous|prior|preceding|above|earlier|original|system|initial|foregoing|your)"


@dataclass(frozen=True)
class _Rule:
    """A way of talking to a model that a news report has no reason to use.

    ``pattern`` finds it in the normalised text. ``needs`` lists phrases of which every match of
    ``pattern`` contains at least one, as :func:`_folded` writes them (lower case, white space
    as one space). A text without any of them skips ``pattern``: these alternations with
    look-behinds are tried at every character, which takes over a millisecond for a
    2,000-character article, where looking for a few phrases takes microseconds. An empty
    ``needs`` always runs the pattern. ``tests/test_injection.py`` checks that the rules find
    the same with and without the phrases, on every article at hand and on generated text.
    """

    name: str
    pattern: re.Pattern[str]
    needs: tuple[str, ...] = ()


def _folded(plain: str) -> str:
    """``plain`` as the ``needs`` phrases are written: case folded as ignore-case matching sees it, single spaces.

    The regular expressions also take a dotless i for an i, and a capital I with a dot above
    for an i; case folding keeps those apart, so they are mapped here.
    """
    return " ".join(plain.casefold().translate(_FOLD_ALSO).split())


_FOLD_ALSO = str.maketrans({"ı": "i", "\u0307": None})

_ADDRESSED = ("note", "message", "instruction", "instructions", "notice", "reminder", "attention", "memo")
_READING = ("reading", "processing", "parsing", "summarising", "summarizing", "analysing", "analyzing")

#: Searched in the normalised text, in order. The benign near-misses ("the pilot ignored
#: instructions from the tower", "the assistant minister said") are in the false-positive tests.
_RULES: tuple[_Rule, ...] = (
    _Rule(
        "control_token",
        _rx(
            r"<\|\s*[a-z_]{2,30}\s*\|>|<\s*/?\s*(?:start_of_turn|end_of_turn|bos|eos|s)\s*>"
            r"|\[\s*/?\s*INST\s*\]|<<\s*/?\s*SYS\s*>>|<\s*/?\s*(?:system|assistant|user|im_start|im_end)\s*>"
        ),
    ),
    _Rule("article_tag", _rx(r"<\s*/?\s*article\b[^>]*>")),
    _Rule(
        "role_marker",
        _rx(r"^[\s#>*\[(-]*(?:system|assistant|user|human|developer)\s*(?:prompt|message)?\s*[\]):：]"),
    ),
    _Rule(
        "override",
        _rx(
            rf"{_IMPERATIVE}(?:ignore|disregard|forget|override)\b[^.\n]{{0,40}}?\b{_EARLIER}\b[^.\n]{{0,20}}?\b{_WORDS}"
            rf"|{_IMPERATIVE}(?:ignore|disregard|forget)\s+(?:all|any|every)\s+(?:of\s+)?(?:the\s+|your\s+)?{_WORDS}"
            rf"|\bnew\s+{_WORDS}\s*:|\byou\s+are\s+now\s+(?:a|an|in)\b|\bsystem\s+prompt\b"
            r"|\b(?:developer|debug|god|jailbreak)\s+mode\b"
        ),
        ("instruction", "prompt", "rules", "guideline", "directive", "you are now", " mode"),
    ),
    _Rule(
        "addressed_to_model",
        _rx(
            r"\b(?:note|message|instructions?|notice|reminder|attention|memo)\s+(?:to|for)\s+(?:any\s+|all\s+|the\s+)?"
            r"(?:ai|a\.i\.|llms?|language\s+models?|models?|assistants?|chatbots?|bots?|automated\s+\w+|machine\s+readers?"
            r"|summari[sz]ers?|extractors?|extraction\s+(?:systems?|tools?|models?)|parsers?|crawlers?|coders?)\b"
            r"|\b(?:(?:ai|a\.i\.)(?:\s+(?:systems?|models?|tools?|assistants?|agents?))?|llms?|language\s+models?|chatbots?"
            r"|automated\s+(?:systems?|tools?|coders?)|extraction\s+(?:systems?|tools?|models?))\s+(?:reading|processing|parsing|summari[sz]ing|analy[sz]ing)"
            r"\s+(?:this|these)\b"
            r"|\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|language\s+model|assistant|model|bot)\b"
            r"|\bas\s+an\s+ai\b|\b(?:respond|reply|answer|output)\s+only\s+with\b"
        ),
        (
            *(f"{word} {to} " for word in _ADDRESSED for to in ("to", "for")),
            *(f" {verb} th" for verb in _READING),
            "if you are ",
            "as an ai",
            "only with",
        ),
    ),
    _Rule(
        "override_foreign",
        _rx(
            r"\bignor(?:ez|e|er)\s+(?:toutes\s+)?(?:les\s+)?(?:instructions|consignes)\s+(?:precedentes|précédentes|ci-dessus)"
            r"|\bignora(?:d)?\s+(?:todas\s+)?(?:las\s+)?instrucciones\s+(?:anteriores|previas)"
            r"|\bignorier(?:e|en\s+sie)?\s+(?:alle\s+)?(?:vorherigen|bisherigen|obigen)\s+(?:anweisungen|instruktionen)"
            r"|\bignora\s+(?:tutte\s+)?(?:le\s+)?istruzioni\s+precedenti"
            r"|игнорируй(?:те)?\s+(?:все\s+)?(?:предыдущие|прежние|вышеуказанные)\s+(?:инструкции|указания)"
            r"|تجاهل\s+(?:جميع\s+|كل\s+)?(?:التعليمات|الأوامر)\s+(?:السابقة|أعلاه)"
            r"|忽略(?:之前|以上|先前|前面)的?(?:所有)?(?:指令|指示|说明)"
            r"|以前の指示を無視"
        ),
        ("ignor", "игнорируй", "تجاهل", "忽略", "以前の指示を無視"),
    ),
    _Rule("planted_answer", _rx(r"[{\[]\s*[\"']incidents[\"']\s*:")),
)


def scan(text: str) -> list[Hit]:
    """Every passage of ``text`` addressed to a model, in order; empty for an ordinary article."""
    plain, where = normalize(text)
    hits: list[Hit] = []
    folded = _folded(plain)
    for rule in _RULES:
        if rule.needs and not any(phrase in folded for phrase in rule.needs):
            continue
        for match in rule.pattern.finditer(plain):
            found = match.group(0)
            at = match.start() + len(found) - len(found.lstrip())  # past the white space a rule may take in
            start = where[at] if at < len(where) else len(text)
            hits.append(Hit(rule.name, " ".join(found.split())[:80], start))
    for start, hidden in hidden_runs(text):
        hits.append(Hit("hidden_text", hidden[:80], start))
        hits.extend(Hit(f"hidden_text:{h.rule}", h.excerpt, start) for h in scan(hidden))
    return sorted(hits, key=lambda h: h.start)


def document_flags(text: str) -> list[str]:
    """The flags a document's record carries: ``["injection_suspected"]`` or none."""
    return [INJECTION_FLAG] if scan(text) else []
