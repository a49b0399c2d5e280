"""Sentence splitting for extractive summaries, with no downloaded data.

A sentence ends at ``.``, ``!`` or ``?`` (plus any closing quotes or
brackets) followed by white space and an upper-case letter, digit or opening
quote, except after a known abbreviation (``Mr.``, ``U.S.``, ``Jan.``), a
single initial (``J. Smith``) or a number's decimal point. A paragraph break
always ends a sentence. This is the rule-based splitter news text needs;
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

_CANDIDATE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])")
_PARAGRAPH = re.compile(r"\n\s*\n|\r\n\s*\r\n")
_LAST_WORD = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")


def _ends_sentence(text: str, end: int) -> bool:
    """Whether the punctuation run ending at ``end`` closes a sentence."""
    piece = text[:end].rstrip("\"'”’)]")
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
