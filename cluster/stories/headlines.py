"""A story's headline as readers see it: the representative article's title
without the outlet's labels around it.

Outlets wrap titles in section labels ("VIDEO:", "WATCH:", "Opinion:",
"ANALYSIS-") and their own name ("... | Reuters", "... - The Guardian").
Neither says what happened, and both read oddly above coverage from many
outlets, so the story's headline drops them; the article keeps its title.
Opinion and analysis pieces are recognised by the same labels, or by the
outlet's section in their address ("/opinion/"), so that the representative
of a story prefers a news report when it has one.
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


_OPINION_SECTION = re.compile(
    r"/(?:opinions?|commentary|editorials?|analysis|columns?|columnists?|op-?eds?|"
    r"perspectives?|voices|ideas)/", re.IGNORECASE)
"""An outlet's opinion section in an article's address ("/opinion/",
"/commentary/", "/columnists/"); not "/blog/", where outlets also run news."""


def is_opinion(title: str, url: str | None = None) -> bool:
    """Whether the title labels itself opinion, analysis or commentary, or the
    article's address puts it in such a section of its outlet."""
    if _OPINION.match(title):
        return True
    if not url:
        return False
    path = url.split("://", 1)[-1].partition("/")[2].split("?", 1)[0]
    return bool(_OPINION_SECTION.search("/" + path))
