"""ROUGE-1, ROUGE-2 and ROUGE-L F1 (Lin 2004) for short texts such as headlines.

Tokens are lower-cased words and numbers; no stemming and no stop-word
removal, as in the reference implementation's defaults. Scores are F1 of
n-gram overlap (clipped counts) and of the longest common subsequence.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def rouge_tokens(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _f1(overlap: float, candidate_total: int, reference_total: int) -> float:
    if overlap <= 0 or candidate_total == 0 or reference_total == 0:
        return 0.0
    precision = overlap / candidate_total
    recall = overlap / reference_total
    return 2 * precision * recall / (precision + recall)


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def rouge_n(candidate: Sequence[str], reference: Sequence[str], n: int) -> float:
    ours, theirs = _ngrams(candidate, n), _ngrams(reference, n)
    overlap = sum((ours & theirs).values())
    return _f1(overlap, sum(ours.values()), sum(theirs.values()))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(candidate: Sequence[str], reference: Sequence[str]) -> float:
    return _f1(lcs_length(candidate, reference), len(candidate), len(reference))


@dataclass(frozen=True)
class Rouge:
    rouge1: float
    rouge2: float
    rougeL: float


def rouge(candidate: str, reference: str) -> Rouge:
    ours, theirs = rouge_tokens(candidate), rouge_tokens(reference)
    return Rouge(rouge_n(ours, theirs, 1), rouge_n(ours, theirs, 2), rouge_l(ours, theirs))


def mean_rouge(pairs: Sequence[tuple[str, str]]) -> Rouge:
    """Mean F1 over (candidate, reference) pairs; zeros for no pairs."""
    if not pairs:
        return Rouge(0.0, 0.0, 0.0)
    scores = [rouge(c, r) for c, r in pairs]
    count = len(scores)
    return Rouge(sum(s.rouge1 for s in scores) / count, sum(s.rouge2 for s in scores) / count,
                 sum(s.rougeL for s in scores) / count)
