"""Storyline baselines on annotated stories: how well simple rules group the
gold stories of a labelled file into the annotated storylines.

    python -m benchmarks.storyline_baselines allsides_dev.jsonl \
        evaluation/allsides_dev_storylines.jsonl [--json]

Scores are BCubed over articles (each article's gold is its story's
storyline; a story without one is its own), from gold stories and, with
``--end-to-end``, from the stories the clusterer finds: the baselines a
storyline method must beat. "stories alone" puts every story
in its own storyline; "linking story centroids" joins stories whose
centroids (the mean of their articles' vectors, packaged model) are within
a cosine threshold, by average linkage, at each threshold of a grid, so
its best row is tuned on the data itself. ``--signals`` also tries, on the
same linking, the story similarity mixed from the centroid cosine, the
TF-IDF cosine of the stories' titles and leads, and the overlap of their
label words, with and without a decay over the days between them: which
signals identify a development beyond the event-level embedding.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("labelled", type=Path, help="the labelled file (gold stories)")
    parser.add_argument("storylines", type=Path, help="the storyline annotation")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--end-to-end", action="store_true",
                        help="also from the stories the clusterer finds in a replay of the "
                             "file (each article's gold is still its gold story's storyline)")
    parser.add_argument("--signals", action="store_true",
                        help="also try mixes of centroid, word-profile and label-word "
                             "similarity, and a decay over time")
    args = parser.parse_args()
    from sklearn.cluster import AgglomerativeClustering

    from cluster.embedding.cache import CachingEmbedder, default_cache_dir
    from cluster.embedding.models import create_embedder, embedding_text
    from cluster.evaluation.replay import labelled_items
    from cluster.evaluation.scores import bcubed
    from cluster.settings import load_settings

    annotation = {row["story"]: row["storyline"]
                  for row in map(json.loads, args.storylines.read_text().splitlines())}
    items = labelled_items(args.labelled)
    settings = load_settings()
    embedder = CachingEmbedder(create_embedder(settings),
                               default_cache_dir() / "embeddings.sqlite3")
    try:
        vectors = embedder.embed([embedding_text(i.article.title, i.article.text,
                                                 settings.lead_chars) for i in items])
    finally:
        embedder.close()
    gold = [annotation.get(str(i.cluster)) or f"alone:{i.cluster}" for i in items]
    groupings = [("from gold stories", [str(i.cluster) for i in items])]
    if args.end_to_end:  # the stories the clusterer finds, replaying the file
        from cluster.evaluation.replay import run_clusterer

        replay = CachingEmbedder(create_embedder(settings),
                                 default_cache_dir() / "embeddings.sqlite3")
        try:
            predicted, _ = run_clusterer(settings, replay, items)
        finally:
            replay.close()
        groupings.append(("end to end", [f"p{story}" for story in predicted]))
    rows: list[dict[str, object]] = []
    for name, story_of in groupings:
        stories = sorted(set(story_of))
        members: dict[str, list[int]] = defaultdict(list)
        for position, story in enumerate(story_of):
            members[story].append(position)
        centroids = np.stack([vectors[members[s]].mean(axis=0) for s in stories])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        p, r, f = bcubed(gold, story_of)
        rows.append({"method": f"{name}: stories alone", "precision": p, "recall": r,
                     "f1": f})
        for threshold in np.arange(0.30, 0.86, 0.05):
            model = AgglomerativeClustering(n_clusters=None, metric="cosine",
                                            linkage="average",
                                            distance_threshold=1.0 - float(threshold))
            linked = dict(zip(stories, model.fit_predict(centroids).tolist(), strict=True))
            p, r, f = bcubed(gold, [linked[s] for s in story_of])
            rows.append({"method": f"{name}: linking story centroids, cosine >= "
                                   f"{threshold:.2f}", "precision": p, "recall": r, "f1": f})
        if args.signals:
            rows += [{**row, "method": f"{name}: {row['method']}"} for row in _signal_rows(
                items, story_of, members, stories, centroids, gold)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{len(items)} articles, {len({i.cluster for i in items})} gold stories, "
          f"{len(set(gold))} gold storylines (singletons included)")
    for result in rows:
        print(f"{result['method']!s:<90} P {result['precision']:.3f}  "
              f"R {result['recall']:.3f}  F1 {result['f1']:.3f}")


def _signal_rows(items: Any, story_of: list[str], members: dict[str, list[int]],
                 stories: list[str], centroids: Any, gold: list[str]) -> list[dict[str, object]]:
    """The best threshold of each mix of signals (average linkage)."""
    import math
    from collections import Counter

    from sklearn.cluster import AgglomerativeClustering

    from cluster.evaluation.scores import bcubed
    from cluster.stories.labels import LabelSource, label_terms
    from cluster.text.lexical import TermStats, article_terms

    stats = TermStats()
    for item in items:
        stats.add(article_terms(f"{item.article.title}\n{item.article.text[:600]}"))
    profiles, names = [], []
    for story in stories:
        counts: Counter[str] = Counter()
        for row in members[story]:
            counts.update(article_terms(
                f"{items[row].article.title}\n{items[row].article.text[:600]}"))
        weights = {t: (1 + math.log(n)) * stats.idf(t) for t, n in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        profiles.append({t: w / norm for t, w in weights.items()})
        terms = label_terms([LabelSource(items[r].article.title, items[r].article.text)
                             for r in members[story]], stats)
        names.append({word.lower() for term in terms for word in term.split()})
    size = len(stories)
    lexical, shared = np.zeros((size, size)), np.zeros((size, size))
    for a in range(size):
        for b in range(a + 1, size):
            small, large = sorted((profiles[a], profiles[b]), key=len)
            lexical[a, b] = lexical[b, a] = sum(v * large.get(t, 0.0) for t, v in small.items())
            union = len(names[a] | names[b]) or 1
            shared[a, b] = shared[b, a] = len(names[a] & names[b]) / union
    days = np.array([min(items[r].article.timestamp or 0.0 for r in members[s])
                     for s in stories]) / 86400.0
    gap = np.abs(days[:, None] - days[None, :])
    dense = centroids @ centroids.T
    position = {story: n for n, story in enumerate(stories)}
    rows: list[dict[str, object]] = []
    for word_weight in (0.0, 0.3, 0.5):
        for name_weight in (0.0, 0.3):
            for decay in (None, 30.0, 60.0):
                similarity = ((1 - word_weight - name_weight) * dense
                              + word_weight * lexical + name_weight * shared)
                if decay is not None:
                    similarity = similarity * np.exp(-gap / decay)
                best: tuple[float, float, float, float] | None = None
                for threshold in np.arange(0.10, 0.80, 0.025):
                    model = AgglomerativeClustering(
                        n_clusters=None, metric="precomputed", linkage="average",
                        distance_threshold=1.0 - float(threshold))
                    labels = model.fit_predict(np.clip(1.0 - similarity, 0.0, 2.0))
                    p, r, f = bcubed(gold, [int(labels[position[s]]) for s in story_of])
                    if best is None or f > best[2]:
                        best = (p, r, f, float(threshold))
                assert best is not None
                rows.append({
                    "method": f"centroid {1 - word_weight - name_weight:.1f} + words "
                              f"{word_weight:.1f} + label words {name_weight:.1f}, decay "
                              f"{'none' if decay is None else f'{decay:.0f} d'}, best at "
                              f"{best[3]:.3f}",
                    "precision": best[0], "recall": best[1], "f1": best[2]})
    return rows


if __name__ == "__main__":
    if not __package__:
        sys.exit("run from the repository root: python -m benchmarks.storyline_baselines")
    main()
