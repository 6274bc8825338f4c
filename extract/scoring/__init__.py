"""Score extracted incidents against gold labels, MUC style.

How a document is scored
------------------------
1. **Alignment.** Predicted incidents are paired one-to-one with gold incidents by an
   optimal assignment over every gold/predicted pair. A pair is possible only when
   the types are the same, listed in :data:`~extract.scoring.comparators.COMPATIBLE_TYPES`
   (aircraft_downing~aircraft_loss, air_strike~missile_strike, missile_strike~shelling,
   armed_clash~other_attack) or the predicted type is one of the gold ``type``
   alternatives, and when, over its slots other than type and primary,
   the prediction earns at least :data:`~extract.scoring.incidents.MIN_AGREEMENT` (25%)
   of the credit the gold incident offers (compatible types are enough when the gold
   incident has nothing but a type). The assignment maximises the total credit of the
   pairs. A prediction left unpaired is a *spurious* incident; a gold incident left
   unpaired is *missing*.
2. **Slots.** Each aligned pair is compared field by field. Every slot gets one
   verdict: correct (COR), partial (PAR), incorrect (INC), missing (MIS: gold has a
   value, the prediction none) or spurious (SPU: the prediction has a value, gold none).
   A value empty on both sides is not counted at all. Every slot of a spurious
   incident is spurious; every slot of a missing incident is missing.
3. **Scores.** precision = (COR + 0.5·PAR) / (COR + PAR + INC + SPU),
   recall = (COR + 0.5·PAR) / (COR + PAR + INC + MIS), F1 their harmonic mean, per field
   and over all slots (micro). Incident detection counts aligned pairs against
   spurious and missing incidents, strictly: a pair whose types differ (aligned for slot
   credit because the types are compatible) is one spurious and one missing incident;
   ``incidents_lenient`` counts it as found.
4. **Grounding.** Every predicted quote is located in the article again
   (:mod:`extract.scoring.grounding`); the rate reported is the measured one, and where
   the run file's ``evidence`` said otherwise is listed.
5. **Research metrics.** GTT role-filler F1 and CEAF-REE (:mod:`extract.scoring.research`)
   are reported beside ours, so that results compare with published work.

The fields and how each is counted
----------------------------------
Which fields are scored, how each is compared and what each sub-field weighs are declared
with the field in :mod:`extract.core.schema` (see :mod:`extract.core.fields`); the tables
here are derived from those declarations.

``type``
    one slot; enum, exact (or a gold alternative). Always filled.
``date``
    one slot; correct when the written text matches after normalisation (case,
    punctuation, ordinals, a leading "on"/"in") or both ISO dates are equal; partial
    when one ISO date is a coarser form of the other or the texts are a fuzzy match.
``location``
    one slot, judged on place, near, admin1 and country (weights 4, 3, 2, 1, declared on
    :class:`~extract.core.schema.Location`); a town given as place on one side and near on
    the other is partial.
``aircraft``, ``perpetrators``, ``casualties``, ``sources``
    one slot per item. The items of a list are aligned one-to-one like incidents;
    an unmatched predicted item is spurious, an unmatched gold item missing. Items may
    pair only when perpetrator/source names are at least a partial match, casualty
    kinds are equal, or (aircraft) some gold sub-field agrees.
``weapon``
    one slot, judged on text and category.
``primary``
    one slot when either side marks the incident primary: both -> correct, only gold
    -> missing, only the prediction -> spurious (``false`` is the empty value).

A composite (location, weapon, list item) is correct when every sub-field the gold
fills is correct, partial when at least half of that weight is earned or when some is
earned and nothing given is wrong (a correct but less specific value), incorrect
otherwise; a perpetrator with the right name and status ``confirmed`` for gold
``claimed`` is partial. Sub-fields the prediction fills and the gold does not (with
values that are not accepted alternatives) add one spurious slot to the field, which
lowers precision and not recall, and are counted as spurious in the sub-field table
(``subfields``, e.g. ``location.place``).

Names and places (places, actors, operators, sources, aircraft models, weapon text,
who) match when equal after normalisation and transliteration folding, against the
gold value, its ``alternatives`` and the set's alias table (places without the qualifier
words their fields declare: "Idlib countryside" is "Idlib"); a fuzzy match whose words
pair off as spellings of the same words is partial, and so is a shorter name contained
in a longer one not more than twice its length
(:class:`~extract.scoring.comparators.NameMatcher`). Counts: same count and qualifier is
correct; a count inside the gold qualifier's range is partial, where "at least N" and
"more than N" reach up to 2N and both ends of a predicted range must be inside
(:func:`~extract.scoring.comparators.compare_count`). An empty gold value that lists
alternatives is optional: a prediction matching an alternative is correct, any
other value is spurious.

Also reported: the primary-incident slot accuracy (for each gold primary incident,
the share of its slots the aligned prediction got exactly right; 0 when none is
aligned), the grounding rate (share of predicted evidence spans aligned exactly or
fuzzily) and bootstrap 95% confidence intervals over documents.
"""

from extract.scoring.comparators import (
    ABOUT_TOLERANCE,
    COMPATIBLE_TYPES,
    FUZZY_NAME_THRESHOLD,
    NameMatcher,
    Verdict,
    compare_bool,
    compare_count,
    compare_date,
    compare_enum,
    compare_name,
    count_accepts,
    types_compatible,
)
from extract.scoring.gates import check_gates, resolve_metric
from extract.scoring.incidents import FIELDS, MIN_AGREEMENT, SUBFIELDS, compare_incidents, compare_lists
from extract.scoring.metrics import Counts, DetectionCounts, GroundingCounts
from extract.scoring.normalize import AliasIndex, normalize_date, normalize_name, skeleton
from extract.scoring.report import load_summary, markdown, render_table, summarize, write_json, write_markdown
from extract.scoring.scorer import DocumentScore, EvalReport, evaluate, load_predictions, read_predictions

__all__ = [
    "ABOUT_TOLERANCE",
    "COMPATIBLE_TYPES",
    "FIELDS",
    "FUZZY_NAME_THRESHOLD",
    "MIN_AGREEMENT",
    "SUBFIELDS",
    "AliasIndex",
    "Counts",
    "DetectionCounts",
    "DocumentScore",
    "EvalReport",
    "GroundingCounts",
    "NameMatcher",
    "Verdict",
    "check_gates",
    "compare_bool",
    "compare_count",
    "compare_date",
    "compare_enum",
    "compare_incidents",
    "compare_lists",
    "compare_name",
    "count_accepts",
    "evaluate",
    "load_predictions",
    "load_summary",
    "markdown",
    "normalize_date",
    "normalize_name",
    "read_predictions",
    "render_table",
    "resolve_metric",
    "skeleton",
    "summarize",
    "types_compatible",
    "write_json",
    "write_markdown",
]
