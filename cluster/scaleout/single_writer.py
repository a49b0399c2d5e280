"""A single writer on a partitioned store, and what the partitions make of it.

The partitions and the single writer never run together (the store's locks
keep them apart), but an operator may stop the partitions and run a single
writer on their store: a re-cluster or a rebuild, an import, a deletion.
Such a writer moves articles between stories without index log entries (a
re-cluster, a merge), which a partition's snapshot, holding only the
articles of the stories its partition owned, cannot follow by replaying
the log. So a single writer that opens a store with a routing plan counts
the opening in the store's meta, and a partition whose snapshot was
written before the latest opening rebuilds its index from the store.
"""

from __future__ import annotations

from cluster.scaleout.routing import PLAN_META
from cluster.store import Reader, Store, Writer

OPENINGS_META = "single_writer_openings"
"""How many times a single writer opened the partitioned store."""
SEEN_META = "single_writer_openings_seen"
"""Per partition (``SEEN_META:partition-<n>``): the openings its snapshot follows."""


def note_single_writer(store: Store) -> None:
    """A single writer opens ``store`` (holding its writer lock): on a
    partitioned store, count the opening."""
    with store.read() as reader:
        if reader.meta(PLAN_META) is None:
            return
        openings = int(reader.meta(OPENINGS_META) or 0)
    with store.write() as writer:
        writer.set_meta(OPENINGS_META, str(openings + 1))


def snapshot_follows(reader: Reader, role: str) -> bool:
    """Whether the snapshot of the partition ``role`` was written after every
    single writer's opening of the store."""
    return (reader.meta(f"{SEEN_META}:{role}") or "0") == (reader.meta(OPENINGS_META) or "0")


def mark_followed(writer: Writer, role: str) -> None:
    """The partition ``role`` built its index from the store and wrote a
    snapshot of it: that snapshot follows every opening so far."""
    writer.set_meta(f"{SEEN_META}:{role}", writer.meta(OPENINGS_META) or "0")
