"""Type aliases shared across the library."""

from __future__ import annotations

from collections.abc import Callable
from typing import NewType

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float32]
"""One L2-normalised embedding, shape (d,)."""

Matrix = NDArray[np.float32]
"""A stack of embeddings, shape (n, d)."""

ArticleId = str
"""The public id of an article (client-chosen or derived from url/content)."""

ArticleKey = NewType("ArticleKey", int)
"""The store's integer key of an article; also its id in the vector index."""

StoryId = NewType("StoryId", int)
"""The stable integer id of a story."""

StorylineId = NewType("StorylineId", int)
"""The stable integer id of a storyline: the stories of one ongoing development share it."""

Timestamp = float
"""Seconds since the Unix epoch, UTC."""

Progress = Callable[[int, int], None]
"""Called as progress(done, total) by long operations."""
