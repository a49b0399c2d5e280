"""With the real packaged model: embedding sanity and the demo corpus end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from api import create_app
from cluster.articles.importer import import_articles, read_files
from cluster.embedding.models import SentenceTransformerEmbedder
from cluster.service.facade import StoryService
from tests.conftest import DEMO, make_settings

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


def test_packaged_model_embeds_offline_normalised(embedder: SentenceTransformerEmbedder) -> None:
    vectors = embedder.embed([
        "US and Russian envoys discuss North Korea before APEC",
        "Moscow and Washington talk about Pyongyang's missiles ahead of the Asia-Pacific summit",
        "Lufthansa pilots strike over pensions",
    ])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    assert embedder.embed([]).shape == (0, 384)


def test_demo_corpus_finds_the_north_korea_story(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings(tmp_path, embedder="sentence-transformers")
    service = StoryService(settings, embedder).open()
    items = read_files([DEMO])
    report = import_articles(service, items)
    assert report.created == len(items)
    client = create_app(service=service).test_client()
    stories = client.get("/api/v1/stories?status=all&limit=50").get_json()["items"]
    gold_nk = {i.article.id for i in items if i.cluster == "nk"}
    best = None
    for story in stories:
        detail = client.get(f"/api/v1/stories/{story['id']}?limit=100").get_json()
        members = {a["id"] for a in detail["articles"]}
        overlap = len(members & gold_nk)
        if best is None or overlap > best[0]:
            best = (overlap, detail, members)
    assert best is not None
    overlap, detail, members = best
    assert overlap >= 5, members
    assert len(members - gold_nk) == 0, members - gold_nk
    assert detail["story"]["source_count"] >= 5
    assert "North Korea" in detail["story"]["label"]
    summary = detail["story"]["summary"]
    assert len(summary) >= 2 and len({s["source"] for s in summary}) == len(summary)
    assert all(s["article_id"] in gold_nk for s in summary)
    assert detail["timeline"] and sum(d["articles"] for d in detail["timeline"]) == overlap
    # No story mixes two of the demo's events.
    gold_of = {i.article.id: i.cluster for i in items}
    for story in stories:
        detail_ids = {a["id"] for a in client.get(
            f"/api/v1/stories/{story['id']}?limit=100").get_json()["articles"]}
        assert len({gold_of[a] for a in detail_ids}) == 1, detail_ids
    related = client.post("/api/v1/related", json={
        "title": "Russia and America hold talks on Pyongyang's missile tests",
        "text": "Diplomats met before the APEC leaders' summit in Shenzhen.", "k": 5,
    }).get_json()
    # it would join a story of the talks (the envoys' meeting, or the leaders' at APEC
    # that followed it), whose storyline holds both
    joined = client.get(f"/api/v1/stories/{related['would_join']['story_id']}?limit=100")
    assert {a["id"].split("-")[0] for a in joined.get_json()["articles"]} == {"nk"}
    assert related["storyline"]["id"] == detail["story"]["storyline_id"] is not None
    assert related["items"][0]["id"].startswith("nk") and related["items"][0]["same_story"]
    outlets = [item["source"] for item in related["items"]]
    assert len(outlets) == len(set(outlets))
    found = client.get("/api/v1/stories?q=pilots+strike+at+the+German+airline").get_json()
    assert "Lufthansa" in found["items"][0]["label"]
    service.close()


def test_demo_corpus_storylines_join_the_summit_and_the_talks_and_nothing_else(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    service = StoryService(make_settings(tmp_path, embedder="sentence-transformers"),
                           embedder).open()
    try:
        items = read_files([DEMO])
        import_articles(service, items)
        ids = [item.article.id for item in items]
        gold = {a: a.split("-")[0] for a in ids}  # event families by id
        families = {}
        for line in service.list_storylines(_all_storylines()).items:
            detail = service.get_storyline(line.id)
            members = {a.id for s in detail.stories
                       for a in service.get_story(s.id, limit=500).articles}
            families[line.id] = {gold[a] for a in members}
            assert len(families[line.id]) == 1, (line.label, members)  # nothing unrelated
        found = {family for found in families.values() for family in found}
        assert {"cop", "nk"} <= found
        cop = next(line for line, family in families.items() if family == {"cop"})
        cop_stories = {service.get_article(a).story_id for a in ids if a.startswith("cop")}
        assert {s.id for s in service.get_storyline(cop).stories} == cop_stories
        assert len(cop_stories) >= 2
        nk = next(line for line, family in families.items() if family == {"nk"})
        nk_stories = {service.get_article(a).story_id for a in ids if a.startswith("nk")}
        assert {s.id for s in service.get_storyline(nk).stories} == nk_stories
        assert len(nk_stories) >= 2
    finally:
        service.close()


def _all_storylines() -> object:
    from cluster.service.storyline_views import StorylineQuery

    return StorylineQuery(status="all", limit=200)
