"""Coreference metrics for event clustering: MUC, B³, CEAF-e and their mean (CoNLL F1).

Implemented from their definitions (Vilain et al. 1995; Bagga & Baldwin 1998; Luo 2005;
Pradhan et al. 2014), over clusters of hashable mention ids. The key (gold) and the
response (predicted) may hold different mentions, as in end-to-end scoring: a response
mention absent from the key counts against precision, a key mention absent from the
response against recall. Singleton clusters are kept (events reported once are events).

* **MUC** counts links: recall is ``sum(|K| - |p(K)|) / sum(|K| - 1)`` over key clusters K,
  where ``p(K)`` is the partition of K by the response (each key mention the response lacks
  is a part of its own); precision swaps key and response. A side with no links (only
  singletons) has a zero denominator, and the metric is 0 there, as in the reference scorer.
* **B³** averages per mention: recall is ``sum over K, R of |K ∩ R|² / |K|`` divided by the
  number of key mentions; precision the same with ``/ |R|`` over response mentions.
* **CEAF-e** aligns key and response clusters one-to-one to maximise the total of
  ``φ4(K, R) = 2 |K ∩ R| / (|K| + |R|)``; recall divides that total by the number of key
  clusters, precision by the number of response clusters.
* **CoNLL F1** is the unweighted mean of the three F1 values.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

Clusters = Sequence[frozenset[Hashable]]


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 of one metric."""

    precision: float
    recall: float
    f1: float

    @classmethod
    def of(cls, p_num: float, p_den: float, r_num: float, r_den: float) -> PRF:
        precision = p_num / p_den if p_den else 0.0
        recall = r_num / r_den if r_den else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(precision, recall, f1)

    def as_dict(self) -> dict[str, float]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


@dataclass(frozen=True)
class CorefScores:
    """The three metrics and CoNLL F1."""

    muc: PRF
    b3: PRF
    ceafe: PRF
    key_mentions: int
    response_mentions: int
    key_clusters: int
    response_clusters: int

    @property
    def conll_f1(self) -> float:
        return (self.muc.f1 + self.b3.f1 + self.ceafe.f1) / 3

    def as_dict(self) -> dict[str, object]:
        return {
            "muc": self.muc.as_dict(),
            "b3": self.b3.as_dict(),
            "ceafe": self.ceafe.as_dict(),
            "conll_f1": round(self.conll_f1, 4),
            "key_mentions": self.key_mentions,
            "response_mentions": self.response_mentions,
            "key_clusters": self.key_clusters,
            "response_clusters": self.response_clusters,
        }


def _clusters(groups: Iterable[Iterable[Hashable]]) -> list[frozenset[Hashable]]:
    out = [frozenset(g) for g in groups]
    out = [c for c in out if c]
    seen: set[Hashable] = set()
    for cluster in out:
        if not seen.isdisjoint(cluster):
            raise ValueError("a mention appears in two clusters")
        seen |= cluster
    return out


def _muc_side(key: Clusters, response: Clusters) -> tuple[float, float]:
    where = {m: i for i, cluster in enumerate(response) for m in cluster}
    num = den = 0.0
    for cluster in key:
        parts = {where.get(m, ("missing", m)) for m in cluster}
        num += len(cluster) - len(parts)
        den += len(cluster) - 1
    return num, den


def muc(key: Clusters, response: Clusters) -> PRF:
    """MUC link-based precision, recall and F1."""
    r_num, r_den = _muc_side(key, response)
    p_num, p_den = _muc_side(response, key)
    return PRF.of(p_num, p_den, r_num, r_den)


def _overlaps(key: Clusters, response: Clusters) -> dict[tuple[int, int], int]:
    """|K ∩ R| for every pair of clusters that share a mention (sparse)."""
    where = {m: j for j, cluster in enumerate(response) for m in cluster}
    out: dict[tuple[int, int], int] = {}
    for i, cluster in enumerate(key):
        for m in cluster:
            j = where.get(m)
            if j is not None:
                out[i, j] = out.get((i, j), 0) + 1
    return out


def b_cubed(key: Clusters, response: Clusters) -> PRF:
    """B³ mention-based precision, recall and F1."""
    overlaps = _overlaps(key, response)
    r_num = sum(n * n / len(key[i]) for (i, _), n in overlaps.items())
    p_num = sum(n * n / len(response[j]) for (_, j), n in overlaps.items())
    return PRF.of(p_num, sum(len(r) for r in response), r_num, sum(len(k) for k in key))


def ceaf_e(key: Clusters, response: Clusters) -> PRF:
    """Entity-based CEAF (φ4 similarity, optimal one-to-one alignment).

    Clusters that share no mention have similarity 0, so the alignment is solved for each
    connected group of overlapping clusters on its own: memory stays linear in the input.
    """
    overlaps = _overlaps(key, response)
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(node: tuple[str, int]) -> tuple[str, int]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for i, j in overlaps:
        a, b = find(("k", i)), find(("r", j))
        if a != b:
            parent[b] = a
    components: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    for (i, j), common in overlaps.items():
        components.setdefault(find(("k", i)), []).append((i, j, common))
    total = 0.0
    for edges in components.values():
        rows = sorted({i for i, _, _ in edges})
        cols = sorted({j for _, j, _ in edges})
        row_at = {i: n for n, i in enumerate(rows)}
        col_at = {j: n for n, j in enumerate(cols)}
        sim = np.zeros((len(rows), len(cols)))
        for i, j, common in edges:
            sim[row_at[i], col_at[j]] = 2 * common / (len(key[i]) + len(response[j]))
        r, c = linear_sum_assignment(sim, maximize=True)
        total += float(sim[r, c].sum())
    return PRF.of(total, len(response), total, len(key))


def coref_scores(key: Iterable[Iterable[Hashable]], response: Iterable[Iterable[Hashable]]) -> CorefScores:
    """MUC, B³, CEAF-e and CoNLL F1 of a response clustering against a key clustering."""
    k, r = _clusters(key), _clusters(response)
    return CorefScores(
        muc=muc(k, r),
        b3=b_cubed(k, r),
        ceafe=ceaf_e(k, r),
        key_mentions=sum(len(c) for c in k),
        response_mentions=sum(len(c) for c in r),
        key_clusters=len(k),
        response_clusters=len(r),
    )


def singletons(clusters: Iterable[Iterable[Hashable]]) -> list[frozenset[Hashable]]:
    """The baseline response: every mention its own cluster."""
    return [frozenset([m]) for cluster in clusters for m in cluster]
