"""The paired bootstrap that compares two runs scored on the same documents, worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from extract.scoring.metrics import BOOT_COLUMNS, paired_bootstrap


def rows(*docs: tuple[int, ...]) -> np.ndarray:
    """Per-document count rows; each document given as (matched, spurious, missing, cor, par, inc, mis, spu)."""
    return np.asarray([[*d, 0, 0] for d in docs], dtype=np.int64).reshape(len(docs), len(BOOT_COLUMNS))


def test_paired_bootstrap_by_hand() -> None:
    # Two documents; the other run finds document 1's incident and slot, the baseline misses them.
    # Slot F1: baseline 1/2 found -> P 1, R 0.5, F1 2/3; other 2/2 -> 1. Delta 1/3. Resamples of documents:
    # {0,0}: both 1.0 (delta 0); {1,1}: baseline 0, other 1 (delta 1); {0,1}: delta 1/3. Never below zero.
    base = rows((1, 0, 0, 1, 0, 0, 0, 0), (0, 0, 1, 0, 0, 0, 1, 0))
    other = rows((1, 0, 0, 1, 0, 0, 0, 0), (1, 0, 0, 1, 0, 0, 0, 0))
    result = paired_bootstrap(base, other, 2000, seed=1)
    slots = result["slots.f1"]
    assert slots is not None and slots.delta == pytest.approx(1 / 3)
    # the draws {0,0} (a quarter of them) give no change, so twice the share at or below zero is about half
    assert slots.p_value == pytest.approx(0.5, abs=0.05) and not slots.significant()
    assert slots.ci == (0.0, 1.0)
    assert result["grounding_rate"] is None  # no evidence on either side
    same = paired_bootstrap(base, base, 200, seed=1)["slots.f1"]
    assert same is not None and (same.delta, same.p_value, same.ci) == (0.0, 1.0, (0.0, 0.0))


def test_paired_bootstrap_needs_the_same_documents() -> None:
    with pytest.raises(ValueError, match="same documents"):
        paired_bootstrap(rows((1, 0, 0, 1, 0, 0, 0, 0)), rows((1, 0, 0, 1, 0, 0, 0, 0), (0,) * 8), 10, seed=0)
