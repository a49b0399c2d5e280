#!/usr/bin/env python3
"""Benchmark: ingest articles/s end to end vs embedding alone on the same texts
(same run), and related-coverage latency p50/p99 for stored articles and for
new text. Prints a table; no pass/fail.

    python -m scripts.bench [--file FILE.jsonl] [--limit N] [--json]
    python -m scripts.bench --embedders [--limit 1000] [--rounds 2]   # backends
    python -m scripts.bench --scale 10000,100000,1000000              # synthetic scale

Default corpus: ../shared/data/allsides_dev.jsonl when present, else the demo corpus.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

if not __package__:  # run as a file, the checkout's packages are not importable
    raise SystemExit("run from the repository root: python -m scripts.bench [OPTIONS]")

from scripts._common import run

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "allsides_dev.jsonl"
DEMO = ROOT / "cluster" / "demo" / "demo.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=None,
                        help="the corpus (default: AllSides from ../shared/data, else the "
                             "41-article demo corpus)")
    parser.add_argument("--limit", type=int, default=0, help="use the first N articles")
    parser.add_argument("--queries", type=int, default=200,
                        help="related-coverage queries to time (default 200)")
    parser.add_argument("--json", action="store_true",
                        help="print the figures as JSON instead of a table")
    parser.add_argument("--scale", default="",
                        help="comma-separated sizes (e.g. 10000,100000,1000000): the synthetic "
                             "scale benchmark instead of the corpus one")
    parser.add_argument("--index-sweep", type=int, default=0, metavar="N",
                        help="recall@10 and latency of IVF-SQ8 vs exact search over N "
                             "synthetic vectors and over the shared files' real embeddings")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="with --scale: build each store in DIR/<size> and keep it "
                             "(to profile or query afterwards); default: a temporary folder")
    parser.add_argument("--nprobe", default="2,4,8,16,32,64",
                        help="with --index-sweep: the IVF cells searched per query to try")
    parser.add_argument("--embedders", action="store_true",
                        help="documents/s and agreement with float32 of each embedding "
                             "backend on the same texts (--limit, default 1000)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="with --embedders: rounds per backend, alternating (default 2)")
    args = parser.parse_args()
    if args.embedders:
        embedders(args)
        return
    if args.scale:
        scale(args)
        return
    if args.index_sweep:
        index_sweep(args)
        return

    from benchmarks.throughput import run_benchmark
    from cluster.articles.importer import read_files
    from cluster.embedding.models import create_embedder
    from cluster.settings import load_settings

    settings = load_settings()
    if args.file is None:
        args.file = SHARED if SHARED.exists() else DEMO
        if args.file == DEMO:
            print(f"{SHARED} not found: benchmarking the demo corpus", file=sys.stderr)
    items = read_files([args.file])
    if args.limit > len(items):
        print(f"--limit {args.limit}: {args.file.name} has only {len(items)} articles",
              file=sys.stderr)
    if args.limit:
        items = items[: args.limit]
    report = run_benchmark(settings, create_embedder(settings), items, args.file.name,
                           queries=args.queries)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
        return
    print(f"corpus: {report.corpus}, {report.articles} articles -> {report.stories} stories "
          f"(embedder {settings.embedder}, model {settings.model})")
    rows = [
        ("embedding only", f"{report.embed_only_per_s} articles/s"),
        ("ingest end to end", f"{report.ingest_per_s} articles/s "
                              f"({report.ingest_vs_embed:.0%} of embedding only)"),
        ("related, stored article", f"p50 {report.related_stored_p50_ms} ms, "
                                    f"p99 {report.related_stored_p99_ms} ms"),
        ("related, new text", f"p50 {report.related_text_p50_ms} ms, "
                              f"p99 {report.related_text_p99_ms} ms"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def index_sweep(args: argparse.Namespace) -> None:
    import numpy as np

    from benchmarks.index_sweep import sweep
    from benchmarks.synthetic import generate

    nprobes = [int(n) for n in args.nprobe.split(",")]
    sets = [(f"synthetic {args.index_sweep:,}", generate(args.index_sweep, seed=7).vectors)]
    shared = sorted(SHARED.parent.glob("*.jsonl")) if SHARED.parent.exists() else []
    if shared:
        from cluster.embedding.cache import CachingEmbedder, default_cache_dir
        from cluster.embedding.models import create_embedder, embedding_text
        from cluster.evaluation.replay import labelled_items
        from cluster.settings import load_settings

        settings = load_settings()
        embedder = CachingEmbedder(create_embedder(settings),
                                   default_cache_dir() / "embeddings.sqlite3")
        texts = [embedding_text(i.article.title, i.article.text, settings.lead_chars)
                 for path in shared for i in labelled_items(path)]
        sets.append((f"real ({len(shared)} shared files)", np.asarray(embedder.embed(texts))))
        embedder.close()
    results = [(name, row) for name, vectors in sets for row in sweep(vectors, nprobes)]
    if args.json:
        print(json.dumps([{"set": name, **asdict(row)} for name, row in results], indent=2))
        return
    print(f"{'vectors':<28} {'layout':<14} {'nprobe':>6} {'recall@10':>9} {'p50 ms':>8} "
          f"{'p99 ms':>8}")
    for name, row in results:
        print(f"{name:<28} {row.layout:<14} {row.nprobe or '':>6} {row.recall_at_10:>9} "
              f"{row.p50_ms:>8} {row.p99_ms:>8}")


def embedders(args: argparse.Namespace) -> None:
    from benchmarks.embedders import compare_backends
    from cluster.articles.importer import read_files
    from cluster.embedding.models import cpu_flags, embedding_text, resolve_precision
    from cluster.settings import load_settings

    settings = load_settings()
    args.file = args.file or (SHARED if SHARED.exists() else DEMO)
    items = read_files([args.file])[: args.limit or 1000]
    texts = [embedding_text(i.article.title, i.article.text, settings.lead_chars)
             for i in items]
    rows = compare_backends(settings.model, texts, rounds=args.rounds,
                            batch_size=settings.embed_batch_size,
                            max_seq_length=settings.max_seq_length)
    bf16 = sorted(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    if args.json:
        print(json.dumps({"cpu_bf16_flags": bf16, "auto": resolve_precision("auto"),
                          "rows": [asdict(r) for r in rows]}, indent=2))
        return
    print(f"{len(texts)} texts of {args.file.name}; native bf16: {', '.join(bf16) or 'no'} "
          f"(auto = {resolve_precision('auto')})")
    print(f"{'backend':<18} {'docs/s':>8} {'rounds':>16} {'cos mean':>9} {'cos min':>9} "
          f"{'top-10 kept':>11}")
    for r in rows:
        print(f"{r.backend:<18} {r.docs_per_s:>8} {'/'.join(map(str, r.rounds)):>16} "
              f"{r.cosine_mean:>9} {r.cosine_min:>9} {r.top10_overlap:>11}")


def scale(args: argparse.Namespace) -> None:
    from benchmarks.scale import run_scale
    from cluster.settings import load_settings

    settings = load_settings()
    reports = []
    for size in (int(n) for n in args.scale.split(",") if n.strip()):
        if args.keep is not None and (args.keep / str(size) / "var").exists():
            sys.exit(f"{args.keep / str(size)} already holds a store: --keep needs a new folder")
        print(f"scale {size}: generating and loading...", file=sys.stderr, flush=True)
        reports.append(run_scale(
            settings, size, queries=args.queries,
            progress=lambda m: print(f"  {m}", file=sys.stderr, flush=True),
            keep=None if args.keep is None else args.keep / str(size)))
    if args.json:
        print(json.dumps([asdict(r) for r in reports], indent=2))
        return
    header = (f"{'articles':>9} {'stories':>8} {'ingest/s':>9} {'+present':>9} "
              f"{'rel p50':>8} {'rel p99':>8} {'new p50':>8} {'new p99':>8} {'list p50':>9} "
              f"{'list p99':>9} {'start s':>8} {'RSS B/art':>10} {'rebuild s':>10} "
              f"{'index MB':>9} {'index':>10} {'recall@10':>9}")
    print("(ingest excludes embedding, presentation in the background; +present: until "
          "every story was presented; latencies in ms)")
    print(header)
    for r in reports:
        print(f"{r.articles:>9} {r.stories:>8} {r.ingest_per_s:>9} "
              f"{r.ingest_presented_per_s:>9} {r.related_stored_p50_ms:>8} "
              f"{r.related_stored_p99_ms:>8} {r.related_text_p50_ms:>8} "
              f"{r.related_text_p99_ms:>8} {r.listing_p50_ms:>9} {r.listing_p99_ms:>9} "
              f"{r.startup_s:>8} {r.rss_per_article_bytes:>10} {r.rebuild_s:>10} "
              f"{r.index_bytes / 1e6:>9.1f} {r.index_kind:>10} {r.recall_at_10:>9}")


if __name__ == "__main__":
    run(main)
