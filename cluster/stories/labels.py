"""Story labels: a few key terms or names, by class-based TF-IDF.

A candidate is a run of one to three consecutive content words (no stop
word inside) from a member's title and lead. Its weight is class-based
TF-IDF (Grootendorst 2022, BERTopic's c-TF-IDF), with the story as the
class: the share of the story's articles that use it, times the mean
inverse document frequency of its words over the whole corpus. So a label
term is what this story's articles share and the rest of the news does not.
Longer phrases earn a mild bonus (``North Korea`` beats ``Korea``), likely
names (capitalised mid-sentence in a body) and multi-digit numbers are
favoured, and chosen terms may not share a word. A name whose words are
joined by "of", "for" and the like ("Bank of England", "Centers for Disease
Control and Prevention") is one candidate, so the label keeps it whole
rather than listing its pieces, and an acronym of a chosen name ("CDC") is
not listed beside it. The label shows each term in its most frequent
spelling.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cluster.text.lexical import _SENTENCE_ENDS, _TOKEN, TermStats, stop_words
from cluster.text.sentences import UNSPACED

MAX_TERMS = 5
NAME_FACTOR = 1.5
NUMBER_FACTOR = 1.2
HEADLINE_FACTOR = 1.5
"""Weight of a term used in every headline of the story (linear in the share)."""
LEAD_CHARS = 600


def _lead(text: str) -> str:
    """The first ``LEAD_CHARS`` of the text, cut back to a word boundary: a
    word cut in two ("autho") must never become a label term."""
    if len(text) <= LEAD_CHARS:
        return text
    cut = text[:LEAD_CHARS]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    return cut[:space] if space > 0 else ""
STEM = 5
WIDEN = 0.75
"""A longer phrase replaces a term when it appears in this share of its articles."""
SEPARATOR = " · "
WEEKDAYS = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                      "sunday", "today", "yesterday", "tomorrow"})
"""Every story has one; none tells stories apart."""
REPORTING = frozenset({
    "say", "says", "said", "saying", "tell", "tells", "told", "according", "reported",
    "reports", "breaking", "live", "watch", "video", "photos",
})
"""Reporting verbs and page furniture: in every story's text, telling none apart."""
FUNCTION_WORDS = frozenset({
    # German
    "der", "die", "das", "den", "dem", "des", "und", "oder", "ist", "sind", "war", "ein",
    "eine", "einen", "einem", "einer", "im", "zu", "zum", "zur", "mit", "auf", "für",
    "sich", "nicht", "bei", "nach", "vor", "wird", "werden", "wurde", "hat", "haben",
    "sagte", "auch", "als", "wie", "aus", "über", "vom", "am", "um", "dass",
    # Spanish
    "el", "los", "las", "una", "unos", "unas", "y", "en", "con", "por", "para", "que",
    "se", "su", "sus", "es", "fue", "dijo", "como", "más", "pero", "sobre", "entre",
    "tras", "ante", "según", "este", "esta", "sin", "lo", "ha", "han",
    # French
    "les", "du", "et", "est", "dans", "pour", "sur", "avec", "par", "qui", "une", "au",
    "aux", "ce", "cette", "ses", "son", "sa", "leur", "leurs", "ont", "été", "selon",
    "après", "avant", "contre", "mais", "ou", "plus", "pas", "ne", "il", "elle",
    # Arabic
    "في", "من", "على", "إلى", "عن", "مع", "أن", "إن", "هذا", "هذه", "التي", "الذي",
    "كان", "قد", "لا", "ما", "بين", "بعد", "قبل", "حول", "ضد", "عند", "كما", "أو",
    "ثم", "ذلك", "تلك", "قال", "يوم",
})
"""Function words of the other languages the multilingual embedder reads,
never label terms when written in lower case; a capitalised one may begin
a name ("Los Angeles", "El Paso", "Die Linke"), so it stays."""


@dataclass(frozen=True)
class LabelSource:
    """What a label is computed from: one member's title and text."""

    title: str
    text: str


_BREAK = re.compile(r"[,;:()\"“”!?.\n]")
"""Punctuation between two words that ends a phrase."""


@lru_cache(maxsize=1)
def _excluded() -> frozenset[str]:
    """Words that end a phrase and are never part of one."""
    return stop_words() | WEEKDAYS | REPORTING


UNSPACED_WORD = 4
"""Longer runs of such characters are phrases or clauses, not words."""


def _is_clause(token: str) -> bool:
    """A run of Chinese or Japanese characters too long to be one word: with no
    segmenter here, it cannot be cut into words, so it is never a label term."""
    return len(token) > UNSPACED_WORD and len(UNSPACED.findall(token)) * 2 > len(token)


def _runs(text: str, in_body: bool) -> list[list[tuple[str, str, bool]]]:
    """Runs of consecutive content words as (term, surface, looks like a name)."""
    excluded = _excluded()
    breaks = _BREAK.search
    runs: list[list[tuple[str, str, bool]]] = [[]]
    run = runs[-1]
    last_end = 0
    for match in _TOKEN.finditer(text):
        start, end = match.span()
        raw = match.group()
        term = raw.lower().replace("’", "'").removesuffix("'s")
        raw = raw.removesuffix("'s").removesuffix("’s")
        if "." in raw and text[end:end + 1] == ".":
            raw += "."  # an abbreviation keeps its last dot: "U.S."
        gap_is_a_space = start - last_end == 1 and text[last_end] == " "
        if not gap_is_a_space and run and breaks(text, last_end, start):
            run = []
            runs.append(run)
        last_end = end
        foreign = term in FUNCTION_WORDS and not raw[0].isupper()
        if (term in excluded or foreign or (len(term) <= 1 and not term.isdigit())
                or _is_clause(term)):
            if run:
                run = []
                runs.append(run)
            continue
        name = False
        if in_body and raw[0].isupper():
            position = start - 1
            while position >= 0 and text[position].isspace():
                position -= 1
            name = position >= 0 and text[position] not in _SENTENCE_ENDS
        run.append((term, raw, name))
    return [run for run in runs if run]


CONNECTORS = frozenset({"of", "for", "de", "del", "des", "da", "do", "du", "van", "von",
                        "der", "la", "le", "al", "bin"})
"""Small words inside names: "Bank of England", "Ministry of Defence"."""
CONNECTOR_AND = frozenset({"and", "&"})
"""Joins a name's parts only after a connector ("Department of Health and Human
Services"), so that "Russia and China" stays two names."""
_NAME_WORD = re.compile(r"[A-Z][\w'’.-]*|&")


def _bridged_names(text: str) -> list[tuple[tuple[str, ...], str]]:
    """Names of capitalised words joined by connectors, as (terms, surface):
    each starts mid-sentence (a capital that marks a name, not a sentence) and
    holds at least one connector."""
    found: list[tuple[tuple[str, ...], str]] = []
    tokens = list(re.finditer(r"\S+", text))
    index = 0
    while index < len(tokens):
        words: list[str] = []
        bridged = False
        position = index
        while position < len(tokens):
            token = tokens[position].group()
            if words and token[0] in "(\"“'‘[":
                break  # "(NIH)" or a quotation: not part of the name before it
            raw = token.strip(",;:()\"“”!?'‘’[]")
            clean = raw.removesuffix("'s").removesuffix("’s")
            abbreviation = clean.count(".") > 1  # "U.S.", not a sentence's full stop
            clean = clean if abbreviation else clean.rstrip(".")
            lower = clean.lower()
            if words and (lower in CONNECTORS or (bridged and lower in CONNECTOR_AND)):
                following = tokens[position + 1].group() if position + 1 < len(tokens) else ""
                if _NAME_WORD.match(following) and following[0].isupper():
                    words.append(lower)
                    bridged = True
                    position += 1
                    continue
                break
            if not clean or not clean[0].isupper() or not _NAME_WORD.fullmatch(clean):
                break
            words.append(clean)
            position += 1
            ends = token.rstrip("\"”’)]")[-1:]
            if ends in ",;:!?" or (ends == "." and not abbreviation):
                break  # the sentence or the clause ends after this word
        starts_a_sentence = index == 0 or tokens[index - 1].group()[-1:] in _SENTENCE_ENDS
        if starts_a_sentence and len(words) > 1:
            index += 1  # "The Department of ...": the name may start at the next word
            continue
        if bridged and len(words) >= 3 and words[-1].lower() not in CONNECTORS:
            found.append((tuple(w.lower() for w in words), " ".join(words)))
        index = max(position, index + 1)
    return found


def _content_words(terms: Sequence[str]) -> list[str]:
    """A phrase's words without the small words that join a name's parts; a
    lone "al" or "la" is a word like any other."""
    return [t for t in terms if t not in CONNECTORS and t not in CONNECTOR_AND] or list(terms)


def _initials(terms: Sequence[str]) -> str:
    return "".join(t[0] for t in _content_words(terms))


def _abbreviates(short: str, name: tuple[str, ...]) -> bool:
    """Whether ``short`` ("cdc", "fbi") is made of a longer name's initials, in
    order ("Centers for Disease Control and Prevention")."""
    if len(name) < 2 or not 2 <= len(short) <= 6 or not short.isalpha():
        return False
    letters = iter(_initials(name))
    return all(letter in letters for letter in short)


def _sentence_case(title: str) -> bool:
    """Whether capitals in the headline mark names (sentence case) rather than
    style (Title Case Headlines)."""
    words: list[str] = [w for w in _TOKEN.findall(title)[1:] if w.lower() not in stop_words()]
    if len(words) < 3:
        return False
    return bool(sum(w[0].isupper() for w in words) / len(words) < 0.6)


def _phrases(run: list[tuple[str, str, bool]]) -> list[tuple[tuple[str, ...], str, bool]]:
    """Every phrase of one to three words of a run, without a repeated word, as
    (terms, surface, looks like a name). A name: every word capitalised, and
    not only because a sentence starts there."""
    terms = [t for t, _, _ in run]
    surfaces = [s for _, s, _ in run]
    upper = [s[0].isupper() for s in surfaces]
    named = [n for _, _, n in run]
    size = len(run)
    found: list[tuple[tuple[str, ...], str, bool]] = [
        ((terms[i],), surfaces[i], upper[i] and named[i]) for i in range(size)]
    for i in range(size - 1):
        a, b = terms[i], terms[i + 1]
        if a != b:
            found.append(((a, b), f"{surfaces[i]} {surfaces[i + 1]}",
                          upper[i] and upper[i + 1] and (named[i] or named[i + 1])))
    for i in range(size - 2):
        a, b, c = terms[i], terms[i + 1], terms[i + 2]
        if a != b and b != c and a != c:
            found.append(((a, b, c), f"{surfaces[i]} {surfaces[i + 1]} {surfaces[i + 2]}",
                          upper[i] and upper[i + 1] and upper[i + 2]
                          and (named[i] or named[i + 1] or named[i + 2])))
    return found


@lru_cache(maxsize=8192)
def _article_phrases(
    title: str, lead: str
) -> tuple[tuple[tuple[str, ...], str, bool, bool], ...]:
    """Every candidate phrase occurrence of one article as (terms, surface, looks
    like a name, in the headline); cached, because a story's label is
    recomputed as it grows and its older members do not change."""
    found: list[tuple[tuple[str, ...], str, bool, bool]] = []
    for text, in_body, in_title in ((title, _sentence_case(title), True), (lead, True, False)):
        for run in _runs(text, in_body):
            found.extend((terms, surface, name, in_title)
                         for terms, surface, name in _phrases(run))
        if in_body:  # capitals mark names here, so a bridged run of them is one
            found.extend((terms, surface, True, in_title)
                         for terms, surface in _bridged_names(text))
    return tuple(found)


def label_terms(members: Sequence[LabelSource], stats: TermStats) -> list[str]:
    """3-5 key terms of a story, best first; fewer only when the text has fewer."""
    if not members:
        return []
    document_count: Counter[tuple[str, ...]] = Counter()
    name_votes: Counter[tuple[str, ...]] = Counter()
    headline_votes: Counter[tuple[str, ...]] = Counter()
    spellings: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    for member in members:
        phrases = _article_phrases(member.title, _lead(member.text))
        for terms, surface, name, _ in phrases:
            spellings[terms][surface] += 1
            if name:
                name_votes[terms] += 1
        document_count.update({terms for terms, _, _, _ in phrases})
        headline_votes.update({terms for terms, _, _, in_title in phrases if in_title})
    size = len(members)
    scored: list[tuple[float, tuple[str, ...]]] = []
    idfs: dict[str, float] = {}
    for terms, count in document_count.items():
        if len(terms) > 1 and count < 2 and not name_votes[terms]:
            continue  # a phrase must recur, or read as a name, to be more than chance
        words = _content_words(terms)
        for term in words:
            if term not in idfs:
                idfs[term] = stats.idf(term)
        idf = sum(idfs[t] for t in words) / len(words)
        weight = (count / size) * idf * (1.0 + 0.15 * (min(len(words), 3) - 1))
        if name_votes[terms] * 2 >= count and name_votes[terms] > 0:
            weight *= NAME_FACTOR
        if headline_votes[terms]:
            weight *= 1.0 + (HEADLINE_FACTOR - 1.0) * headline_votes[terms] / size
        if any(any(ch.isdigit() for ch in t) for t in terms):
            # a figure in a headline names the event ("7.1", "$3.5 trillion"); one
            # deep in a body is usually an incidental statistic
            weight *= NUMBER_FACTOR if headline_votes[terms] else 0.5
        scored.append((weight, terms))
    scored.sort(key=lambda item: (-item[0], item[1]))
    eligible = {terms for _, terms in scored if len(terms) > 1}
    chosen: list[tuple[str, ...]] = []
    used: set[str] = set()
    for _, terms in scored:
        terms = _widest(terms, document_count, eligible)
        content = set(_content_words(terms))
        if used.intersection(content) or any(_same_stem(t, u) for t in content for u in used):
            continue
        if any(_abbreviates(terms[0], other) for other in chosen if len(terms) == 1) or any(
                len(other) == 1 and _abbreviates(other[0], terms) for other in chosen):
            continue  # "CDC" beside "Centers for Disease Control and Prevention"
        chosen.append(terms)
        used.update(content)
        if len(chosen) == MAX_TERMS:
            break
    return [_spelling(spellings[terms]) for terms in chosen]


def _widest(terms: tuple[str, ...], counts: Counter[tuple[str, ...]],
            eligible: set[tuple[str, ...]]) -> tuple[str, ...]:
    """The longest recurring phrase that contains ``terms`` and appears in most of
    the articles that use them: "Bank" becomes "European Central Bank"."""
    wider = [other for other in eligible if len(other) > len(terms)
             and counts[other] >= WIDEN * counts[terms] and _contains(other, terms)]
    # longest, then most used, then alphabetical: independent of set order
    return min(wider, key=lambda o: (-len(o), -counts[o], o), default=terms)


def _contains(outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    size = len(inner)
    return any(outer[i:i + size] == inner for i in range(len(outer) - size + 1))


def _same_stem(a: str, b: str) -> bool:
    """"flood" and "flooding", "Europe" and "European": one label term is enough."""
    return len(a) >= STEM and len(b) >= STEM and a[:STEM] == b[:STEM]


def _spelling(variants: Counter[str]) -> str:
    """The most frequent surface form; among equals, the one with most capitals
    (a name written in a title-case headline and in running text)."""
    return max(variants.items(), key=lambda item: (item[1], sum(c.isupper() for c in item[0]),
                                                   item[0]))[0]


def format_label(terms: Sequence[str]) -> str:
    return SEPARATOR.join(terms)

