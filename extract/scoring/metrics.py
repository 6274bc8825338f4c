"""Counts and the metrics computed from them: MUC slot scores, incident detection, grounding.

Every metric is a plain function of integer counts, so the point estimate and each
bootstrap resample go through the same formula.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from extract.scoring.comparators import Verdict

#: Order of the verdicts in count vectors.
VERDICTS: tuple[Verdict, ...] = (
    Verdict.CORRECT,
    Verdict.PARTIAL,
    Verdict.INCORRECT,
    Verdict.MISSING,
    Verdict.SPURIOUS,
)
VERDICT_INDEX = {v: k for k, v in enumerate(VERDICTS)}


def ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def prf(true_pos: float, pred_total: float, gold_total: float) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F1 from a numerator and the two denominators.

    All three are None when there is nothing on either side (no metric to speak of);
    a side with nothing gives 0 for its metric when the other side has something
    (an empty prediction has precision 0, not an undefined one).
    """
    if not pred_total and not gold_total:
        return None, None, None
    precision = true_pos / pred_total if pred_total else 0.0
    recall = true_pos / gold_total if gold_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@dataclass(frozen=True)
class Counts:
    """MUC counts of one field (or of all slots) and the scores they give; partial counts half."""

    correct: int = 0
    partial: int = 0
    incorrect: int = 0
    missing: int = 0
    spurious: int = 0

    @classmethod
    def from_list(cls, values: list[int]) -> Counts:
        return cls(*values)

    @property
    def credit(self) -> float:
        return self.correct + 0.5 * self.partial

    @property
    def predicted(self) -> int:
        """Slots the prediction filled (the precision denominator)."""
        return self.correct + self.partial + self.incorrect + self.spurious

    @property
    def gold(self) -> int:
        """Slots the gold filled (the recall denominator)."""
        return self.correct + self.partial + self.incorrect + self.missing

    @property
    def precision(self) -> float | None:
        return prf(self.credit, self.predicted, self.gold)[0]

    @property
    def recall(self) -> float | None:
        return prf(self.credit, self.predicted, self.gold)[1]

    @property
    def f1(self) -> float | None:
        return prf(self.credit, self.predicted, self.gold)[2]

    def as_dict(self) -> dict[str, float | int | None]:
        p, r, f = prf(self.credit, self.predicted, self.gold)
        return {
            "precision": p,
            "recall": r,
            "f1": f,
            "correct": self.correct,
            "partial": self.partial,
            "incorrect": self.incorrect,
            "missing": self.missing,
            "spurious": self.spurious,
        }


@dataclass(frozen=True)
class DetectionCounts:
    """Incident detection: aligned pairs, unmatched predictions, unmatched gold incidents."""

    matched: int = 0
    spurious: int = 0
    missing: int = 0

    @property
    def precision(self) -> float | None:
        return prf(self.matched, self.matched + self.spurious, self.matched + self.missing)[0]

    @property
    def recall(self) -> float | None:
        return prf(self.matched, self.matched + self.spurious, self.matched + self.missing)[1]

    @property
    def f1(self) -> float | None:
        return prf(self.matched, self.matched + self.spurious, self.matched + self.missing)[2]

    def as_dict(self) -> dict[str, float | int | None]:
        p, r, f = prf(self.matched, self.matched + self.spurious, self.matched + self.missing)
        return {
            "precision": p,
            "recall": r,
            "f1": f,
            "matched": self.matched,
            "spurious": self.spurious,
            "missing": self.missing,
        }


@dataclass(frozen=True)
class GroundingCounts:
    """How the predicted evidence spans were aligned to the article, and whether they state their values."""

    exact: int = 0
    fuzzy: int = 0
    not_found: int = 0
    #: Spans found in the article whose quote does not state one of the values it is cited for.
    unsupported: int = 0
    #: Names, places, numbers and dates checked against their quote, and how many it states.
    values: int = 0
    values_supported: int = 0

    @property
    def total(self) -> int:
        return self.exact + self.fuzzy + self.not_found

    @property
    def grounded(self) -> int:
        """Spans found in the article that state every value they are cited for."""
        return self.exact + self.fuzzy - self.unsupported

    @property
    def rate(self) -> float | None:
        """Share of spans found and stating their values (an unsupported value is ungrounded); None without spans."""
        return ratio(self.grounded, self.total)

    @property
    def supported_share(self) -> float | None:
        """Share of checked values that their quote states; None when no value was checked."""
        return ratio(self.values_supported, self.values)

    def __add__(self, other: GroundingCounts) -> GroundingCounts:
        return GroundingCounts(
            self.exact + other.exact,
            self.fuzzy + other.fuzzy,
            self.not_found + other.not_found,
            self.unsupported + other.unsupported,
            self.values + other.values,
            self.values_supported + other.values_supported,
        )

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "rate": self.rate,
            "exact": self.exact,
            "fuzzy": self.fuzzy,
            "not_found": self.not_found,
            "unsupported": self.unsupported,
            "total": self.total,
            "supported_share": self.supported_share,
            "values": self.values,
            "values_supported": self.values_supported,
        }


# Columns of the per-document count matrix the bootstrap resamples.
BOOT_COLUMNS = ("matched", "inc_spurious", "inc_missing", "cor", "par", "inc", "mis", "spu", "grounded", "spans")


def _f1_columns(num: np.ndarray, pred: np.ndarray, gold: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(pred > 0, num / np.where(pred > 0, pred, 1), 0.0)
        r = np.where(gold > 0, num / np.where(gold > 0, gold, 1), 0.0)
        f = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)
    return np.where((pred > 0) | (gold > 0), f, np.nan)


def resampled_metrics(totals: np.ndarray) -> dict[str, np.ndarray]:
    """Incident F1, slot micro-F1 and grounding rate for each row of summed count vectors."""
    matched, fp, fn, cor, par, inc, mis, spu, grounded, spans = (totals[:, k] for k in range(len(BOOT_COLUMNS)))
    credit = cor + 0.5 * par
    with np.errstate(divide="ignore", invalid="ignore"):
        grounding = np.where(spans > 0, grounded / np.where(spans > 0, spans, 1), np.nan)
    return {
        "incidents.f1": _f1_columns(matched, matched + fp, matched + fn),
        "slots.f1": _f1_columns(credit, cor + par + inc + spu, cor + par + inc + mis),
        "grounding_rate": grounding,
    }


#: The metrics every resample computes (see :func:`resampled_metrics`), in report order.
RESAMPLED: tuple[str, ...] = ("incidents.f1", "slots.f1", "grounding_rate")


def _resample_weights(n: int, resamples: int, seed: int, chunk: int) -> Iterator[np.ndarray]:
    """Blocks of bootstrap weights: row r counts how often each of ``n`` documents was drawn in resample r.

    Each resample draws as many documents as there are, with replacement; the weights times a
    count matrix give every resample's summed counts at once, with no loop over documents in Python.
    """
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        draws = rng.integers(0, n, size=(size, n))
        flat = (draws + (np.arange(size) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=size * n).reshape(size, n).astype(np.float64)


def bootstrap_ci(
    per_document: np.ndarray, resamples: int, seed: int, level: float = 0.95, chunk: int = 100
) -> dict[str, tuple[float, float] | None]:
    """Percentile confidence intervals from resampling documents with replacement.

    ``per_document`` holds one row of counts per document (columns :data:`BOOT_COLUMNS`);
    a resample's counts are the sum of the rows it drew. An interval is None when the
    metric is undefined in every resample.
    """
    n = per_document.shape[0]
    if resamples <= 0 or n == 0:
        return dict.fromkeys(RESAMPLED)
    matrix = per_document.astype(np.float64)
    collected: dict[str, list[np.ndarray]] = {name: [] for name in RESAMPLED}
    for weights in _resample_weights(n, resamples, seed, chunk):
        for name, values in resampled_metrics(weights @ matrix).items():
            collected[name].append(values)
    alpha = (1 - level) / 2 * 100
    out: dict[str, tuple[float, float] | None] = {}
    for name in RESAMPLED:
        values = np.concatenate(collected[name])
        values = values[~np.isnan(values)]
        if values.size == 0:
            out[name] = None
        else:
            lo, hi = np.percentile(values, [alpha, 100 - alpha])
            out[name] = (float(lo), float(hi))
    return out


@dataclass(frozen=True)
class PairedDelta:
    """One run's metric minus another's on the same documents, with a paired bootstrap interval and p-value."""

    delta: float
    ci: tuple[float, float]
    #: Two-sided: twice the share of resamples on the far side of zero from the observed change (at most 1).
    p_value: float
    resamples: int

    def significant(self, level: float = 0.95) -> bool:
        """Whether the change is unlikely under no difference (p below 1 - level)."""
        return self.p_value < 1 - level

    def as_dict(self) -> dict[str, Any]:
        return {"delta": round(self.delta, 6), "ci": [round(self.ci[0], 6), round(self.ci[1], 6)],
                "p": round(self.p_value, 6), "resamples": self.resamples}  # fmt: skip


def paired_bootstrap(
    baseline: np.ndarray, other: np.ndarray, resamples: int, seed: int, level: float = 0.95, chunk: int = 100
) -> dict[str, PairedDelta | None]:
    """How each resampled metric of ``other`` differs from ``baseline``, scored on the same documents.

    Both count matrices (columns :data:`BOOT_COLUMNS`) hold one row per document, in the
    same document order. Every resample draws the same documents for both, so what the
    interval measures is the difference the documents make to the two runs alike, not the
    spread of either. The p-value is two-sided: twice the share of resamples whose change
    is zero or has the other sign than the observed one (capped at 1); resamples where
    either side's metric is undefined are left out. None for a metric that is undefined
    on either side, or with no resamples.
    """
    if baseline.shape != other.shape:
        raise ValueError(f"paired runs must be scored on the same documents ({baseline.shape} vs {other.shape})")
    n = baseline.shape[0]
    if resamples <= 0 or n == 0:
        return dict.fromkeys(RESAMPLED)
    a, b = baseline.astype(np.float64), other.astype(np.float64)
    observed_a = resampled_metrics(a.sum(axis=0, keepdims=True))
    observed_b = resampled_metrics(b.sum(axis=0, keepdims=True))
    collected: dict[str, list[np.ndarray]] = {name: [] for name in RESAMPLED}
    for weights in _resample_weights(n, resamples, seed, chunk):
        before, after = resampled_metrics(weights @ a), resampled_metrics(weights @ b)
        for name in RESAMPLED:
            collected[name].append(after[name] - before[name])
    alpha = (1 - level) / 2 * 100
    out: dict[str, PairedDelta | None] = {}
    for name in RESAMPLED:
        delta = float(observed_b[name][0] - observed_a[name][0])
        values = np.concatenate(collected[name])
        values = values[~np.isnan(values)]
        if np.isnan(delta) or values.size == 0:
            out[name] = None
            continue
        lo, hi = np.percentile(values, [alpha, 100 - alpha])
        below, above = float(np.mean(values <= 0)), float(np.mean(values >= 0))
        p = min(1.0, 2 * (below if delta > 0 else above if delta < 0 else max(below, above)))
        out[name] = PairedDelta(delta, (float(lo), float(hi)), p, int(values.size))
    return out
