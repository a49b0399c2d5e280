"""Clustering scores against gold labels.

BCubed (Bagga & Baldwin 1998; Amigó et al. 2009, "A comparison of extrinsic
clustering evaluation metrics") is the primary score: for each item,
precision is the share of its predicted cluster that shares its gold label,
recall the share of its gold cluster that shares its predicted cluster; both
are averaged over items, so large stories weigh in proportion to their size.
Pairwise P/R/F1 count item pairs placed together; AMI and ARI come from
scikit-learn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    ami: float
    ari: float
    predicted_clusters: int
    gold_clusters: int


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def bcubed(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> tuple[float, float, float]:
    """(precision, recall, F1), averaged over items.

    For item i with gold g and prediction p, let n(g, p) be the number of items
    with both labels. Then precision_i = n(g, p) / |p| and recall_i = n(g, p) / |g|;
    summing over items groups them by (g, p), each group contributing
    n(g, p)² / |p| (resp. / |g|)."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted must have the same length")
    if not gold:
        return 0.0, 0.0, 0.0
    joint = Counter(zip(gold, predicted, strict=True))
    gold_sizes, predicted_sizes = Counter(gold), Counter(predicted)
    precision = sum(n * n / predicted_sizes[p] for (_, p), n in joint.items()) / len(gold)
    recall = sum(n * n / gold_sizes[g] for (g, _), n in joint.items()) / len(gold)
    return precision, recall, _f1(precision, recall)


def pairwise(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> tuple[float, float, float]:
    """Precision/recall of the item pairs placed in one cluster. With no
    predicted (or gold) pair at all the precision (recall) is 1 by convention."""
    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    together = sum(pairs(n) for n in Counter(zip(gold, predicted, strict=True)).values())
    predicted_pairs = sum(pairs(n) for n in Counter(predicted).values())
    gold_pairs = sum(pairs(n) for n in Counter(gold).values())
    precision = together / predicted_pairs if predicted_pairs else 1.0
    recall = together / gold_pairs if gold_pairs else 1.0
    return precision, recall, _f1(precision, recall)


def score(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> Scores:
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    gold_ids = [str(g) for g in gold]
    predicted_ids = [str(p) for p in predicted]
    bp, br, bf = bcubed(gold_ids, predicted_ids)
    pp, pr, pf = pairwise(gold_ids, predicted_ids)
    return Scores(
        bcubed_precision=bp, bcubed_recall=br, bcubed_f1=bf,
        pairwise_precision=pp, pairwise_recall=pr, pairwise_f1=pf,
        ami=float(adjusted_mutual_info_score(gold_ids, predicted_ids)),
        ari=float(adjusted_rand_score(gold_ids, predicted_ids)),
        predicted_clusters=len(set(predicted_ids)), gold_clusters=len(set(gold_ids)),
    )
