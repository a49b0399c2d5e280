"""Which signals identify a storyline: the linking rule and the agglomerative
baseline under each similarity between stories, from the gold stories of a
labelled file and its storyline annotation.

    python -m benchmarks.storyline_baselines allsides_dev.jsonl \
        evaluation/allsides_dev_storylines.jsonl [--json]

``newsclusters evaluate FILE --storylines ANNOTATION`` scores what ships
(the rule on centroid cosine) against the baselines, from gold stories and
end to end. This asks what else could have shipped. For each similarity
between two stories it reports the best threshold of the shipped rule
(each story, in time order, joins the storyline of its most similar
earlier story within the window if its mean similarity to that storyline's
stories reaches the threshold too) and of average-linkage agglomerative
clustering:

- centroid: the cosine of the stories' centroids (what ships);
- centred: the same after subtracting the mean of the articles seen so far;
- size-corrected: the centroid cosine scaled up for stories of few
  articles, whose centroids are noisier (an agreement of 0.68 between two
  articles of one story assumed);
- words, names, label words: the centroid mixed with the TF-IDF cosine of
  the stories' whole texts, of their likely names (capitalised words inside
  sentences), or the overlap of their label terms;
- the shipped rule over windows of 30 to 180 days;
- a ceiling for these signals together: a logistic regression of all of
  them, the closest and the mean cosine of the two stories' articles, and
  the days between the stories, fitted on the annotation itself,
  each pair scored by a model that never saw either story's storyline
  (five folds by storyline). Nothing ships it; it asks whether any mix of
  the signals could lead the baseline by a wide margin.

``NEWSCLUSTERS_MODEL=FOLDER`` measures another sentence-transformers model
(a folder path) in place of the packaged one.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

WINDOWS = (30.0, 60.0, 90.0, 120.0, 180.0)
AGREEMENT = 0.68
"""Mean cosine of two articles of one story with the packaged model."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("labelled", type=Path, help="the labelled file (gold stories)")
    parser.add_argument("storylines", type=Path, help="the storyline annotation")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from cluster.embedding.cache import CachingEmbedder, default_cache_dir
    from cluster.embedding.models import create_embedder, embedding_text
    from cluster.evaluation.replay import labelled_items
    from cluster.evaluation.storylines import gold_storylines, read_annotation
    from cluster.settings import load_settings

    items = labelled_items(args.labelled)
    settings = load_settings()
    embedder = CachingEmbedder(create_embedder(settings),
                               default_cache_dir() / "embeddings.sqlite3")
    try:
        vectors = embedder.embed([embedding_text(i.article.title, i.article.text,
                                                 settings.lead_chars) for i in items])
    finally:
        embedder.close()
    gold = gold_storylines(items, read_annotation(args.storylines))
    rows = signal_rows(items, np.asarray(vectors, dtype=np.float64), gold)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        print(f"{row['similarity']!s:<34} {row['method']!s:<28} P {row['precision']:.3f}  "
              f"R {row['recall']:.3f}  F1 {row['f1']:.3f}  at {row['threshold']:.3f}")


def signal_rows(items: Sequence[Any], vectors: np.ndarray,
                gold: list[str]) -> list[dict[str, object]]:
    stories = sorted({str(i.cluster) for i in items},
                     key=lambda s: min(_time(i) for i in items if str(i.cluster) == s))
    members: dict[str, list[int]] = defaultdict(list)
    for row, item in enumerate(items):
        members[str(item.cluster)].append(row)
    first = np.array([min(_time(items[r]) for r in members[s]) for s in stories])
    last = np.array([max(_time(items[r]) for r in members[s]) for s in stories])
    sums = np.stack([vectors[members[s]].sum(axis=0) for s in stories])
    sizes = np.array([len(members[s]) for s in stories], dtype=np.float64)
    unit = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    centroid = unit @ unit.T
    # centred on the mean of the articles seen up to each story's start
    seen = np.cumsum(sums, axis=0) / np.cumsum(sizes)[:, None]
    centred = np.zeros_like(centroid)
    for n in range(len(stories)):
        own = unit - seen[n]
        own /= np.linalg.norm(own, axis=1, keepdims=True)
        centred[n] = own @ own[n]
    correction = np.sqrt((AGREEMENT + (1 - AGREEMENT) / sizes) / AGREEMENT)
    corrected = centroid * np.outer(correction, correction)
    texts = [[f"{items[r].article.title}\n{items[r].article.text}" for r in members[s]]
             for s in stories]
    words = _tfidf_cosine(texts, _words)
    names = _tfidf_cosine(texts, _names)
    labels = _label_overlap(items, members, stories)
    scored = [("centroid", centroid), ("centred centroid", centred),
              ("size-corrected centroid", corrected),
              ("centroid 0.8 + words 0.2", 0.8 * centroid + 0.2 * words),
              ("centroid 0.7 + words 0.3", 0.7 * centroid + 0.3 * words),
              ("centroid 0.8 + names 0.2", 0.8 * centroid + 0.2 * names),
              ("centroid 0.8 + label words 0.2", 0.8 * centroid + 0.2 * labels)]
    line_of = [gold[members[s][0]] for s in stories]
    gap_days = np.maximum(0.0, np.maximum(first[:, None] - last[None, :],
                                          first[None, :] - last[:, None])) / 86_400.0
    closest, mean_pair = _article_pairs(vectors, [members[s] for s in stories])
    learned = _learned_combination([centroid, corrected, words, names, labels, closest,
                                    mean_pair, np.log1p(gap_days)], line_of)
    position = {s: n for n, s in enumerate(stories)}
    story_of = [position[str(i.cluster)] for i in items]
    rows: list[dict[str, object]] = []

    def add(name: str, method: str, fit: Callable[[float], dict[int, int]],
            grid: np.ndarray) -> None:
        from cluster.evaluation.scores import bcubed

        best: tuple[float, float, float, float] | None = None
        for threshold in grid:
            groups = fit(float(threshold))
            p, r, f = bcubed(gold, [groups[s] for s in story_of])
            if best is None or f > best[2]:
                best = (p, r, f, float(threshold))
        assert best is not None
        rows.append({"similarity": name, "method": method, "precision": best[0],
                     "recall": best[1], "f1": best[2], "threshold": best[3]})

    grid = np.arange(0.30, 0.901, 0.025)
    for name, similarity in scored:
        add(name, "the rule, 90 days",
            partial(_rule, similarity, first, last, window_days=90.0), grid)
        add(name, "average linkage", partial(_average_linkage, similarity), grid)
    learned_grid = np.arange(0.05, 0.951, 0.025)
    add("learned combination (ceiling)", "the rule, 90 days",
        partial(_rule, learned, first, last, window_days=90.0), learned_grid)
    add("learned combination (ceiling)", "average linkage",
        partial(_average_linkage, learned), learned_grid)
    for window in WINDOWS:
        add("centroid", f"the rule, {window:.0f} days",
            partial(_rule, centroid, first, last, window_days=window), grid)
    return rows


def _rule(similarity: np.ndarray, first: np.ndarray, last: np.ndarray, threshold: float,
          window_days: float) -> dict[int, int]:
    """The shipped rule over a precomputed similarity (stories in time order)."""
    window = window_days * 86_400.0
    group: dict[int, int] = {}
    lines: dict[int, list[int]] = defaultdict(list)
    for n in range(len(first)):
        gaps = np.maximum(0.0, np.maximum(first[n] - last[:n], first[:n] - last[n]))
        near = [m for m in range(n) if gaps[m] <= window]
        best = max(near, key=lambda m: (similarity[n, m], -m), default=None)
        joined = None
        if best is not None and similarity[n, best] >= threshold:
            mates = [m for m in lines[group[best]]
                     if max(0.0, first[n] - last[m], first[m] - last[n]) <= window]
            if np.mean([similarity[n, m] for m in mates]) >= threshold:
                joined = group[best]
        group[n] = joined if joined is not None else n
        lines[group[n]].append(n)
    return group


def _article_pairs(vectors: np.ndarray,
                   rows_of: Sequence[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """The cosine of the closest pair of articles of two stories, and the mean
    cosine over all their pairs."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosines = unit @ unit.T
    size = len(rows_of)
    closest, mean_pair = np.eye(size), np.eye(size)
    for a in range(size):
        for b in range(a + 1, size):
            block = cosines[np.ix_(rows_of[a], rows_of[b])]
            closest[a, b] = closest[b, a] = block.max()
            mean_pair[a, b] = mean_pair[b, a] = block.mean()
    return closest, mean_pair


def _learned_combination(signals: Sequence[np.ndarray], line_of: Sequence[str],
                         folds: int = 5) -> np.ndarray:
    """The probability that two stories share a storyline, from a logistic
    regression of the pairwise ``signals``, fitted on the annotation with the
    storylines dealt into ``folds`` (in order of name): a pair is scored by
    the model fitted on the pairs of the other folds' storylines only."""
    from sklearn.linear_model import LogisticRegression

    names = sorted(set(line_of))
    line_numbers = np.array([names.index(line) for line in line_of])
    fold_of = line_numbers % folds
    rows, columns = np.tril_indices(len(line_of), k=-1)
    features = np.stack([signal[rows, columns] for signal in signals], axis=1)
    same = line_numbers[rows] == line_numbers[columns]
    result = np.eye(len(line_of))
    for fold in range(folds):
        held = (fold_of[rows] == fold) | (fold_of[columns] == fold)
        model = LogisticRegression(max_iter=2000).fit(features[~held], same[~held])
        chance = model.predict_proba(features[held])[:, 1]
        result[rows[held], columns[held]] = chance
        result[columns[held], rows[held]] = chance
    return result


def _average_linkage(similarity: np.ndarray, threshold: float) -> dict[int, int]:
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                    distance_threshold=1.0 - threshold)
    labels = model.fit_predict(np.clip(1.0 - similarity, 0.0, 2.0))
    return dict(enumerate(int(label) for label in labels))


def _words(text: str) -> Counter[str]:
    from cluster.text.lexical import article_terms

    return article_terms(text)


def _names(text: str) -> Counter[str]:
    """Capitalised words that do not start a sentence: likely names."""
    import re

    from cluster.text.lexical import stop_words

    found: Counter[str] = Counter()
    for match in re.finditer(r"(?<=[a-z,;:] )[A-Z][\w'-]{2,}", text):
        word = match.group().lower()
        if word not in stop_words():
            found[word] += 1
    return found


def _tfidf_cosine(texts: list[list[str]],
                  terms_of: Callable[[str], Counter[str]]) -> np.ndarray:
    """Cosine of the stories' term profiles, document frequency over stories."""
    profiles = []
    for story in texts:
        counts: Counter[str] = Counter()
        for text in story:
            counts.update(set(terms_of(text)))
        profiles.append(counts)
    frequency: Counter[str] = Counter()
    for counts in profiles:
        frequency.update(counts.keys())
    weighted = []
    for counts in profiles:
        weights = {t: n / max(counts.values()) * math.log(len(profiles) / frequency[t])
                   for t, n in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        weighted.append({t: w / norm for t, w in weights.items()})
    return _pairwise(weighted)


def _label_overlap(items: Sequence[Any], members: dict[str, list[int]],
                   stories: list[str]) -> np.ndarray:
    from cluster.stories.labels import LabelSource, label_terms
    from cluster.text.lexical import TermStats, article_terms

    stats = TermStats()
    for item in items:
        stats.add(article_terms(f"{item.article.title}\n{item.article.text[:1000]}"))
    words = []
    for story in stories:
        terms = label_terms([LabelSource(items[r].article.title, items[r].article.text)
                             for r in members[story]], stats)
        words.append({w.lower() for term in terms for w in term.split()})
    size = len(stories)
    overlap = np.eye(size)
    for a in range(size):
        for b in range(a + 1, size):
            union = len(words[a] | words[b]) or 1
            overlap[a, b] = overlap[b, a] = len(words[a] & words[b]) / union
    return overlap


def _pairwise(profiles: list[dict[str, float]]) -> np.ndarray:
    size = len(profiles)
    result = np.eye(size)
    for a in range(size):
        for b in range(a + 1, size):
            small, large = sorted((profiles[a], profiles[b]), key=len)
            result[a, b] = result[b, a] = sum(v * large.get(t, 0.0) for t, v in small.items())
    return result


def _time(item: Any) -> float:
    return float(item.article.timestamp or 0.0)


if __name__ == "__main__":
    if not __package__:
        sys.exit("run from the repository root: python -m benchmarks.storyline_baselines")
    main()
