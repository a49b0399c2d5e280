"""Clustering quality on the benchmark's synthetic stream (cluster/synthetic.py),
whose gold stories include many of one article, as a real feed's do: 45 % of
its stories at 10,000 articles. None of the labelled dev files has a story of
one article, so a rule that attaches lone articles to stories more readily
looks better on them than it is; this is the check against that
(docs/QUALITY.md, "Tried in the seventh session").

The stream goes through the service's real ingest path in batches of 500, as
in scripts/bench.py; prints the gold and predicted story counts and BCubed
precision / recall / F1.

    python docs/measurements/synthetic_quality.py 10000 30000 100000
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

from cluster.metrics import bcubed
from cluster.scale_bench import PrecomputedEmbedder
from cluster.service import StoryService
from cluster.settings import load_settings
from cluster.synthetic import generate


def main(counts: list[int]) -> None:
    for count in counts:
        corpus = generate(count, seed=7)
        with tempfile.TemporaryDirectory(prefix="newsclusters-synthetic-") as folder:
            settings = load_settings({"data_dir": Path(folder) / "var",
                                      "index_dir": Path(folder) / "indexes", "max_batch": 500})
            service = StoryService(settings, PrecomputedEmbedder(corpus, settings.lead_chars),
                                   present_per_batch=False)
            try:
                for start in range(0, len(corpus.articles), 500):
                    service.ingest(corpus.articles[start:start + 500])
                    print(f"  {count:,}: {start + 500:,} ingested", file=sys.stderr, end="\r")
                assignment = service.assignments()
            finally:
                service.close()
        predicted = [int(assignment[article.id]) for article in corpus.articles]
        sizes = Counter(corpus.stories)
        alone = sum(1 for size in sizes.values() if size == 1)
        precision, recall, f1 = bcubed(corpus.stories, predicted)
        print(f"{count:>9,} articles: gold {len(sizes):,} stories ({alone:,} of one article), "
              f"predicted {len(set(predicted)):,}; BCubed P {precision:.4f} R {recall:.4f} "
              f"F1 {f1:.4f}")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [10_000])
