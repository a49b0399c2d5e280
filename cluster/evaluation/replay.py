"""Evaluation: replay a labelled file in time order (ties by id)
through a fresh service in a temporary folder, the production ingest path,
then score the final story assignment against the gold labels, side by side
with the baselines on the same embeddings."""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cluster.articles.importer import import_articles
from cluster.articles.jsonl import LabelledArticle, read_labelled_leniently
from cluster.embedding.models import Embedder, embedding_text
from cluster.errors import InvalidInput
from cluster.evaluation.baselines import bertopic, bertopic_available, centroid_single_pass
from cluster.evaluation.rouge import Rouge, mean_rouge
from cluster.evaluation.scores import Scores, score
from cluster.evaluation.storylines import StorylineResult, score_storylines
from cluster.service.facade import StoryService
from cluster.settings import Settings
from cluster.stories.headlines import clean_headline

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
    headlines: list[HeadlineResult] = field(default_factory=list)
    presentation_seconds: float = 0.0
    """Labels, summaries and headlines of every story, computed once after the replay."""
    refused: int = 0
    """Rows of the file that could not be read (left out of the scores)."""
    parts: dict[str, Scores] = field(default_factory=dict)
    """For a merged stream: the clusterer's scores on each file's articles."""
    storylines: list[StorylineResult] = field(default_factory=list)
    """With a storyline annotation: the storyline level's scores."""

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


@dataclass(frozen=True)
class HeadlineResult:
    method: str
    stories: int
    rouge: Rouge


GENERATED_HEADLINE = "headline (representative)"
GENERATED_LABEL = "label (key terms)"
FIRST_TITLE = "first article's title"
RANDOM_TITLE = "random member's title"


def headline_rouge(
    items: Sequence[LabelledArticle], predicted: Sequence[int],
    presented: dict[int, tuple[str, str]], seed: int = 0,
) -> list[HeadlineResult]:
    """For each gold story with a human headline, the predicted story holding most
    of its articles: its generated headline and label, and two baselines from
    the same predicted story (its first article's title, a random member's
    title), each scored by ROUGE F1 against the human headline."""
    rng = random.Random(seed)
    members: dict[int, list[LabelledArticle]] = {}
    for item, story in zip(items, predicted, strict=True):
        members.setdefault(story, []).append(item)
    by_gold: dict[str, Counter[int]] = {}
    reference: dict[str, str] = {}
    for item, story in zip(items, predicted, strict=True):
        if item.cluster is not None and item.story_title:
            by_gold.setdefault(item.cluster, Counter())[story] += 1
            reference[item.cluster] = item.story_title
    pairs: dict[str, list[tuple[str, str]]] = {
        GENERATED_HEADLINE: [], GENERATED_LABEL: [], FIRST_TITLE: [], RANDOM_TITLE: []}
    for gold in sorted(by_gold):
        story = min(by_gold[gold].items(), key=lambda kv: (-kv[1], kv[0]))[0]
        headline, label = presented.get(story, ("", ""))
        truth = reference[gold]
        group = members[story]  # in replay order: the first is the earliest
        pairs[GENERATED_HEADLINE].append((headline, truth))
        pairs[GENERATED_LABEL].append((label.replace(" · ", " "), truth))
        # the baselines get the headline's cleaning too, so that the comparison
        # measures which title is chosen, not how it is trimmed
        first, chance = group[0].article, rng.choice(group).article
        pairs[FIRST_TITLE].append((clean_headline(first.title, first.source), truth))
        pairs[RANDOM_TITLE].append((clean_headline(chance.title, chance.source), truth))
    return [HeadlineResult(method, len(found), mean_rouge(found))
            for method, found in pairs.items() if found]


def labelled_items(path: Path, limit: int | None = None,
                   refused: list[InvalidInput] | None = None) -> list[LabelledArticle]:
    """The labelled articles of a file in replay order (the first ``limit``).
    A row that cannot be read is left out and, with ``refused``, reported
    there (``file:line.field: reason``), so one bad row never stops a file."""
    items, bad = read_labelled_leniently(path)
    if refused is not None:
        refused.extend(bad)
    items = [i for i in items if i.cluster is not None]
    return items[:limit] if limit else items


@contextmanager
def scratch_service(settings: Settings, embedder: Embedder,
                    present_per_batch: bool = True) -> Iterator[StoryService]:
    """A fresh service whose store and index live in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="newsclusters-") as folder:
        local = settings.model_copy(update={"data_dir": Path(folder) / "var",
                                            "index_dir": Path(folder) / "indexes"})
        service = StoryService(local, embedder, present_per_batch=present_per_batch).open()
        try:
            yield service
        finally:
            service.close()


def run_clusterer(
    settings: Settings, embedder: Embedder, items: Sequence[LabelledArticle],
    batch_size: int = 64, progress: Callable[[int], None] | None = None,
    presented: dict[int, tuple[str, str]] | None = None,
    timings: dict[str, float] | None = None,
    storylines: dict[str, int] | None = None,
) -> tuple[list[int], float]:
    """Story id per item, and the seconds the ingest took (embedding excluded
    when the embedder already holds the vectors).

    The replay is the production ingest path (store, index, clusterer, ageing,
    merges) except that story presentation (labels, summaries, headlines),
    which nothing reads mid-replay and which does not affect clustering, runs
    once at the end; its time goes to ``timings["presentation"]``."""
    with scratch_service(settings, embedder, present_per_batch=False) as service:
        started = time.perf_counter()
        import_articles(service, items, batch_size, progress)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        service.refresh_presentations()
        if timings is not None:
            timings["presentation"] = time.perf_counter() - started
        assignment = service.assignments()
        if presented is not None:
            presented.update(service.story_headlines())
        if storylines is not None:
            storylines.update(service.article_storylines())
    return [int(assignment[i.article.id]) for i in items], seconds


def evaluate_items(
    name: str, items: Sequence[LabelledArticle], settings: Settings, embedder: Embedder,
    baseline_tau: float = 0.5, with_bertopic: bool = True,
    progress: Callable[[int], None] | None = None, groups: Sequence[str] | None = None,
    annotation: Mapping[str, str | None] | None = None,
) -> FileEvaluation:
    """Replay ``items`` through the clusterer and the baselines and score each.
    With ``groups`` (the file each item came from, for a merged stream), the
    clusterer is also scored on each group's articles within the replay. With
    a storyline ``annotation`` of the file's gold stories, storylines are
    scored too (``cluster/evaluation/storylines.py``)."""
    texts = [embedding_text(i.article.title, i.article.text, settings.lead_chars) for i in items]
    vectors = embedder.embed(texts)  # fills the cache, so the timed runs exclude embedding
    gold = [i.cluster for i in items]
    evaluation = FileEvaluation(name, len(items))

    presented: dict[int, tuple[str, str]] = {}
    timings: dict[str, float] = {}
    lines: dict[str, int] = {}
    predicted, seconds = run_clusterer(settings, embedder, items, progress=progress,
                                       presented=presented, timings=timings, storylines=lines)
    evaluation.presentation_seconds = timings.get("presentation", 0.0)
    evaluation.methods.append(MethodResult(CLUSTERER, score(gold, predicted), seconds,
                                           len(items) / max(seconds, 1e-9)))
    evaluation.headlines = headline_rouge(items, predicted, presented)
    if annotation is not None and any(str(i.cluster) in annotation for i in items):
        evaluation.storylines = score_storylines(
            items, np.asarray(vectors), annotation, settings.cluster, predicted,
            [lines.get(i.article.id) for i in items])
    if groups is not None:
        for group in dict.fromkeys(groups):
            rows = [n for n, g in enumerate(groups) if g == group]
            evaluation.parts[group] = score([gold[n] for n in rows],
                                            [predicted[n] for n in rows])

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
        for part, scores in evaluation.parts.items():
            lines.append(f"{evaluation.file:<22} {'  ' + part[:24]:<26} "
                         f"{scores.bcubed_precision:6.3f} {scores.bcubed_recall:6.3f} "
                         f"{scores.bcubed_f1:6.3f}   (the clusterer, this file's articles)")
        if evaluation.refused:
            lines.append(f"{evaluation.file:<22} {'rows refused (not scored)':<26} "
                         f"{evaluation.refused}")
        if evaluation.presentation_seconds:
            lines.append(f"{evaluation.file:<22} {'story presentation (once)':<26} "
                         f"{evaluation.presentation_seconds:.2f} s")
    for evaluation in evaluations:
        if evaluation.storylines:
            lines.append("")
            lines.append(f"{evaluation.file}: storylines, BCubed over articles against the "
                         "annotated storylines")
            lines.append(f"{'':<4}{'method':<66} {'P':>6} {'R':>6} {'F1':>6} {'lines':>6}")
            for row in evaluation.storylines:
                lines.append(f"{'':<4}{row.method:<66} {row.precision:6.3f} "
                             f"{row.recall:6.3f} {row.f1:6.3f} {row.storylines:6d}")
    for evaluation in evaluations:
        if evaluation.headlines:
            lines.append("")
            lines.append(f"{evaluation.file}: ROUGE F1 against the gold stories' human "
                         f"headlines ({evaluation.headlines[0].stories} stories)")
            lines.append(f"{'':<4}{'candidate':<28} {'R-1':>6} {'R-2':>6} {'R-L':>6}")
            for headline in evaluation.headlines:
                r = headline.rouge
                lines.append(f"{'':<4}{headline.method:<28} {r.rouge1:6.3f} {r.rouge2:6.3f} "
                             f"{r.rougeL:6.3f}")
    files = [e for e in evaluations if not e.parts]  # a merged stream is not one more file
    if len(files) > 1:
        f1s = [e.result(CLUSTERER).scores.bcubed_f1 for e in files  # type: ignore[union-attr]
               if e.result(CLUSTERER) is not None]
        lines.append(f"mean clusterer BCubed F1 over {len(f1s)} files: "
                     f"{sum(f1s) / len(f1s):.4f}")
    return "\n".join(lines)
