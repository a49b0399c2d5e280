"""The library's exception tree.

    ClusterError                    base of everything raised on purpose
    ├── InvalidInput                bad data from a caller; names the field  (→ 422)
    │   ├── BatchTooLarge           more articles in one call than allowed    (→ 413)
    │   └── InvalidCursor           a pagination cursor the service never issued (→ 400)
    ├── NotFound                    unknown article or story id               (→ 404)
    ├── ConfigurationError          a setting is invalid; names the setting
    └── IndexMismatch               index snapshot or store made by another model;
                                    the message says which script to run

The API maps each class to one HTTP status and one problem+json body; the
scripts print the message and exit non-zero.
"""

from __future__ import annotations


class ClusterError(Exception):
    """Base class of every error the library raises deliberately."""


class InvalidInput(ClusterError):
    """The caller sent data the service cannot accept."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class BatchTooLarge(InvalidInput):
    """A batch holds more articles than `max_batch` allows."""


class InvalidCursor(InvalidInput):
    """A pagination cursor that this service did not issue (forged or damaged)."""

    def __init__(self, field: str = "cursor") -> None:
        super().__init__(field, "is not a cursor returned by this API; start again without it")


class NotFound(ClusterError):
    """No article or story has the given id."""

    def __init__(self, kind: str, identifier: object) -> None:
        super().__init__(f"no {kind} with id {identifier!r}")
        self.kind = kind
        self.identifier = identifier


class ConfigurationError(ClusterError):
    """A setting is missing or invalid."""


class IndexMismatch(ClusterError):
    """Persisted vectors were made by a different model or with a different shape."""


class StoreUnavailable(ClusterError):
    """The store's server cannot be reached right now; nothing was changed."""
