"""Text statistics with no model: words and stop words, sentences, online
TF-IDF profiles, and MinHash fingerprints of near-duplicate copies."""

from cluster.text.duplicates import NearDuplicateIndex
from cluster.text.lexical import Profile, TermStats

__all__ = ["NearDuplicateIndex", "Profile", "TermStats"]
