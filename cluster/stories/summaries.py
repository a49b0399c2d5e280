"""Extractive story summaries: 2-3 attributed sentences from several sources.

Two levels, both cheap enough to run on every material change of a story
during ingest (no sentence is embedded; that would cost the model's time):

1. Articles: maximal marginal relevance (Carbonell & Goldstein 1998) on the
   stored dense vectors: close to the story centroid, unlike the articles
   already picked, another outlet preferred.
2. Sentences: from the leads of those articles (news puts the facts first),
   scored by TF-IDF cosine to the story's lexical centroid plus a lead-position
   prior, again picked by MMR with word-overlap redundancy, at most one per
   article. Headline-only stories summarise with their headlines.

Every sentence names its article and source.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cluster.text.lexical import TermStats, term_counts
from cluster.text.sentences import reading_length, split_sentences
from cluster.types import Matrix, Vector

SENTENCES = 3
ARTICLES = 6
LEAD_SENTENCES = 4
LEAD_SCAN_CHARS = 3000
"""Enough body for four lead sentences; long articles are not split whole."""
MIN_CHARS = 40
MAX_CHARS = 400
MAX_SUMMARY_CHARS = 700
ARTICLE_LAMBDA = 0.7
SENTENCE_LAMBDA = 0.7
SAME_SOURCE_PENALTY = 0.15
REDUNDANT = 0.6
"""TF-IDF cosine from which a sentence repeats a chosen one and is not shown."""


@dataclass(frozen=True)
class SummaryMember:
    id: str
    title: str
    text: str
    source: str


@dataclass(frozen=True)
class SummarySentence:
    text: str
    article_id: str
    source: str


def pick_articles(vectors: Matrix, direction: Vector, sources: Sequence[str],
                  count: int = ARTICLES) -> list[int]:
    """Row numbers of up to ``count`` articles by MMR over dense vectors."""
    if len(vectors) == 0:
        return []
    relevance = vectors @ direction
    similarity = vectors @ vectors.T
    chosen: list[int] = []
    used_sources: set[str] = set()
    while len(chosen) < min(count, len(vectors)):
        best, best_score = -1, -math.inf
        for row in range(len(vectors)):
            if row in chosen:
                continue
            redundancy = max((float(similarity[row, c]) for c in chosen), default=0.0)
            score = ARTICLE_LAMBDA * float(relevance[row]) - (1 - ARTICLE_LAMBDA) * redundancy
            if sources[row] in used_sources:
                score -= SAME_SOURCE_PENALTY
            if score > best_score:
                best, best_score = row, score
        chosen.append(best)
        used_sources.add(sources[best])
    return chosen


@lru_cache(maxsize=16384)
def _counts(text: str) -> Counter[str]:
    return term_counts(text)


@lru_cache(maxsize=8192)
def _lead_sentences(text: str) -> tuple[str, ...]:
    found = split_sentences(text[:LEAD_SCAN_CHARS])
    if len(text) > LEAD_SCAN_CHARS and len(found) <= LEAD_SENTENCES:
        found = found[:-1]  # the scan cut the last one
    return tuple(found[:LEAD_SENTENCES])


def _complete(sentence: str) -> bool:
    """Whether a sentence ends as a sentence does: a teaser's "... in..." or
    a text cut mid-sentence is never shown as a summary sentence."""
    end = sentence.rstrip().rstrip("\"'”’)]»」』）")
    return end.endswith((".", "!", "?", "؟", "。", "！", "？")) and not end.endswith(("...", "…"))


def _tfidf(text: str, stats: TermStats) -> dict[str, float]:
    counts = _counts(text)
    raw = {t: (1.0 + math.log(n)) * stats.idf(t) for t, n in counts.items()}
    norm = math.sqrt(sum(w * w for w in raw.values()))
    return {t: w / norm for t, w in raw.items()} if norm else {}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return sum(v * large.get(t, 0.0) for t, v in small.items())


def summarise(members: Sequence[SummaryMember], vectors: Matrix, direction: Vector,
              stats: TermStats, sentences: int = SENTENCES) -> list[SummarySentence]:
    """Up to ``sentences`` sentences, best first, each from a different article."""
    if not members:
        return []
    rows = pick_articles(vectors, direction, [m.source for m in members])
    centroid: dict[str, float] = {}
    for member in members:
        for term, weight in _tfidf(f"{member.title}\n{member.text[:1000]}", stats).items():
            centroid[term] = centroid.get(term, 0.0) + weight
    norm = math.sqrt(sum(w * w for w in centroid.values())) or 1.0
    story_terms = {t: w / norm for t, w in centroid.items()}
    candidates = _candidates(members, rows, story_terms, stats, headline_only=False)
    if not candidates:  # no body sentence of a usable length: summarise with headlines
        candidates = _candidates(members, rows, story_terms, stats, headline_only=True)
    picked: list[tuple[int, str, dict[str, float]]] = []
    total = 0
    while len(picked) < sentences:
        best: tuple[float, int, str, dict[str, float]] | None = None
        best_score = -math.inf
        for relevance, row, sentence, terms in candidates:
            if any(row == p[0] for p in picked):
                continue
            redundancy = max((_cosine(terms, p[2]) for p in picked), default=0.0)
            if redundancy >= REDUNDANT:
                continue  # says what a chosen sentence says (a wire rewrite of it)
            score = SENTENCE_LAMBDA * relevance - (1 - SENTENCE_LAMBDA) * redundancy
            if score > best_score:
                best, best_score = (relevance, row, sentence, terms), score
        if best is None or (picked and total + len(best[2]) > MAX_SUMMARY_CHARS):
            break
        picked.append((best[1], best[2], best[3]))
        total += len(best[2])
    return [SummarySentence(text, members[row].id, members[row].source)
            for row, text, _ in picked]


def _candidates(
    members: Sequence[SummaryMember], rows: list[int], story_terms: dict[str, float],
    stats: TermStats, headline_only: bool,
) -> list[tuple[float, int, str, dict[str, float]]]:
    """(relevance, row, sentence, its terms) for the lead sentences of the picked
    articles, or for their headlines."""
    candidates: list[tuple[float, int, str, dict[str, float]]] = []
    for rank, row in enumerate(rows):
        member = members[row]
        pieces = ([member.title] if headline_only
                  else _lead_sentences(member.text))
        for position, sentence in enumerate(pieces):
            if not headline_only and (not MIN_CHARS <= reading_length(sentence) <= MAX_CHARS
                                      or not _complete(sentence)):
                continue
            terms = _tfidf(sentence, stats)
            relevance = (_cosine(terms, story_terms) + 0.1 / (1 + position)
                         + 0.05 / (1 + rank))
            candidates.append((relevance, row, sentence, terms))
    return candidates
