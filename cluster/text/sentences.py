"""Sentence splitting for extractive summaries, with no downloaded data.

A sentence ends at ``.``, ``!``, ``?`` or the Arabic ``؟`` (plus any
closing quotes or brackets) followed by white space and an upper-case
letter, a digit, an opening quote or a letter of a script without case
(Arabic, Hebrew, Devanagari...), except after a known abbreviation
(``Mr.``, ``U.S.``, ``Jan.``), a single initial (``J. Smith``) or a
number's decimal point. The full-width ``。！？`` of Chinese and Japanese
end a sentence where they stand (those scripts put no space after them). A
paragraph break always ends a sentence. This is the rule-based splitter news text needs;
it errs towards longer sentences, which an extractive summary tolerates
better than fragments.
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sen", "rep", "gov", "gen", "col", "lt", "sgt", "capt",
    "cmdr", "adm", "maj", "st", "jr", "sr", "rev", "hon", "pres", "amb", "supt", "insp",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "mon", "tue", "wed", "thu", "fri", "sat", "sun",
    "inc", "ltd", "co", "corp", "bros", "dept", "univ", "assn", "est",
    "no", "vol", "fig", "approx", "vs", "etc", "al", "ca", "cf",
    "u.s", "u.k", "u.n", "e.u", "d.c", "a.m", "p.m", "e.g", "i.e", "ph.d",
})

_CANDIDATE_END = re.compile(
    r"[.!?؟]+[\"'”’)\]»]*(?=\s+[\"'“‘(\[«]?[^\W_])"  # then a space and a word...
    r"|[。！？]+[」』”’）)]*")  # ...or full-width, where no space follows
_NEXT_WORD = re.compile(r"\s+[\"'“‘(\[«]?([^\W_])")
UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
"""Chinese and Japanese characters: those scripts put no space between words,
and one of their characters says about as much as a short English word."""


def reading_length(text: str) -> float:
    """Characters, each Chinese or Japanese one counted as 2.5 (about an
    English word's letters and space), so length limits fit every script."""
    return len(text) + 1.5 * len(UNSPACED.findall(text))


_PARAGRAPH = re.compile(r"\n\s*\n|\r\n\s*\r\n")
_LAST_WORD = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")


def _starts_sentence(letter: str) -> bool:
    """A capital, a digit, or a letter of a script that has no case."""
    return letter.isupper() or letter.isdigit() or (letter.isalpha() and not letter.islower())


def _ends_sentence(text: str, end: int) -> bool:
    """Whether the punctuation run ending at ``end`` closes a sentence."""
    piece = text[:end].rstrip("\"'”’)]»」』）")
    if piece.endswith(("。", "！", "？")):
        return True
    following = _NEXT_WORD.match(text, end)
    if following is None or not _starts_sentence(following.group(1)):
        return False
    if not piece.endswith("."):
        return True  # ! and ? always end one
    word = _LAST_WORD.search(piece)
    if word is None:
        return True
    token = word.group(1).lower()
    if token in ABBREVIATIONS:
        return False
    return not (len(token) == 1 and token.isalpha())  # an initial: "J. Smith"


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped, in order; empty input gives []."""
    sentences: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        start = 0
        flat = " ".join(paragraph.split())
        for match in _CANDIDATE_END.finditer(flat):
            if _ends_sentence(flat, match.end()):
                sentence = flat[start:match.end()].strip()
                if sentence:
                    sentences.append(sentence)
                start = match.end()
        tail = flat[start:].strip()
        if tail:
            sentences.append(tail)
    return sentences
