"""Evaluation (DESIGN §7): replay a labelled file in time order (ties by id)
through a fresh service in a temporary folder, the production ingest path,
then score the final story assignment against the gold labels, side by side
with the baselines on the same embeddings."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cluster.baselines import bertopic, bertopic_available, centroid_single_pass
from cluster.embedding import Embedder, embedding_text
from cluster.importer import import_articles
from cluster.jsonl import LabelledArticle, read_labelled
from cluster.metrics import Scores, score
from cluster.service import StoryService
from cluster.settings import Settings

CLUSTERER = "clusterer"
BASELINE = "centroid baseline"
BERTOPIC = "BERTopic"


@dataclass(frozen=True)
class MethodResult:
    method: str
    scores: Scores
    seconds: float
    articles_per_s: float


@dataclass
class FileEvaluation:
    file: str
    articles: int
    methods: list[MethodResult] = field(default_factory=list)

    def result(self, method: str) -> MethodResult | None:
        return next((m for m in self.methods if m.method == method), None)

    @property
    def margin(self) -> float | None:
        """Clusterer BCubed F1 minus the best other method's."""
        ours = self.result(CLUSTERER)
        others = [m.scores.bcubed_f1 for m in self.methods if m.method != CLUSTERER]
        if ours is None or not others:
            return None
        return ours.scores.bcubed_f1 - max(others)


def labelled_items(path: Path, limit: int | None = None) -> list[LabelledArticle]:
    items = [i for i in read_labelled(path) if i.cluster is not None]
    return items[:limit] if limit else items


@contextmanager
def scratch_service(settings: Settings, embedder: Embedder) -> Iterator[StoryService]:
    """A fresh service whose store and index live in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="newsclusters-") as folder:
        local = settings.model_copy(update={"data_dir": Path(folder) / "var",
                                            "index_dir": Path(folder) / "indexes"})
        service = StoryService(local, embedder)
        try:
            yield service
        finally:
            service.store.close()


def run_clusterer(
    settings: Settings, embedder: Embedder, items: Sequence[LabelledArticle],
    batch_size: int = 64, progress: Callable[[int], None] | None = None,
) -> tuple[list[int], float]:
    """Story id per item, and the seconds the ingest took (embedding excluded
    when the embedder already holds the vectors)."""
    with scratch_service(settings, embedder) as service:
        started = time.perf_counter()
        import_articles(service, items, batch_size, progress)
        seconds = time.perf_counter() - started
        assignment = service.assignments()
    return [int(assignment[i.article.id]) for i in items], seconds


def evaluate_items(
    name: str, items: Sequence[LabelledArticle], settings: Settings, embedder: Embedder,
    baseline_tau: float = 0.5, with_bertopic: bool = True,
    progress: Callable[[int], None] | None = None,
) -> FileEvaluation:
    texts = [embedding_text(i.article.title, i.article.text, settings.lead_chars) for i in items]
    vectors = embedder.embed(texts)  # fills the cache, so the timed runs exclude embedding
    gold = [i.cluster for i in items]
    evaluation = FileEvaluation(name, len(items))

    predicted, seconds = run_clusterer(settings, embedder, items, progress=progress)
    evaluation.methods.append(MethodResult(CLUSTERER, score(gold, predicted), seconds,
                                           len(items) / max(seconds, 1e-9)))

    started = time.perf_counter()
    stamps = [i.article.timestamp for i in items]
    labels = centroid_single_pass(np.asarray(vectors), stamps, baseline_tau)
    seconds = time.perf_counter() - started
    evaluation.methods.append(MethodResult(f"{BASELINE} (tau={baseline_tau})",
                                           score(gold, labels), seconds,
                                           len(items) / max(seconds, 1e-9)))
    if with_bertopic and bertopic_available() and len(items) >= 10:
        started = time.perf_counter()
        labels = bertopic(texts, np.asarray(vectors))
        seconds = time.perf_counter() - started
        evaluation.methods.append(MethodResult(BERTOPIC, score(gold, labels), seconds,
                                               len(items) / max(seconds, 1e-9)))
    return evaluation


def format_table(evaluations: Sequence[FileEvaluation]) -> str:
    header = (f"{'file':<22} {'method':<26} {'B3 P':>6} {'B3 R':>6} {'B3 F1':>6} "
              f"{'pw P':>6} {'pw R':>6} {'pw F1':>6} {'AMI':>6} {'ARI':>6} "
              f"{'pred':>5} {'gold':>5} {'art/s':>8}")
    lines = [header, "-" * len(header)]
    for evaluation in evaluations:
        for result in evaluation.methods:
            s = result.scores
            lines.append(
                f"{evaluation.file:<22} {result.method:<26} {s.bcubed_precision:6.3f} "
                f"{s.bcubed_recall:6.3f} {s.bcubed_f1:6.3f} {s.pairwise_precision:6.3f} "
                f"{s.pairwise_recall:6.3f} {s.pairwise_f1:6.3f} {s.ami:6.3f} {s.ari:6.3f} "
                f"{s.predicted_clusters:5d} {s.gold_clusters:5d} {result.articles_per_s:8.0f}")
        if evaluation.margin is not None:
            lines.append(f"{evaluation.file:<22} {'margin over best other':<26} "
                         f"{'':6} {'':6} {evaluation.margin:+6.3f}")
    if len(evaluations) > 1:
        f1s = [e.result(CLUSTERER).scores.bcubed_f1 for e in evaluations  # type: ignore[union-attr]
               if e.result(CLUSTERER) is not None]
        lines.append(f"mean clusterer BCubed F1 over {len(f1s)} files: "
                     f"{sum(f1s) / len(f1s):.4f}")
    return "\n".join(lines)
