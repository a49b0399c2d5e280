from __future__ import annotations

import math

import pytest

from cluster.text.lexical import NAME_BOOST, Profile, TermStats, article_terms, term_counts


def test_tokens_drop_stop_words_keep_numbers_and_names() -> None:
    counts = term_counts("The 7.1 earthquake hit Arequipa, and the earthquake's toll is 12.")
    assert counts["earthquake"] == 1 and counts["earthquake's"] == 1
    assert counts["7.1"] == 1 and counts["12"] == 1 and counts["arequipa"] == 1
    assert "the" not in counts and "and" not in counts


def test_idf_is_smoothed_like_scikit_learn() -> None:
    stats = TermStats()
    stats.add({"quake", "peru"})
    stats.add({"quake"})
    assert stats.idf("quake") == pytest.approx(math.log(3 / 3) + 1)
    assert stats.idf("peru") == pytest.approx(math.log(3 / 2) + 1)
    assert stats.idf("never") == pytest.approx(math.log(3 / 1) + 1)
    stats.remove({"peru"})
    assert "peru" not in stats.frequencies and stats.documents == 1


def test_weights_are_unit_length_and_rare_terms_weigh_more() -> None:
    stats = TermStats(10, {"quake": 9, "arequipa": 1})
    weights = stats.weigh(term_counts("quake Arequipa"))
    assert math.isclose(sum(w * w for w in weights.values()), 1.0)
    assert weights["arequipa"] > weights["quake"]


def test_profile_cosine_and_exact_norm_under_add_and_remove() -> None:
    profile = Profile()
    a = {"quake": 0.6, "peru": 0.8}
    b = {"quake": 1.0}
    profile.add(a)
    profile.add(b)
    assert profile.norm2 == pytest.approx(1.6 ** 2 + 0.8 ** 2)
    assert profile.cosine(b) == pytest.approx(1.6 / math.sqrt(1.6 ** 2 + 0.8 ** 2))
    profile.add(b, sign=-1.0)
    assert profile.cosine(a) == pytest.approx(1.0)
    assert Profile().cosine(a) == 0.0


def test_names_in_the_body_count_more_but_not_in_title_case_headlines() -> None:
    counts = article_terms("Quake Hits Southern Peru\nRescuers in Arequipa said the quake hit.")
    assert counts["peru"] == 1 and counts["hits"] == 1  # title case is not a name signal
    assert counts["arequipa"] == NAME_BOOST
    assert counts["rescuers"] == 1  # sentence-initial capital is not a name


def test_the_stop_word_copy_is_scikit_learns() -> None:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as theirs

    from cluster.text.stop_words import ENGLISH_STOP_WORDS as ours

    assert ours == frozenset(theirs)


def _profile(*members: dict[str, float]) -> Profile:
    profile = Profile()
    for member in members:
        profile.add(member)
    return profile


def test_corrected_similarity_divides_across_by_within_agreement() -> None:
    # A: {x}, {x} (within 1); B: {y}, {0.6 x, 0.8 y} (within 0.8); across 0.3
    first = _profile({"x": 1.0}, {"x": 1.0})
    second = _profile({"y": 1.0}, {"x": 0.6, "y": 0.8})
    assert first.own2 == pytest.approx(2.0) and second.own2 == pytest.approx(2.0)
    assert first.corrected_similarity(second, 2, 2) == pytest.approx(0.3 / math.sqrt(0.8))
    assert first.similarity(second) == pytest.approx(1.2 / math.sqrt(4 * 3.6))
    # one article has no agreement to correct by: the plain cosine
    single = _profile({"x": 0.6, "y": 0.8})
    assert first.corrected_similarity(single, 2, 1) == pytest.approx(first.similarity(single))
    # capped at 1: two halves of one tight event can score above it
    assert first.corrected_similarity(_profile({"x": 1.0}, {"x": 0.8, "z": 0.6}), 2, 2) <= 1.0


def test_own_norms_follow_add_remove_and_absorb() -> None:
    merged = _profile({"a": 0.6, "b": 0.8}, {"a": 1.0})
    merged.absorb(_profile({"c": 1.0}, {"b": 1.0}))
    assert merged.own2 == pytest.approx(4.0)
    assert merged.norm2 == pytest.approx(1.6 ** 2 + 1.8 ** 2 + 1.0)
    merged.add({"c": 1.0}, sign=-1.0)
    assert merged.own2 == pytest.approx(3.0)
    rebuilt = _profile({"a": 0.6, "b": 0.8}, {"a": 1.0}, {"b": 1.0})
    assert merged.own2 == pytest.approx(rebuilt.own2)
    assert merged.norm2 == pytest.approx(rebuilt.norm2)
