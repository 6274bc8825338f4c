"""Grounding: find each evidence quote in the article and say how it was found.

``exact``: the quote occurs verbatim. ``fuzzy``: it occurs after folding case,
white space and typographic quotes and dashes, or approximately (similarity at or
above the threshold); the span is where it aligned. ``not_found``: neither, which
usually means the model invented or paraphrased it.
"""

from __future__ import annotations

from rapidfuzz import fuzz

from extract.core.records import Alignment, EvidenceSpan

#: Similarity (0-1) at or above which an approximate match counts as fuzzy.
FUZZY_THRESHOLD = 0.85

_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201b": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
    }
)


def _fold(text: str) -> tuple[str, list[int]]:
    """Lower-case, fold typographic characters, collapse white space.

    Returns the folded text and, for each of its characters, the offset of the
    character in ``text`` it came from.
    """
    out: list[str] = []
    index: list[int] = []
    prev_space = True
    for k, ch in enumerate(text.translate(_FOLD)):
        if ch.isspace():
            if prev_space:
                continue
            out.append(" ")
            index.append(k)
            prev_space = True
        else:
            out.append(ch.lower())
            index.append(k)
            prev_space = False
    if out and out[-1] == " ":
        out.pop()
        index.pop()
    return "".join(out), index


class Grounder:
    """Locates quotes in one document; folds the document once."""

    def __init__(self, text: str, threshold: float = FUZZY_THRESHOLD):
        self.text = text
        self.threshold = threshold
        self._folded: tuple[str, list[int]] | None = None

    def _fold_doc(self) -> tuple[str, list[int]]:
        if self._folded is None:
            self._folded = _fold(self.text)
        return self._folded

    def locate(self, quote: str, path: str = "") -> EvidenceSpan:
        quote = quote.strip()
        if not quote:
            return EvidenceSpan(path=path, quote=quote, alignment=Alignment.NOT_FOUND, score=0.0)
        start = self.text.find(quote)
        if start >= 0:
            return EvidenceSpan(
                path=path, quote=quote, alignment=Alignment.EXACT, start=start, end=start + len(quote), score=1.0
            )
        folded, index = self._fold_doc()
        fq, _ = _fold(quote)
        if not fq or not folded:
            return EvidenceSpan(path=path, quote=quote, alignment=Alignment.NOT_FOUND, score=0.0)
        pos = folded.find(fq)
        if pos >= 0:
            return self._span(path, quote, index, pos, pos + len(fq), 1.0)
        cutoff = self.threshold * 100
        hit = fuzz.partial_ratio_alignment(fq, folded, score_cutoff=cutoff)
        if hit is None or hit.score < cutoff or hit.dest_end <= hit.dest_start:
            return EvidenceSpan(path=path, quote=quote, alignment=Alignment.NOT_FOUND, score=0.0)
        return self._span(path, quote, index, hit.dest_start, hit.dest_end, round(hit.score / 100, 4))

    @staticmethod
    def _span(path: str, quote: str, index: list[int], fstart: int, fend: int, score: float) -> EvidenceSpan:
        start = index[fstart]
        end = index[fend - 1] + 1
        return EvidenceSpan(path=path, quote=quote, alignment=Alignment.FUZZY, start=start, end=end, score=score)


def ground(quote: str, text: str, path: str = "", threshold: float = FUZZY_THRESHOLD) -> EvidenceSpan:
    """Locate one quote in one text (see :class:`Grounder` for many quotes)."""
    return Grounder(text, threshold).locate(quote, path)
