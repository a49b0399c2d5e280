"""What the partitioned-writer tests share, in one process or on Ray: a
stream of distinct events, and what the store must hold once it is clustered."""

from __future__ import annotations

from cluster.articles.incoming import Article
from cluster.store.postgres import PostgresStore
from cluster.types import StoryId


def town_storms(count: int, towns: int = 12, outlets: int = 5) -> list[Article]:
    """Storms in ``towns`` towns from ``outlets`` outlets: as many events, which
    the hashing embedder tells apart."""
    return [Article(f"s{i}", f"Storm {i % towns} floods town {i % towns}",
                    f"Rain and wind in town {i % towns}, report {i}.", f"Outlet{i % outlets}",
                    None, None, "en") for i in range(count)]


def fold_entries(url: str) -> int:
    """Index log entries the coordinator wrote to move folded stories' articles."""
    import psycopg

    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT COALESCE(SUM(index_to - index_from), 0) FROM partition_barriers").fetchone()
    return int(row[0]) if row else 0


def each_article_stored_once(url: str, articles: list[Article]
                             ) -> tuple[dict[StoryId, int], list[tuple[StoryId, int]]]:
    """The store holds each article once, indexed once (and again only where a
    fold moved it), and every live story has an owner. Returns the owners and
    the live stories with their article counts, for further checks."""
    store = PostgresStore(url, read_only=True)
    try:
        with store.read() as reader:
            assert reader.article_count() == len(articles)
            assert sorted(reader.assignments()) == sorted(a.id for a in articles)
            assert reader.index_seq() == len(articles) + fold_entries(url)
            owners = reader.story_partitions()
            live = [(story, count) for story, count, *_ in reader.live_story_states()]
    finally:
        store.close()
    assert all(story in owners for story, _ in live)
    return owners, live
