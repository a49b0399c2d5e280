"""A synthetic news stream for scale benchmarks: realistic story structure
(heavy-tailed story sizes, topics, bursts in time, many outlets) with
synthetic vectors that keep the similarity structure of real embeddings, so
a million articles need no hours of embedding.

Each vector is ``a·topic + b·story + c·noise`` of independent random unit
directions, normalised: two articles of one story have cosine about
``(a² + b²)`` (0.70), two stories of one topic about ``a²`` (0.25), unrelated
news about 0, the levels the packaged model gives on real coverage. Titles
and leads are pseudo-words drawn per story and topic, so lexical overlap
follows the same structure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from cluster.articles.incoming import Article
from cluster.embedding.models import embedding_text
from cluster.types import Matrix

TOPIC_SHARE, STORY_SHARE, NOISE_SHARE = 0.25, 0.45, 0.30
ARTICLES_PER_DAY = 20_000
OUTLETS = 60
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "da", "pe", "zo", "bu", "fi",
             "ga", "hu", "je")


@dataclass(frozen=True)
class SyntheticCorpus:
    articles: list[Article]
    vectors: Matrix
    """One row per article, in the order of ``articles``."""
    stories: list[int]
    """The generating story of each article (a gold label)."""
    queries: list[tuple[str, str]]
    """New texts (title, lead) of existing stories, not in ``articles``."""
    query_vectors: Matrix


def _word(rng: np.random.Generator) -> str:
    return "".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), size=3))


def _units(rng: np.random.Generator, count: int, dimension: int) -> Matrix:
    raw = rng.standard_normal((count, dimension)).astype(np.float32)
    units: Matrix = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    return units


def generate(count: int, dimension: int = 384, seed: int = 7,
             start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> SyntheticCorpus:
    rng = np.random.default_rng(seed)
    sizes: list[int] = []
    while sum(sizes) < count:  # lognormal story sizes: most 1-5, a few in the hundreds
        sizes.append(int(min(300, max(1, round(rng.lognormal(0.6, 1.1))))))
    sizes[-1] -= sum(sizes) - count
    sizes = [s for s in sizes if s > 0]
    topics = max(20, count // 2000)
    topic_of = rng.integers(0, topics, size=len(sizes))
    topic_dirs = _units(rng, topics, dimension)
    story_dirs = _units(rng, len(sizes), dimension)
    topic_words = [[_word(rng) for _ in range(4)] for _ in range(topics)]
    days = max(3.0, count / ARTICLES_PER_DAY)
    a, b, c = (np.sqrt(x) for x in (TOPIC_SHARE, STORY_SHARE, NOISE_SHARE))
    articles: list[Article] = []
    rows: list[np.ndarray] = []
    gold: list[int] = []
    queries: list[tuple[str, str]] = []
    query_rows: list[np.ndarray] = []
    for story, size in enumerate(sizes):
        topic = int(topic_of[story])
        words = [_word(rng) for _ in range(5)]
        base = a * topic_dirs[topic] + b * story_dirs[story]
        begin = rng.uniform(0.0, days)
        noise = _units(rng, size + 1, dimension)
        for n in range(size + 1):
            picked = rng.choice(words, size=3, replace=False)
            title = f"{topic_words[topic][n % 4]} {' '.join(picked)} {_word(rng)}"
            lead = (f"{' '.join(rng.choice(words, size=4))} {topic_words[topic][0]} "
                    f"{_word(rng)} {_word(rng)} {' '.join(rng.choice(words, size=2))}.")
            vector = base + c * noise[n]
            vector = (vector / np.linalg.norm(vector)).astype(np.float32)
            if n == size:  # one extra text per story: a query that is not stored
                queries.append((title, lead))
                query_rows.append(vector)
                continue
            when = start + timedelta(days=begin + rng.exponential(0.6))
            articles.append(Article(
                id=f"syn-{story}-{n}", title=title, text=lead,
                source=f"Outlet {int(rng.integers(0, OUTLETS))}", url=None,
                published_at=when, lang="en"))
            rows.append(vector)
            gold.append(story)
    order = sorted(range(len(articles)), key=lambda i: (articles[i].published_at, articles[i].id))
    return SyntheticCorpus(
        [articles[i] for i in order], np.stack([rows[i] for i in order]),
        [gold[i] for i in order], queries, np.stack(query_rows))


class PrecomputedEmbedder:
    """An ``Embedder`` that returns the synthetic vector of each known text."""

    def __init__(self, corpus: SyntheticCorpus, lead_chars: int, dimension: int = 384) -> None:
        self.model_name = "synthetic-structure"
        self.dimension = dimension
        self._by_text: dict[str, np.ndarray] = {}
        for article, vector in zip(corpus.articles, corpus.vectors, strict=True):
            self._by_text[embedding_text(article.title, article.text, lead_chars)] = vector
        for (title, lead), vector in zip(corpus.queries, corpus.query_vectors, strict=True):
            self._by_text[embedding_text(title, lead, lead_chars)] = vector
            self._by_text[title.strip()] = vector

    def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._by_text[t] for t in texts])

    def close(self) -> None:
        pass
