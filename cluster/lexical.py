"""Sparse lexical similarity: TF-IDF over title + lead, kept online.

Dense sentence embeddings blur the names, places and numbers that separate
two similar events (two earthquakes, two celebrities entering rehab);
word-overlap features restore them. Miranda et al. (2018) and Saravanakumar
et al. (2021) combine exactly these two kinds of similarity for streaming
news clustering.

An article's vector is ``(1 + ln tf) · idf`` over its non-stop-word tokens,
L2-normalised (scikit-learn's ``sublinear_tf`` and smoothed idf,
``idf = ln((1 + N) / (1 + df)) + 1``), with document frequencies counted over
the stream so far (``TermStats``; persisted by the service). A story's
profile is the sum of its members' vectors, so the article-to-story score is
the cosine to that sum, the sparse twin of the dense centroid; its squared
norm is kept exactly as members are added.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping

from cluster.stop_words import ENGLISH_STOP_WORDS

_TOKEN = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*", re.UNICODE)

_SENTENCE_ENDS = frozenset('.!?:"“')

Weights = dict[str, float]


def stop_words() -> frozenset[str]:
    return ENGLISH_STOP_WORDS


def term_counts(text: str, name_boost: int = 1) -> Counter[str]:
    """Lower-cased word tokens without stop words or single letters; numbers stay,
    because figures (magnitudes, tolls, sums) tell events apart. With
    ``name_boost`` > 1, a capitalised word that does not start a sentence or
    line (a likely name) counts that many times."""
    stops = stop_words()
    counts: Counter[str] = Counter()
    for match in _TOKEN.finditer(text):
        raw = match.group()
        token = raw.lower().replace("’", "'")
        if (len(token) <= 1 and not token.isdigit()) or token in stops:
            continue
        weight = 1
        if name_boost > 1 and raw[0].isupper():
            position = match.start() - 1
            while position >= 0 and text[position].isspace():
                position -= 1
            if position >= 0 and text[position] not in _SENTENCE_ENDS:
                weight = name_boost
        counts[token] += weight
    return counts


NAME_BOOST = 2
"""How many times a likely name in the body counts (Saravanakumar et al. 2021
weight entities above other words). Measured on the three dev files: mean
BCubed F1 0.8752 without, 0.8766 with 2, 0.8758 with 3."""


def article_terms(text: str) -> Counter[str]:
    """Terms of an embedded text (title, newline, lead). Capitalisation marks
    names only in the body: headlines are often in title case."""
    title, _, body = text.partition("\n")
    return term_counts(title) + term_counts(body, NAME_BOOST)


class TermStats:
    """Document frequencies over the articles seen so far."""

    def __init__(self, documents: int = 0, frequencies: Mapping[str, int] | None = None) -> None:
        self.documents = documents
        self.frequencies: dict[str, int] = dict(frequencies or {})

    def add(self, terms: Iterable[str]) -> None:
        self.documents += 1
        for term in terms:
            self.frequencies[term] = self.frequencies.get(term, 0) + 1

    def remove(self, terms: Iterable[str]) -> None:
        self.documents = max(0, self.documents - 1)
        for term in terms:
            left = self.frequencies.get(term, 0) - 1
            if left > 0:
                self.frequencies[term] = left
            else:
                self.frequencies.pop(term, None)

    def idf(self, term: str) -> float:
        return math.log((1 + self.documents) / (1 + self.frequencies.get(term, 0))) + 1.0

    def weigh(self, counts: Mapping[str, int]) -> Weights:
        """The article's L2-normalised TF-IDF vector."""
        raw = {t: (1.0 + math.log(n)) * self.idf(t) for t, n in counts.items() if n > 0}
        norm = math.sqrt(sum(w * w for w in raw.values()))
        return {t: w / norm for t, w in raw.items()} if norm else {}


class Profile:
    """A story's lexical profile: the sum of its members' vectors."""

    __slots__ = ("norm2", "weights")

    def __init__(self) -> None:
        self.weights: Weights = {}
        self.norm2 = 0.0

    def add(self, vector: Mapping[str, float], sign: float = 1.0) -> None:
        for term, value in vector.items():
            old = self.weights.get(term, 0.0)
            new = old + sign * value
            self.norm2 += new * new - old * old
            if abs(new) > 1e-12:
                self.weights[term] = new
            else:
                self.weights.pop(term, None)
        self.norm2 = max(self.norm2, 0.0)

    def absorb(self, other: Profile) -> None:
        self.add(other.weights)

    def cosine(self, vector: Mapping[str, float]) -> float:
        if self.norm2 <= 0.0 or not vector:
            return 0.0
        weights = self.weights
        dot = sum(value * weights.get(term, 0.0) for term, value in vector.items())
        return dot / math.sqrt(self.norm2)

    def similarity(self, other: Profile) -> float:
        """Cosine between two profiles."""
        if self.norm2 <= 0.0 or other.norm2 <= 0.0:
            return 0.0
        small, large = (self, other) if len(self.weights) <= len(other.weights) else (other, self)
        dot = sum(value * large.weights.get(term, 0.0) for term, value in small.weights.items())
        return dot / math.sqrt(self.norm2 * other.norm2)
