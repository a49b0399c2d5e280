"""The service on a real SQLite file and a real FAISS index (hashing embedder)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from cluster.articles.incoming import Article
from cluster.embedding.models import embedding_text
from cluster.errors import BatchTooLarge, IndexMismatch, InvalidInput, NotFound
from cluster.service.facade import StoryService
from cluster.service.ingest import Ingest
from cluster.service.view_builders import RelatedFilters, StoryQuery
from cluster.settings import Settings
from cluster.store import StoredArticle
from tests.conftest import make_settings

MakeArticle = Callable[..., Article]

QUAKE = "Earthquake of magnitude 7 strikes southern Peru coast near Arequipa"
BANK = "European Central Bank holds interest rates steady as inflation eases"


def test_ingest_assigns_related_articles_to_one_story(
    service: StoryService, make_article: MakeArticle
) -> None:
    results = service.ingest([
        make_article(QUAKE, source="AP"),
        make_article(QUAKE + " rescuers search rubble", source="Reuters", hours=2),
        make_article(BANK, source="FT", hours=3),
    ])
    assert [r.status for r in results] == ["created"] * 3
    assert results[0].new_story and not results[1].new_story and results[2].new_story
    assert results[0].story_id == results[1].story_id != results[2].story_id
    story = service.get_story(results[0].story_id)
    assert story.story.article_count == 2 and story.story.source_count == 2


def test_reposting_same_content_is_a_noop(service: StoryService, make_article: MakeArticle) -> None:
    article = make_article(QUAKE, id="same")
    first = service.ingest([article])[0]
    again = service.ingest([article])[0]
    assert again.status == "unchanged" and again.story_id == first.story_id
    assert service.article_count() == 1
    assert service.readiness().store_seq == 1  # nothing re-indexed


def test_reposting_changed_content_updates_and_reassigns(
    service: StoryService, make_article: MakeArticle
) -> None:
    quake = service.ingest([make_article(QUAKE, id="q1")])[0]
    bank = service.ingest([make_article(BANK, id="b1", hours=1)])[0]
    changed = service.ingest([make_article(BANK + " again", id="q1", hours=2)])[0]
    assert changed.status == "updated"
    assert changed.story_id == bank.story_id
    with pytest.raises(NotFound):  # the quake story lost its only article
        service.get_story(quake.story_id)
    assert service.get_article("q1").title.startswith("European Central Bank")
    assert service.readiness().in_sync


def test_duplicate_ids_in_a_batch_name_the_position(
    service: StoryService, make_article: MakeArticle
) -> None:
    with pytest.raises(InvalidInput) as info:
        service.ingest([make_article(id="x"), make_article(id="x")])
    assert info.value.field == "articles[1].id"
    assert service.article_count() == 0


def test_batch_limit(tmp_path: Path, make_article: MakeArticle) -> None:
    svc = StoryService(make_settings(tmp_path, max_batch=2)).open()
    with pytest.raises(BatchTooLarge):
        svc.ingest([make_article() for _ in range(3)])


def test_a_failing_batch_leaves_store_index_and_stories_untouched(
    service: StoryService, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_text = " ".join(f"word{n} of the long wire report" for n in range(40))
    service.ingest([make_article(QUAKE, id="kept"),
                    make_article("Harbour wall report", long_text, id="long", hours=0.5)])
    calls = {"n": 0}
    original = Ingest.assign

    def fail_on_second(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Ingest, "assign", fail_on_second)
    with pytest.raises(RuntimeError):
        service.ingest([make_article(QUAKE + " aftershock", id="n1", hours=1),
                        make_article(BANK, long_text + " bank", id="n2", hours=2)])
    monkeypatch.undo()
    assert service.article_count() == 2
    assert len(service.index) == 2 and len(service.duplicates) == 1  # rolled back too
    assert service.get_story(service.get_article("kept").story_id or 0).story.article_count == 1
    result = service.ingest([make_article(QUAKE + " aftershock", id="n1", hours=1)])[0]
    assert result.story_id == service.get_article("kept").story_id
    copy = service.ingest([make_article(BANK, long_text + " bank", id="n3", hours=3)])[0]
    assert copy.duplicate_of == "long"  # matched to the stored article, not a rolled-back one


def test_delete_removes_article_from_store_index_and_story(
    service: StoryService, make_article: MakeArticle
) -> None:
    a, b = service.ingest([make_article(QUAKE, id="a"), make_article(QUAKE + " toll", id="b")])
    service.delete_article("a")
    assert service.article_count() == 1 and len(service.index) == 1
    assert service.get_story(b.story_id).story.article_count == 1
    service.delete_article("b")
    with pytest.raises(NotFound):
        service.get_story(a.story_id)
    with pytest.raises(NotFound):
        service.delete_article("b")


def test_related_excludes_self_marks_same_story_and_folds_copies(
    service: StoryService, make_article: MakeArticle
) -> None:
    service.ingest([
        make_article(QUAKE, id="q", source="AP"),
        make_article(QUAKE + " rescuers", id="w1", source="Paper 1"),
        make_article(QUAKE + " rescuers", id="w2", source="Paper 2"),
        make_article(QUAKE + " rescuers", id="w3", source="Paper 3"),
        make_article(BANK, id="b", source="FT"),
    ])
    result = service.related("q", RelatedFilters(k=5))
    ids = [item.id for item in result.items]
    assert "q" not in ids
    assert ids[0] == "w1" and "w2" not in ids and "w3" not in ids
    assert result.items[0].duplicates == 2 and result.items[0].same_story
    assert any(item.id == "b" and not item.same_story for item in result.items)
    assert service.get_article("w3").duplicate_of == "w1"


def test_related_to_text_writes_nothing(service: StoryService, make_article: MakeArticle) -> None:
    stored = service.ingest([make_article(QUAKE, id="q")])[0]
    result = service.related_to_text(QUAKE, "rescuers search", RelatedFilters(k=3))
    assert result.would_join is not None and result.would_join.story_id == stored.story_id
    assert service.article_count() == 1
    with pytest.raises(InvalidInput):
        service.related_to_text("  ", "", RelatedFilters(k=3))
    with pytest.raises(InvalidInput):
        service.related("q", RelatedFilters(k=0))


def test_story_listing_is_newest_first_and_paginates(
    service: StoryService, make_article: MakeArticle
) -> None:
    topics = ["volcano erupts iceland lava", "football cup final penalties",
              "senate passes budget bill", "mars rover finds water ice", "chess champion wins"]
    for hour, topic in enumerate(topics):
        service.ingest([make_article(topic, hours=hour)])
    first = service.list_stories(StoryQuery(limit=2, order="last_updated"))
    assert [s.headline for s in first.items] == [topics[4], topics[3]]
    second = service.list_stories(
        StoryQuery(limit=2, order="last_updated", cursor=first.next_cursor))
    third = service.list_stories(
        StoryQuery(limit=2, order="last_updated", cursor=second.next_cursor))
    headlines = [s.headline for page in (first, second, third) for s in page.items]
    assert headlines == topics[::-1] and third.next_cursor is None
    with pytest.raises(InvalidInput):
        service.list_stories(StoryQuery(cursor="garbage!"))
    with pytest.raises(InvalidInput):
        service.list_stories(StoryQuery(status="sleeping"))


def test_stories_age_from_active_to_dormant_to_archived(
    service: StoryService, make_article: MakeArticle
) -> None:
    old = service.ingest([make_article("volcano erupts iceland lava")])[0]
    service.ingest([make_article("football cup final penalties", hours=24 * 5)])
    assert service.get_story(old.story_id).story.status == "dormant"
    service.ingest([make_article("senate passes budget bill", hours=24 * 40)])
    assert service.get_story(old.story_id).story.status == "archived"
    assert not service.clusterer.knows(old.story_id)


def test_restart_replays_what_the_snapshot_lacks(
    settings: Settings, make_article: MakeArticle
) -> None:
    first = StoryService(settings).open()
    first.ingest([make_article(QUAKE, id="a")])
    first.snapshot()
    first.ingest([make_article(BANK, id="b", hours=1)])
    first.delete_article("a")
    first.ingest([make_article(QUAKE + " toll", id="c", hours=2)])
    first.ingest([make_article(BANK + " update", id="b", hours=3)])  # updated after snapshot
    queries = first.embedder.embed([QUAKE, BANK])
    expected = first.index.search(queries, 5)
    first.close()  # no final snapshot: as after a crash

    second = StoryService(settings).open()
    assert second.readiness().in_sync and len(second.index) == 2
    got = second.index.search(queries, 5)
    np.testing.assert_array_equal(expected[1], got[1])
    assert second.get_article("c").story_id is not None


def test_the_time_scale_learned_from_the_stream_survives_a_restart(
    settings: Settings, make_article: MakeArticle
) -> None:
    # One event covered every 2 hours: each report meets the story 2 hours
    # after its last one, so the width becomes 12 + 4 x 2 = 20 hours.
    first = StoryService(settings).open()
    for n in range(20):
        first.ingest([make_article(f"{QUAKE} report", hours=2.0 * n)])
    assert first.clusterer.time_scale_hours() == pytest.approx(20.0)
    evidence = first.clusterer.time_evidence()
    first.close()  # as after a crash: the evidence was written with each batch

    second = StoryService(settings).open()
    assert second.clusterer.time_evidence() == evidence
    assert second.clusterer.time_scale_hours() == pytest.approx(20.0)
    with second.store.write() as writer:  # a damaged value: the width starts over
        writer.set_meta("time_scale_evidence", "{not json")
    second.close()
    third = StoryService(settings).open()
    assert third.clusterer.time_evidence() == []
    assert third.clusterer.time_scale_hours() == settings.cluster.time_scale_hours
    third.close()


def test_snapshot_round_trip_gives_identical_search(
    settings: Settings, make_article: MakeArticle
) -> None:
    first = StoryService(settings).open()
    first.ingest([make_article(f"{QUAKE} {i}", hours=i) for i in range(20)])
    first.snapshot()
    queries = first.embedder.embed([QUAKE, BANK])
    before = first.index.search(queries, 10)
    first.close()
    second = StoryService(settings).open()
    after = second.index.search(queries, 10)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_allclose(before[0], after[0])


def test_a_store_or_snapshot_from_another_model_is_refused(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    svc = StoryService(make_settings(tmp_path)).open()
    svc.ingest([make_article(QUAKE)])
    svc.snapshot()
    svc.close()
    with pytest.raises(IndexMismatch, match=r"newsclusters rebuild --reembed"):
        StoryService(make_settings(tmp_path, embedder="sentence-transformers")).open()


def test_rebuild_keeps_story_ids_and_search_results(
    service: StoryService, make_article: MakeArticle
) -> None:
    service.ingest([make_article(f"{QUAKE} {i}", hours=i) for i in range(5)])
    service.ingest([make_article(f"{BANK} {i}", hours=10 + i) for i in range(5)])
    before = service.assignments()
    queries = service.embedder.embed([QUAKE])
    found_before = service.index.search(queries, 10)[1]
    service.rebuild()
    assert service.assignments() == before
    np.testing.assert_array_equal(service.index.search(queries, 10)[1], found_before)
    service.rebuild(recluster=True)
    assert service.assignments() == before
    assert service.readiness().in_sync


def test_a_lonely_first_article_joins_the_story_its_batch_formed(
    tmp_path: Path, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # b1 shares no word with a1 and starts its own story; a-b then joins a1's
    # story and makes it one that b1 fits (best member 0.68, centroid 0.37).
    # Merges are off, so only the second look after the batch can move b1.
    params = {"join_threshold": 0.5, "headline_threshold": 0.5, "lexical_weight": 0.0,
              "merge_threshold": 1.01}
    svc = StoryService(make_settings(tmp_path, cluster=params)).open()
    first, lonely, bridge = svc.ingest([
        make_article("alpha bravo charlie delta", id="a1"),
        make_article("echo foxtrot golf hotel", id="b1"),
        make_article("alpha bravo charlie delta echo foxtrot golf hotel", id="a-b"),
    ])
    assert lonely.new_story and not bridge.new_story
    assert bridge.story_id == first.story_id != lonely.story_id
    assignments = svc.assignments()
    assert assignments["b1"] == assignments["a1"] == first.story_id
    detail = svc.get_story(lonely.story_id)
    assert detail.merged_into == first.story_id and detail.story.article_count == 3
    with svc.store.read() as reader:
        kinds = [(e.kind, e.other_id) for e in reader.story_events(first.story_id)]
    assert ("merged", lonely.story_id) in kinds
    # an article that fits nothing stays on its own
    alone = svc.ingest([make_article("india mango harvest", id="c1")])[0]
    assignments = svc.assignments()
    assert alone.new_story and assignments["c1"] == alone.story_id
    svc.close()
    reopened = StoryService(make_settings(tmp_path, cluster=params)).open()
    assert reopened.assignments() == assignments
    assert reopened.readiness().in_sync
    # A re-cluster judges every one-article story in its one maintenance pass,
    # block by block: here b1 and c1, one per block.
    monkeypatch.setattr("cluster.service.maintenance.REJUDGE_BLOCK", 1)
    reopened.rebuild(recluster=True)
    assert reopened.assignments() == assignments
    reopened.close()


def test_converging_stories_merge_and_the_old_id_keeps_answering(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    # join_threshold so high that every article starts a story; maintenance
    # then merges the two that are about one event.
    params = {"join_threshold": 0.99, "headline_threshold": 0.99, "merge_threshold": 0.5}
    svc = StoryService(make_settings(tmp_path, cluster=params)).open()
    first, second, other = svc.ingest([
        make_article("volcano erupts in iceland lava flows toward town", id="v1"),
        make_article("volcano erupts in iceland lava flows toward the town", id="v2", hours=1),
        make_article("senate passes budget bill after vote", id="b1", hours=2),
    ])
    assert first.new_story and second.new_story and other.new_story
    assignments = svc.assignments()
    assert assignments["v1"] == assignments["v2"] != assignments["b1"]
    survivor = assignments["v1"]
    absorbed = ({first.story_id, second.story_id} - {survivor}).pop()
    detail = svc.get_story(absorbed)
    assert detail.story.id == survivor and detail.merged_into == survivor
    assert detail.story.article_count == 2
    listed = {s.id for s in svc.list_stories(StoryQuery(status="all")).items}
    assert absorbed not in listed and survivor in listed
    with svc.store.read() as reader:
        kinds = [(e.kind, e.other_id) for e in reader.story_events(survivor)]
    assert ("merged", absorbed) in kinds
    svc.close()
    reopened = StoryService(make_settings(tmp_path, cluster=params)).open()
    assert reopened.assignments() == assignments
    assert reopened.readiness().in_sync


def test_article_stored_between_prepare_and_write_is_updated_not_inserted_twice(
    service: StoryService, make_article: MakeArticle
) -> None:
    # Two writers (two requests, or an importer's prefetch) prepare the same new
    # id; the second write must see the first's article, not fail on the id.
    first = make_article(QUAKE, id="race", source="AP")
    same = service.prepare([first])
    changed = service.prepare([make_article(BANK, id="race", source="AP", hours=1)])
    assert service.ingest_prepared(service.prepare([first]))[0].status == "created"
    assert service.ingest_prepared(same)[0].status == "unchanged"
    result = service.ingest_prepared(changed)[0]
    assert result.status == "updated"
    assert service.article_count() == 1
    assert service.get_article("race").title.startswith("European Central Bank")
    assert service.readiness().in_sync


def test_article_changed_between_prepare_and_write_gets_a_vector_of_its_own_text(
    service: StoryService, make_article: MakeArticle
) -> None:
    service.ingest([make_article(QUAKE, id="a1")])
    # prepared against the stored version: same text, so no new vector is made ...
    stale = service.prepare([make_article(QUAKE, id="a1", source="Reuters")])
    # ... but another write changes the text before this one lands
    service.ingest([make_article(BANK, id="a1")])
    assert service.ingest_prepared(stale)[0].status == "updated"
    assert service.get_article("a1").title == QUAKE
    expected = service.embedder.embed([embedding_text(QUAKE, "", 1000)])[0]
    with service.store.read() as reader:
        stored = reader.vectors([reader.article_by_id("a1").key])[0]  # type: ignore[union-attr]
    assert float(stored @ expected) > 0.99
    assert service.readiness().in_sync


def _stream() -> list[list[Article]]:
    """Three batches over four topics; the second re-posts two articles of the
    first, one with a new source only (its stored vector is reused and it is
    searched on its own) and one with new text (re-embedded), after new
    articles of their own topics in the same batch."""
    from datetime import timedelta

    from tests.conftest import BASE_TIME

    topics = [QUAKE, BANK, "Wildfire forces evacuation of hillside towns in California",
              "Parliament passes budget after overnight sitting on tax cuts"]

    def article(n: int, topic: int, source: str = "Wire", extra: str = "") -> Article:
        return Article(id=f"s-{n}", title=f"{topics[topic]} {extra}".strip(),
                       text=f"Report {n % 5} on {topics[topic].lower()} {extra}",
                       source=source, url=None,
                       published_at=BASE_TIME + timedelta(hours=n), lang="en")

    first = [article(n, n % 4, f"Outlet {n % 3}") for n in range(16)]
    second = [article(n, n % 4, f"Outlet {n % 3}", "latest") for n in range(16, 27)]
    copy = article(3, 3, "Outlet 2")  # s-3's closest neighbour is now in this batch
    second.append(Article(id="s-27", title=copy.title, text=copy.text + " today",
                          source="Outlet 2", url=None,
                          published_at=copy.published_at, lang="en"))
    second += [article(3, 3, "Another outlet"),  # same embedded text, new source
               article(6, 1, "Outlet 0", "revised figures")]  # new text
    third = [article(n, n % 4, f"Outlet {n % 3}", "update") for n in range(28, 40)]
    return [first, second, third]


def _rounded(score: float | None) -> float | None:
    # the batch's own similarity product and the index's search may differ in
    # the last bits for the same pair (see cluster/index/batch_search.py)
    return None if score is None else round(score, 5)


def test_a_batch_gives_what_one_article_at_a_time_gives(tmp_path: Path) -> None:
    # within a batch the index is written once, after the batch: the articles of
    # a batch must still see each other exactly as if stored one by one
    outcomes = []
    for mode in ("batches", "singles"):
        service = StoryService(make_settings(tmp_path / mode)).open()
        try:
            results = []
            for batch in _stream():
                if mode == "batches":
                    results += service.ingest(batch)
                else:
                    for article in batch:
                        results += service.ingest([article])
            assert {r.status for r in results[16:28]} == {"created"}
            assert [r.status for r in results[28:30]] == ["updated", "updated"]
            related = {a: [i.id for i in service.related(a).items]
                       for a in ("s-3", "s-6", "s-20", "s-39")}
            with service.store.read() as reader:
                scores = {r.id: _rounded(reader.article_by_id(r.id).score)  # type: ignore[union-attr]
                          for r in results}
            outcomes.append(([(r.id, r.story_id, r.new_story) for r in results], related,
                             scores, len(service.index), service.readiness().in_sync))
        finally:
            service.close()
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][3] == 40 and outcomes[0][4]


def test_a_recluster_streams_the_store_and_builds_the_index_once(
    tmp_path: Path, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cluster.service.rebuild as rebuild_module
    from cluster.store.writer import SQLWriter

    svc = StoryService(make_settings(tmp_path)).open()
    words = ["quake", "bank", "strike", "flood", "vote", "summit", "match", "fire"]
    for start in range(0, 40, 8):
        svc.ingest([make_article(f"{words[i % 8]} report number {i}", id=f"r{i:02d}",
                                 hours=i) for i in range(start, start + 8)])
    monkeypatch.setattr(rebuild_module, "RECLUSTER_BLOCK", 7)
    pages: list[int] = []
    assigned_when_read: list[int] = []
    real_pages = SQLWriter.iter_articles_in_time_order

    def counted(self: SQLWriter, batch: int = 1000) -> Iterator[list[StoredArticle]]:
        for page in real_pages(self, batch):
            pages.append(len(page))
            # each page is read only once the one before it is clustered
            assigned_when_read.append(len(self.assignments()))
            yield page

    def no_second_build(*args: object, **kwargs: object) -> object:
        raise AssertionError("a re-cluster builds its index once, while it replays")

    monkeypatch.setattr(SQLWriter, "iter_articles_in_time_order", counted)
    monkeypatch.setattr(rebuild_module, "index_from_store", no_second_build)
    result = svc.rebuild(recluster=True)
    assert max(pages) == 7 and sum(pages) == 40
    assert assigned_when_read == [7 * n for n in range(len(pages))]
    assert result["articles"] == 40 and svc.readiness().in_sync
    assert len(svc.assignments()) == 40
    svc.close()


def test_a_damaged_snapshot_is_rebuilt_from_the_store_at_start(
    tmp_path: Path, make_article: MakeArticle,
) -> None:
    settings = make_settings(tmp_path, index_dir=tmp_path / "idx")
    with StoryService(settings) as svc:
        svc.ingest([make_article(f"harbour storm report {i}", id=f"h{i}", hours=i)
                    for i in range(5)])
        svc.snapshot()
        before = svc.related("h0").items
    current = (tmp_path / "idx" / "CURRENT").read_text()
    index_file = tmp_path / "idx" / current / "index.bin"
    data = bytearray(index_file.read_bytes())
    data[-8] ^= 0xFF  # FAISS would read this and serve wrong neighbours
    index_file.write_bytes(bytes(data))
    with StoryService(settings) as svc:
        ready = svc.readiness()
        assert ready.in_sync and ready.indexed == 5
        assert svc.related("h0").items == before
    assert any(p.name.startswith("damaged-") for p in (tmp_path / "idx").iterdir())


def test_a_snapshot_of_another_store_in_the_same_index_folder_is_never_loaded(
    tmp_path: Path, make_article: MakeArticle,
) -> None:
    """Two stores pointed at one index folder (a second data folder, a local
    PostgreSQL beside the SQLite store): each builds its index from its own
    store, never refusing to start and never serving the other's articles."""
    shared = tmp_path / "idx"
    first = make_settings(tmp_path / "a", index_dir=shared)
    second = make_settings(tmp_path / "b", index_dir=shared)
    with StoryService(first) as svc:
        svc.ingest([make_article(f"harbour storm report {i}", id=f"h{i}", hours=i)
                    for i in range(5)])
        svc.snapshot()
    with StoryService(second) as svc:
        assert svc.readiness().in_sync and len(svc.index) == 0
        svc.ingest([make_article("mountain pass closed by snow", id="m1")])
        svc.snapshot()
        assert [item.id for item in svc.related_to_text(
            "harbour storm report", "").items] == ["m1"]
    with StoryService(first) as svc:
        ready = svc.readiness()
        assert ready.in_sync and ready.indexed == 5
        assert "m1" not in {item.id for item in svc.related("h0").items}


def test_a_snapshot_that_fails_after_the_commit_does_not_fail_the_write(
    tmp_path: Path, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cluster.index.backends import FaissFlatIndex

    settings = make_settings(tmp_path, index_dir=tmp_path / "idx", snapshot_every=1)

    def disk_full(*args: object, **kwargs: object) -> object:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FaissFlatIndex, "write", disk_full)
    with StoryService(settings) as svc:
        article = make_article("harbour wall collapses in storm", id="h1")
        assert svc.ingest([article])[0].status == "created"
        assert svc.ingest([article])[0].status == "unchanged"  # the retry sees it stored
        ready = svc.readiness()
        assert ready.snapshot_failures >= 1 and ready.in_sync and ready.articles == 1
    monkeypatch.undo()
    assert not [p for p in (tmp_path / "idx").iterdir() if p.name.endswith(".tmp")]
    with StoryService(settings) as svc:  # start-up catches up from the store
        assert svc.readiness().in_sync and svc.article_count() == 1
        svc.snapshot()
    assert (tmp_path / "idx" / "CURRENT").exists()
