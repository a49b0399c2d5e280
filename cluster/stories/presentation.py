"""How a story presents itself to readers: headline (the representative
article), label, summary, sources and hotness, refreshed once per batch for
the stories the batch changed.

Label and summary cost the most, so they are recomputed only when the story
changed materially: while it is small (up to four articles, every change
counts), once it has grown by a quarter since they were last computed, or
after a merge. The rest is cheap and always refreshed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from functools import lru_cache

import numpy as np

from cluster.store import Reader, Writer
from cluster.store.records import Presentation
from cluster.stories.headlines import clean_headline, is_opinion
from cluster.stories.labels import LabelSource, format_label, label_terms
from cluster.stories.summaries import SummaryMember, summarise
from cluster.text.lexical import TermStats, term_counts
from cluster.types import ArticleKey, StoryId, Vector

CANDIDATES = 64
"""Newest members that compete with the previous representative."""
SAMPLE = 24
"""Members spread evenly over a large story that labels and summaries read,
besides its newest ones."""
NEWEST = 8
SMALL_STORY = 4
OPINION_PENALTY = 0.1
TEXT_WEIGHT = 0.3
"""Weight of a headline's agreement with the members' leads in choosing the
representative (AllSides headline ROUGE-1, see docs/QUALITY.md)."""
LEAD_TERMS_CHARS = 600
"""Taken off the representative score of a title labelled opinion or analysis."""
GROWTH = 1.25
TOP_SOURCES = 5
LN2 = math.log(2.0)


def heat(times: list[float], half_life_hours: float) -> float:
    """ln Σ 2^(t / half-life): the log of the story's recency-weighted size,
    up to a term that is the same for every story at a given moment. Ordering
    by it ranks by articles weighted 2^-(age / half-life), without
    recomputing anything as time passes."""
    if not times:
        return -math.inf
    scaled = np.asarray(times, dtype=np.float64) * (LN2 / (half_life_hours * 3600.0))
    top = float(scaled.max())
    return top + math.log(float(np.exp(scaled - top).sum()))


def hotness_key(times: list[float], sources: int, half_life_hours: float) -> float:
    """The stored ordering key: recency-weighted growth plus ln(1 + sources)."""
    return heat(times, half_life_hours) + math.log1p(sources)


def hotness_at(key: float, now: float, half_life_hours: float) -> float:
    """The key seen from ``now``: ln(Σ 2^-(age/half-life)) + ln(1 + sources)."""
    return key - now * (LN2 / (half_life_hours * 3600.0))


@lru_cache(maxsize=16384)
def _title_terms(title: str) -> Counter[str]:
    return term_counts(title)


def _medoid(candidates: list[ArticleKey], closeness: np.ndarray, reader: Reader,
            terms: TermStats) -> ArticleKey:
    """The member closest to the story: half its dense closeness to the centroid,
    half how much its headline shares with the other headlines (TF-IDF cosine
    to their sum), so the chosen headline is the story's common wording, and
    a further ``TEXT_WEIGHT`` for how much the headline says of what the
    members' leads report (its TF-IDF cosine to their sum): a title that
    names the event over one that comments on it."""
    titles = reader.articles_by_keys(candidates)
    # a news report represents a story before an opinion or analysis piece
    opinion = np.array([OPINION_PENALTY if k in titles and is_opinion(titles[k].title,
                                                                     titles[k].url)
                        else 0.0 for k in candidates])
    if len(candidates) <= 2:
        return candidates[int(np.argmax(closeness - opinion))]
    weights = [terms.weigh(_title_terms(clean_headline(titles[k].title, titles[k].source)))
               if k in titles else {} for k in candidates]
    total: dict[str, float] = {}
    for vector in weights:
        for term, value in vector.items():
            total[term] = total.get(term, 0.0) + value
    total_norm2 = sum(v * v for v in total.values())
    leads: dict[str, float] = {}
    for key in candidates:
        if key in titles:
            for term, value in terms.weigh(_title_terms(titles[key].text[:LEAD_TERMS_CHARS])
                                           ).items():
                leads[term] = leads.get(term, 0.0) + value
    leads_norm = math.sqrt(sum(v * v for v in leads.values())) or 1.0
    scores = []
    for row, vector in enumerate(weights):
        # cosine(v, total - v) from the sums, without building total - v
        dot = sum(value * total[t] for t, value in vector.items())
        own = sum(value * value for value in vector.values())
        rest = math.sqrt(max(total_norm2 - 2 * dot + own, 0.0)) or 1.0
        shared = (dot - own) / rest
        reported = sum(value * leads.get(t, 0.0) for t, value in vector.items()) / leads_norm
        scores.append(0.5 * float(closeness[row]) + 0.5 * shared + TEXT_WEIGHT * reported
                      - float(opinion[row]))
    return candidates[int(np.argmax(scores))]


def _sample(keys: list[ArticleKey], representative: ArticleKey) -> list[ArticleKey]:
    if len(keys) <= SAMPLE + NEWEST:
        chosen = list(keys)
    else:
        step = len(keys) / SAMPLE
        chosen = [keys[int(i * step)] for i in range(SAMPLE)] + keys[-NEWEST:]
    if representative not in chosen:
        chosen.append(representative)
    return sorted(set(chosen))


def _materially_changed(count: int, presented: int) -> bool:
    if presented <= 0:  # never presented (0), or a relabel was asked for (-1)
        return True
    if count == presented:
        return False
    return count <= SMALL_STORY or count >= presented * GROWTH or count < presented / GROWTH


def _quotes_a_non_member(reader: Reader, story_id: StoryId,
                         summary: list[dict[str, str]]) -> bool:
    """Whether the summary quotes an article that is no longer in the story
    (deleted, updated away, or moved by a split): a reader must never see a
    sentence attributed to coverage the story does not hold."""
    quoted = {str(s.get("article_id")) for s in summary if s.get("article_id")}
    if not quoted:
        return False
    found = reader.articles_by_ids(quoted)
    return any(article_id not in found or found[article_id].story_id != story_id
               for article_id in quoted)


EMPTY = Presentation(label="", representative=None, summary=[], hotness=0.0, top_sources=[],
                     source_count=0, presented_count=0, seen_presented_count=0)


def compute_presentation(
    reader: Reader, story_id: StoryId, direction: Vector | None, terms: TermStats,
    half_life_hours: float,
) -> Presentation:
    """Representative = the member closest to the centroid ``direction`` (the
    medoid's stand-in; from the stored centroid sum when None); then sources,
    hotness, and when due label and summary. Reads only.

    Bounded work per changed story: the previous representative competes with
    the newest members only, and labels and summaries read a sample."""
    keys = reader.member_keys(story_id)
    row = reader.story(story_id)
    if row is None:
        return EMPTY
    if not keys:
        return replace(EMPTY, seen_presented_count=row.presented_count)
    previous = row.representative
    candidates = keys[-CANDIDATES:]
    if previous is not None and previous in set(keys) and previous not in candidates:
        candidates = [previous, *candidates]
    vectors = reader.vectors(candidates)
    if direction is None:
        direction = np.asarray(row.centroid_sum, dtype=np.float32)
        direction = direction / max(float(np.linalg.norm(direction)), 1e-12)
    best = _medoid(candidates, vectors @ direction, reader, terms)
    outlets = reader.story_outlets(story_id)
    originals = [(source, n) for source, n in outlets if n > 0]
    source_count = len(originals) or len(outlets)
    label, summary, presented = row.label, row.summary, row.presented_count
    if _materially_changed(len(keys), row.presented_count) or _quotes_a_non_member(
            reader, story_id, summary):
        sample = _sample(keys, best)
        articles = reader.articles_by_keys(sample)
        members = [articles[k] for k in sample if k in articles]
        label = format_label(label_terms([LabelSource(m.title, m.text) for m in members], terms))
        sentences = summarise(
            [SummaryMember(m.id, m.title, m.text, m.source) for m in members],
            reader.vectors([m.key for m in members]), direction, terms)
        summary = [{"text": s.text, "article_id": s.article_id, "source": s.source}
                   for s in sentences]
        presented = len(keys)
    return Presentation(
        label=label, representative=best, summary=summary,
        hotness=hotness_key(reader.member_times(story_id), source_count, half_life_hours),
        top_sources=(originals or outlets)[:TOP_SOURCES], source_count=source_count,
        presented_count=presented, seen_presented_count=row.presented_count,
    )


def refresh_presentation(
    writer: Writer, story_id: StoryId, direction: Vector | None, terms: TermStats,
    half_life_hours: float,
) -> None:
    """Compute the story's presentation and write it in the same transaction."""
    writer.set_story_presentation(
        story_id, compute_presentation(writer, story_id, direction, terms, half_life_hours))
