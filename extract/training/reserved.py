"""Incidents that no training or tuning data may report.

The seed articles are the test set, and a list of further incidents is kept back for
measurement from outside the project. Every training source runs each document through
:func:`reserved_reason` and drops what it names. The rule is deliberately wide: a
document is dropped when it names the aircraft (or the place) of a reserved incident
together with its year, whatever else it says, so that a background mention counts too.

The held-out evaluation sets (:data:`HELD_OUT_EVALS`) are kept out by document id: the
training loader drops every document whose id is a label id of one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from extract.core.errors import ConfigError

#: Evaluation sets no training source may draw on, as folders of the repository (each holds ``labels/<id>.json``).
HELD_OUT_EVALS: tuple[str, ...] = ("evals/crossdoc-dev", "evals/crossdoc-test")

_REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Reserved:
    """One incident kept out of training data."""

    name: str
    #: Years in which a report of it could be written (the event's year and the next).
    years: tuple[int, ...]
    #: Any of these (case-insensitive regular expressions) together with a year marks a report.
    marks: tuple[str, ...]
    #: These alone mark a report, with or without a year.
    always: tuple[str, ...] = ()
    #: Groups of patterns that, all found together, mark a report with or without a year.
    together: tuple[tuple[str, ...], ...] = ()


RESERVED: tuple[Reserved, ...] = (
    # The seeds' own incidents: the seeds are the test.
    Reserved(
        "seed: Su-25 near Saraqeb (Feb 2018)",
        (2018, 2019),
        (r"su-?25", r"sukhoi[- ]25", r"saraq[ei]b", r"sarqeb"),
        together=((r"su-?25|sukhoi[- ]25", r"syria|idlib"), (r"saraq[ei]b|sarqeb", r"shot down|downed|pilot")),
    ),
    Reserved(
        "seed: Mi-8 over Idlib (Aug 2016)",
        (2016, 2017),
        (r"mi-?8(?!\d)", r"mi-?17(?!\d)"),
        together=((r"mi-?8(?!\d)|mi-?17(?!\d)", r"syria|idlib"), (r"helicopter", r"idlib", r"russian")),
    ),
    # Kept back for measurement from outside.
    Reserved(
        "Su-24 downed by Turkey (Nov 2015)",
        (2015, 2016),
        (r"su-?24", r"sukhoi[- ]24"),
        together=((r"su-?24|sukhoi[- ]24", r"turk"),),
    ),
    Reserved("Il-20 lost off Latakia (Sep 2018)", (2018, 2019), (r"il-?20(?!\d)", r"ilyushin[- ]20(?!\d)"), ()),
    Reserved("Su-22 downed near Raqqa (Jun 2017)", (2017, 2018), (r"su-?22", r"sukhoi[- ]22"), ()),
    Reserved("Israeli F-16 and Iranian drone (Feb 2018)", (2018, 2019), (r"f-?16", r"sa[e']?[gq]h?eh", r"shahed"), ()),
    Reserved(
        "helicopter downed near Palmyra (Jul 2016)", (2016, 2017), (r"palmyra", r"tadmur", r"mi-?2[45](?!\d)"), ()
    ),
    Reserved(
        "helicopters downed near Idlib and Aleppo (Feb 2020)",
        (2020, 2021),
        (r"helicopter",),
        (),
    ),
    Reserved("Il-76 at Luhansk (Jun 2014)", (2014, 2015), (r"il-?76", r"ilyushin[- ]76"), ()),
    Reserved("MiG-23 at Kasab (Mar 2014)", (2014, 2015), (r"mig-?23", r"kas[s]?ab"), ()),
    Reserved("Mi-28N near Homs (Apr 2016)", (2016, 2017), (r"mi-?28",), together=((r"mi-?28", r"homs|syria"),)),
    Reserved("MH17", (), (), (r"\bmh-?17\b", r"malaysia airlines flight 17", r"malaysian airlines flight 17")),
    Reserved("Su-24s over Idlib (Mar 2020)", (2020, 2021), (r"su-?24", r"sukhoi[- ]24"), ()),
)

_YEAR = re.compile(r"\b(19|20)\d\d\b")
#: Places that tie the Feb 2020 helicopters and the Su-24s to Syria (a helicopter in 2020 elsewhere is fine).
_SYRIA = re.compile(r"syria|idlib|aleppo|hama|latakia|homs|damascus|raqqa|deir|daraa", re.IGNORECASE)


def reserved_reason(text: str, *, years: set[int] | None = None) -> str | None:
    """The reserved incident a document may report, or None when it is free to use.

    ``years`` are the years the document is known to be about (its publication date, a
    label's date); the years written in the text are added to them.
    """
    found = {int(m.group(0)) for m in _YEAR.finditer(text)} | set(years or ())
    lowered = text.lower()
    for item in RESERVED:
        if any(re.search(p, lowered) for p in item.always):
            return item.name
        if any(all(re.search(p, lowered) for p in group) for group in item.together):
            return item.name
        if not item.marks or not (found & set(item.years)):
            continue
        if any(re.search(p, lowered) for p in item.marks):
            if item.years[0] in (2020,) and not _SYRIA.search(text):
                continue
            return item.name
    return None


def held_out_ids(root: str | Path | None = None) -> dict[str, str]:
    """The document ids of the held-out evaluation sets, each mapped to the set's folder (as declared).

    ``root`` is the repository (default: the one this package sits in). Without an ``evals/``
    folder (an installed package) there is nothing to hold out; with one, a declared set that
    is missing is an error, so that a moved or renamed set cannot silently stop being held out.
    """
    base = Path(root) if root is not None else _REPO
    if not (base / "evals").is_dir():
        return {}
    ids: dict[str, str] = {}
    for folder in HELD_OUT_EVALS:
        labels = base / folder / "labels"
        if not labels.is_dir():
            raise ConfigError(
                f"{base / folder}: held-out evaluation set not found",
                hint=f"restore it or update HELD_OUT_EVALS in {Path(__file__).name}",
            )
        ids.update((path.stem, folder) for path in labels.glob("*.json"))
    return ids
