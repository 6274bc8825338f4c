"""The Wikipedia Syria aviation list: one document per dated entry, markup stripped, reserved incidents dropped."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from extract.training.sources.wikipedia_syria import clean, parse, write_articles

# Invented entries in the list's format (front matter, intro, year headings, roundel names, bold counts).
SNIPPET = """---
subject: A list
date: []
---

The list below includes both manned and unmanned aircraft.

## 2013
 * Roundel of Syria.svg 3 February 2013 – A [[Mil Mi-2|Mi-2]] was downed near Exampleville.<ref>ref</ref>
 * Roundel of Syria.svg 3 February 2013 - A second drone **crashed**  in the desert.[1]
 * Roundel of Syria.svg (**2**) 9 March 2013 –Two L-39s were destroyed on the ground by rocket fire.
 * Roundel of Syria.svg May 2013 – An entry with no day.


## 2016
 * Roundel of the USAF.svg 4 April 2016– A drone crashed near <b>Testtown</b> &amp; burned.
 * 5 May 2016 - A Mi-17 made a hard landing in Syria.


## Totals
 * 1 January 2020 – Not an entry: below the year headings.
"""


def test_entries_are_the_text_after_the_date_without_markup() -> None:
    parsed = parse(SNIPPET, skip={})
    texts = {e.id: e.text for e in parsed.entries}
    assert texts == {
        "wiki-syria-2013-02-03-1": "A Mi-2 was downed near Exampleville.",
        "wiki-syria-2013-02-03-2": "A second drone crashed in the desert.",
        "wiki-syria-2013-03-09-1": "Two L-39s were destroyed on the ground by rocket fire.",
        "wiki-syria-2016-04-04-1": "A drone crashed near Testtown & burned.",
    }
    assert parsed.entries[0].date == dt.date(2013, 2, 3)
    assert parsed.undated == ["Roundel of Syria.svg May 2013 – An entry with no day."]


def test_reserved_and_hand_excluded_entries_are_dropped_with_their_reason() -> None:
    parsed = parse(SNIPPET, skip={"wiki-syria-2013-03-09-1": "kept back"})
    dropped = {e.id: reason for e, reason in parsed.dropped}
    assert dropped["wiki-syria-2013-03-09-1"] == "kept back"
    assert dropped["wiki-syria-2016-05-05-1"].startswith("seed: Mi-8")
    assert "wiki-syria-2013-03-09-1" not in {e.id for e in parsed.entries}


def test_ids_count_entries_of_one_date_in_list_order_even_when_one_is_dropped() -> None:
    parsed = parse(SNIPPET, skip={"wiki-syria-2013-02-03-1": "kept back"})
    assert [e.id for e in parsed.entries][:1] == ["wiki-syria-2013-02-03-2"]


def test_clean_keeps_sentences_and_drops_markup() -> None:
    assert clean("It was [hit](http://x) by a <i>MANPADS</i>.[12]  The pilot ejected.") == (
        "It was hit by a MANPADS. The pilot ejected."
    )


def test_write_articles(tmp_path: Path) -> None:
    parsed = parse(SNIPPET, skip={})
    paths = write_articles(parsed.entries, tmp_path)
    assert len(paths) == 4
    assert (tmp_path / "articles" / "wiki-syria-2013-02-03-1.txt").read_text(encoding="utf-8") == (
        "A Mi-2 was downed near Exampleville.\n"
    )
