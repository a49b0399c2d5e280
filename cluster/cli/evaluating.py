"""``newsclusters evaluate`` and ``newsclusters tune``: clustering quality on
labelled files."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cluster.cli.common import Commands, add_command, readable_file

DEFAULT_GRID = {
    "join_threshold": ["0.35", "0.375", "0.4"],
    "headline_threshold": ["0.25", "0.3", "0.35"],
    "time_weight": ["0.7", "1.0"],
}
LABELLED_FORMAT = """
Each file is JSON Lines in the labelled-data format: "id", "title", "text",
"date", "source" and "cluster" (the gold story). Embeddings are cached by
content hash under $XDG_CACHE_HOME/newsclusters (or ~/.cache/newsclusters),
so later runs do not embed again.
"""


def register(commands: Commands) -> None:
    parser = add_command(
        commands, "evaluate", evaluate_files, "score the clustering on labelled files",
        """
        Replay each labelled file in time order (ties by id) through a fresh
        service in a temporary folder, the production ingest path, and score
        the stories against the gold labels: BCubed precision, recall and F1
        (the primary score), pairwise F1, AMI and ARI, and story counts, for
        the clusterer, the single-pass centroid baseline and, with the [eval]
        extra installed, BERTopic. Headlines are scored by ROUGE against the
        files' roundup headlines where they have them. A row that cannot be
        read (no title, a bad date, broken JSON) is reported with its file,
        line and reason and left out; the rest of the file is scored, and the
        table says how many rows were refused.
        """ + LABELLED_FORMAT, ("embedder", "model", "embed_precision"))
    parser.add_argument("files", nargs="+", type=readable_file, metavar="FILE.jsonl",
                          help="Labelled files; each is scored on its own.")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                          metavar="NAME=VALUE",
                          help="Override a clusterer setting for this run, e.g. "
                               "--set join_threshold=0.4 (repeatable).")
    parser.add_argument("--baseline-tau", type=float, default=0.5, metavar="T",
                          help="The centroid baseline's join threshold (default 0.5).")
    parser.add_argument("--no-bertopic", action="store_true",
                          help="Leave BERTopic out even when it is installed (it is slow).")
    parser.add_argument("--limit", type=int, default=0, metavar="N",
                          help="Use only the first N articles of each file.")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                          help="Where to cache embeddings (default: see above).")
    parser.add_argument("--json", action="store_true",
                          help="Print the settings and every score as JSON instead of a table.")
    parser.add_argument("--dates", choices=["exact", "day"], default="exact",
                        help="day: cut every date to its day (UTC) before the replay, as a "
                             "feed that gives only dates would (the arrival order is kept).")
    parser.add_argument("--spread", type=float, default=None, metavar="HOURS",
                        help="Move each dated article later by a random 0 to HOURS hours "
                             "(the same for an article every run) and replay in the new time "
                             "order: coverage spread over a day or more, where a file dates "
                             "every article of a story alike.")
    parser.add_argument("--shuffle", type=int, default=None, metavar="SEED",
                        help="Replay each file in a random order drawn with this seed "
                             "instead of time order (for undated files).")
    parser.add_argument("--together", action="store_true",
                        help="Replay all the files as one file, in time order, their gold "
                             "stories shared (e.g. a file and its translations: a story "
                             "labelled the same in both is one story).")
    parser.add_argument("--storylines", type=readable_file, default=None,
                        metavar="ANNOTATION.jsonl",
                        help="Also score storylines on the files whose gold stories this "
                             "annotation covers (rows of {\"story\", \"storyline\"}; see "
                             "evaluation/README.md): from gold stories and end to end, beside "
                             "two baselines.")
    parser.add_argument("--stream", action="store_true",
                        help="Also replay all the files as one stream, as production sees "
                             "them: each file's timeline shifted to a common start, stories "
                             "kept apart per file; the stream's scores are printed beside "
                             "the files', with each file's scores within the stream.")
    parser = add_command(
        commands, "tune", tune_settings, "search clusterer settings over labelled files",
        """
        Try every combination of the given clusterer settings on every file
        and rank them by the mean BCubed F1 across files: one setting must
        serve every kind of news, so no file picks its own. Prints the best
        settings as --set options for `newsclusters evaluate`.
        """ + LABELLED_FORMAT, ("embedder", "model", "embed_precision"))
    parser.add_argument("files", nargs="+", type=readable_file, metavar="FILE.jsonl",
                      help="Labelled files to score each setting on.")
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                      help="Values to try for one clusterer setting (repeatable); without "
                           "it, a small grid around the shipped defaults.")
    parser.add_argument("--limit", type=int, default=0, metavar="N",
                      help="Use only the first N articles of each file.")
    parser.add_argument("--top", type=int, default=10, metavar="N",
                      help="Settings to list (default 10).")


def parse_overrides(pairs: list[str], option: str = "--set") -> dict[str, str]:
    from cluster.errors import InvalidInput

    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(option, f"takes NAME=VALUE, got {pair!r}")
        overrides[name.strip().removeprefix("cluster.")] = value.strip()
    return overrides


def evaluate_files(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cluster.articles.jsonl import LabelledArticle
    from cluster.embedding.cache import CachingEmbedder, default_cache_dir
    from cluster.embedding.models import create_embedder
    from cluster.errors import InvalidInput
    from cluster.evaluation.replay import evaluate_items, format_table, labelled_items
    from cluster.evaluation.stream import merged_stream
    from cluster.evaluation.variants import (
        day_only,
        shuffled,
        spread,
        together_in_time_order,
    )
    from cluster.settings import load_settings

    settings = load_settings().with_cluster(**parse_overrides(args.overrides))
    if args.spread is not None and not 0.0 <= args.spread <= 24.0 * 365:
        raise InvalidInput("--spread", "must be between 0 and 8760 hours")
    annotation = None
    if args.storylines is not None:
        from cluster.evaluation.storylines import read_annotation

        try:
            annotation = read_annotation(args.storylines)
        except (OSError, ValueError) as problem:
            raise InvalidInput("--storylines", str(problem)) from problem
    cache = (args.cache_dir or default_cache_dir()) / "embeddings.sqlite3"
    embedder = CachingEmbedder(create_embedder(settings), cache)
    try:
        evaluations = []
        loaded: dict[str, list[LabelledArticle]] = {}
        for path in args.files:
            refused: list[InvalidInput] = []
            items = labelled_items(path, args.limit or None, refused)
            if args.spread is not None:
                items = spread(items, args.spread)
            if args.dates == "day":
                items = day_only(items)
            if args.shuffle is not None:
                items = shuffled(items, args.shuffle)
            loaded[path.name] = items
            for error in refused:
                print(f"refused {error}", file=sys.stderr)
            with tqdm(total=len(items), unit="article", desc=path.name,
                      disable=args.json) as bar:
                evaluation = evaluate_items(
                    path.name, items, settings, embedder, args.baseline_tau,
                    with_bertopic=not args.no_bertopic, progress=_advance(bar),
                    annotation=annotation)
            evaluation.refused = len(refused)
            evaluations.append(evaluation)
        if args.together and len(loaded) > 1:
            together = together_in_time_order(loaded.values())
            name = " + ".join(loaded)
            with tqdm(total=len(together), unit="article", desc=name, disable=args.json) as bar:
                evaluations.append(evaluate_items(
                    name, together, settings, embedder, args.baseline_tau,
                    with_bertopic=not args.no_bertopic, progress=_advance(bar)))
        if args.stream and len(loaded) > 1:
            stream, groups = merged_stream(loaded)
            name = f"stream of {len(loaded)} files"
            with tqdm(total=len(stream), unit="article", desc=name, disable=args.json) as bar:
                evaluations.append(evaluate_items(
                    name, stream, settings, embedder, args.baseline_tau,
                    with_bertopic=not args.no_bertopic, progress=_advance(bar),
                    groups=groups))
    finally:
        embedder.close()
    if args.json:
        print(json.dumps({
            "settings": settings.cluster.model_dump(),
            "files": [{**asdict(e), "margin": e.margin} for e in evaluations],
        }, indent=2))
    else:
        print(f"settings: {settings.cluster.model_dump()}")
        print(format_table(evaluations))
    return 0


def tune_settings(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cluster.embedding.cache import CachingEmbedder, default_cache_dir
    from cluster.embedding.models import create_embedder
    from cluster.evaluation.replay import labelled_items
    from cluster.evaluation.tuning import grid, tune
    from cluster.settings import load_settings

    space = {name: [v for v in values.split(",") if v]
             for name, values in parse_overrides(args.grid, "--grid").items()} or DEFAULT_GRID
    settings = load_settings()
    embedder = CachingEmbedder(create_embedder(settings),
                               default_cache_dir() / "embeddings.sqlite3")
    try:
        files = {p.name: labelled_items(p, args.limit or None) for p in args.files}
        with tqdm(total=len(grid(space)), unit="setting", desc="tune") as bar:
            step = _advance(bar)
            trials = tune(settings, embedder, files, space, on_trial=lambda _: step(1))
    finally:
        embedder.close()
    names = list(files)
    print(f"{'mean F1':>8} " + " ".join(f"{n[:18]:>18}" for n in names) + "  setting")
    for trial in trials[: args.top]:
        print(f"{trial.mean_f1:8.4f} "
              + " ".join(f"{trial.f1_by_file[n]:18.4f}" for n in names)
              + f"  {trial.overrides}")
    best = trials[0]
    print(f"\nbest (mean BCubed F1 {best.mean_f1:.4f}): "
          + " ".join(f"--set {k}={v}" for k, v in best.overrides.items()))
    return 0


def _advance(bar: Any) -> Callable[[int], None]:
    def advance(count: int) -> None:
        bar.update(count)

    return advance
