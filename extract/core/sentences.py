"""An article as numbered sentences, each with its character offsets.

The model can then cite evidence by number (``[3]``) instead of copying a quote, and the
pipeline turns the numbers back into exact text and offsets. The splitter is rule-based and
written for news text:

* every line is at least its own unit, so a headline, a byline or a caption without a full
  stop never runs into the sentence after it; a line that breaks mid-sentence (hard-wrapped
  text: the next line starts in lower case) is joined to the next one;
* a sentence ends at ``.``, ``!``, ``?`` or an ellipsis, after any closing quotes or brackets,
  where white space and then a capital, a digit or an opening quote follow;
* not after a title or an abbreviation (``Gen.``, ``Lt. Col.``, ``Jan.``), an initial or
  a dotted acronym (``U.S.``, ``U.N.``), and never inside a number (``2.5``);
* a dateline (``BEIRUT (AP) —``) stays with the sentence it opens;
* a sentence longer than ``max_chars`` is cut into numbered spans at the best break inside
  it (a semicolon, a dash, a colon, a comma, else a space), so that one citation never
  stands for a whole paragraph.

Spans never overlap, come in text order, and cover every character of the text that is not
white space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Spans longer than this are cut at an inner break (characters).
MAX_SPAN_CHARS = 400

# Abbreviations after which a full stop does not end a sentence. Case matters: "No." is
# an abbreviation before a number, "no." ends a sentence.
_ABBREVIATIONS = frozenset(
    word
    for line in (
        "Mr Mrs Ms Mx Dr Prof Sr Jr St Mt Ft Rev Hon Messrs",
        "Gen Lt Col Maj Capt Cpt Sgt Cpl Pvt Adm Brig Cmdr Cdr Gov Sen Rep Pres Supt Insp Amb Sec Atty",
        "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Mon Tue Tues Wed Thu Thur Thurs Fri Sat Sun",
        "No Nos Vol Art Fig Dept Univ Inc Corp Co Ltd Bros Assn Ave Blvd Rd Hwy approx est vs etc al cf ca",
    )
    for word in line.split()
)

_END = re.compile(r"(?:\.{3}|…|[.!?])+[\"'”’)\]]*")
_NEXT_STARTS = re.compile(r"\s+[\"'“‘(\[]*(\w)")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_ACRONYM = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]?$")
# Where to cut a long sentence, best first.
_INNER_BREAKS = (
    re.compile(r";\s+"),
    re.compile(r"\s+[—–]\s+|\s+--\s+"),
    re.compile(r":\s+"),
    re.compile(r",\s+"),
    re.compile(r"\s+"),
)
_LINE_END = re.compile(r"[.!?…:;\"'”’)\]]\s*$")


@dataclass(frozen=True)
class Sentence:
    """One numbered span of a text: ``text[start:end]``, numbered from 1."""

    number: int
    start: int
    end: int
    text: str


def split_sentences(text: str, max_chars: int = MAX_SPAN_CHARS) -> tuple[Sentence, ...]:
    """The numbered sentences (and spans of long sentences) of ``text``, in order."""
    if max_chars < 20:
        raise ValueError(f"max_chars must be at least 20, got {max_chars}")
    spans: list[tuple[int, int]] = []
    for start, end in _blocks(text):
        for s, e in _sentences_in(text, start, end):
            spans.extend(_cut_long(text, s, e, max_chars))
    return tuple(Sentence(k + 1, s, e, text[s:e]) for k, (s, e) in enumerate(spans))


def number_text(sentences: tuple[Sentence, ...] | list[Sentence]) -> str:
    """The sentences one per line, each after its number in brackets: how the model sees them."""
    return "\n".join(f"[{s.number}] {' '.join(s.text.split())}" for s in sentences)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _blocks(text: str) -> list[tuple[int, int]]:
    """Lines with text, a line that breaks mid-sentence joined to the next."""
    lines = []
    pos = 0
    for line in text.splitlines(keepends=True):
        s, e = _trim(text, pos, pos + len(line))
        if e > s:
            lines.append((s, e))
        pos += len(line)
    blocks: list[tuple[int, int]] = []
    for s, e in lines:
        if blocks:
            ps, pe = blocks[-1]
            joined = text[pe:s].count("\n") == 1 and not _LINE_END.search(text[ps:pe]) and text[s].islower()
            if joined:
                blocks[-1] = (ps, e)
                continue
        blocks.append((s, e))
    return blocks


def _sentences_in(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    begin = start
    for mark in _END.finditer(text, start, end):
        follow = _NEXT_STARTS.match(text, mark.end(), end)
        if follow is None or not (follow.group(1).isupper() or follow.group(1).isdigit()):
            continue  # the next word starts in lower case: the sentence goes on
        if _abbreviated(text, begin, mark):
            continue
        out.append((begin, mark.end()))
        begin = _trim(text, follow.start(), follow.end())[0]
    if begin < end:
        out.append((begin, end))
    return [span for span in (_trim(text, s, e) for s, e in out) if span[1] > span[0]]


def _abbreviated(text: str, begin: int, mark: re.Match[str]) -> bool:
    """Whether the full stop at ``mark`` belongs to an abbreviation, an initial or an acronym."""
    if mark.group(0) != ".":
        return False
    word = _WORD_BEFORE.search(text, begin, mark.start())
    if word is None:
        return False
    token = word.group(1)
    if "." in token:  # U.S. / e.g. / a.m.: dotted all through
        return bool(_ACRONYM.match(token + "."))
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isupper())


def _cut_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into pieces of at most ``max_chars`` at the best inner breaks."""
    pieces = []
    while end - start > max_chars:
        cut = _best_cut(text, start, start + max_chars)
        if cut is None:
            cut = (start + max_chars, start + max_chars)
        pieces.append(_trim(text, start, cut[0]))
        start = cut[1]
    pieces.append(_trim(text, start, end))
    return [p for p in pieces if p[1] > p[0]]


def _best_cut(text: str, start: int, limit: int) -> tuple[int, int] | None:
    """(end of this piece, start of the next) at the best break in the second half of the window."""
    floor = start + (limit - start) // 3
    for pattern in _INNER_BREAKS:
        best = None
        for m in pattern.finditer(text, floor, limit):
            keep = m.start() + 1 if not m.group(0)[0].isspace() else m.start()
            best = (keep, m.end())
        if best is not None:
            return best
    return None
