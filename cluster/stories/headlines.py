"""A story's headline as readers see it: the representative article's title
without the outlet's labels around it.

Outlets wrap titles in section labels ("VIDEO:", "WATCH:", "Opinion:",
"ANALYSIS-") and their own name ("... | Reuters", "... - The Guardian").
Neither says what happened, and both read oddly above coverage from many
outlets, so the story's headline drops them; the article keeps its title.
Opinion and analysis pieces are recognised by the same labels, so that the
representative of a story prefers a news report when it has one.
"""

from __future__ import annotations

import re

from cluster.articles.incoming import display_title

_LABEL = (r"(?:opinion|analysis|commentary|editorial|op-ed|column|perspective|watch|video|"
          r"live|breaking|exclusive|explainer|factbox|fact ?check|update(?:\s*\d+)?|photos?)")
_PREFIX = re.compile(rf"^(?:\s*{_LABEL}\s*[:\-–—|]\s*)+", re.IGNORECASE)
_OPINION = re.compile(r"^\s*(?:opinion|analysis|commentary|editorial|op-ed|column|"
                      r"perspective)\s*[:\-–—|]", re.IGNORECASE)
_SUFFIX = re.compile(r"\s+[|\-–—]\s+([^|\-–—]{2,60})$")


def clean_headline(title: str, source: str = "") -> str:
    """``title`` without leading section labels and without a trailing
    ``| Outlet`` naming its own outlet; the title itself if nothing is left."""
    cleaned = _PREFIX.sub("", title).strip()
    tail = _SUFFIX.search(cleaned)
    if tail and source:
        outlet, name = tail.group(1).strip().lower(), source.strip().lower()
        if outlet and (outlet in name or name in outlet):
            cleaned = cleaned[:tail.start()].strip()
    return cleaned or title


def story_headline(title: str, text: str, source: str) -> str:
    """The headline a story shows for its representative article: its title
    (or, untitled, its text's first sentence) without the outlet's labels."""
    return clean_headline(display_title(title, text)[0], source)


def is_opinion(title: str) -> bool:
    """Whether the title labels itself opinion, analysis or commentary."""
    return bool(_OPINION.match(title))
