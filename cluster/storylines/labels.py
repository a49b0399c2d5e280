"""How a storyline names itself: the key terms its stories' labels share.

A story's label is 3-5 key terms or names of one event ("COP31 · Antalya ·
adaptation"). What a development's events have in common is what names the
development: the terms found in the labels of the most stories, in the
order the first of those stories gives them. A storyline whose stories
share fewer than two terms borrows the label of its largest story. It is
computed from the stories' stored labels whenever it is read, so it is
never behind them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from cluster.stories.labels import format_label

SEPARATOR = " · "
MOST_TERMS = 4


def storyline_label(labels: Sequence[str], sizes: Sequence[int]) -> str:
    """The label of a storyline from its stories' labels (oldest first) and sizes."""
    terms_of = [[t.strip() for t in label.split(SEPARATOR) if t.strip()] for label in labels]
    found: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    order: dict[str, int] = {}
    for terms in terms_of:
        for term in dict.fromkeys(t.casefold() for t in terms):
            found[term] += 1
        for term in terms:
            spelling.setdefault(term.casefold(), term)
            order.setdefault(term.casefold(), len(order))
    shared = sorted((t for t, n in found.items() if n >= 2),
                    key=lambda t: (-found[t], order[t]))[:MOST_TERMS]
    if len(shared) >= 2:
        return format_label([spelling[t] for t in sorted(shared, key=order.__getitem__)])
    if not labels:
        return ""
    largest = max(range(len(labels)), key=lambda n: (sizes[n], -n))
    return labels[largest]
