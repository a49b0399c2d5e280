"""Reference methods the clusterer is compared with, on the same embeddings.

- ``centroid_single_pass``: the textbook online baseline. Each article joins
  the most similar story centroid among stories updated within ``window_days``
  if the cosine is at least ``tau``, else starts a story.
- ``bertopic``: BERTopic (Grootendorst 2022), UMAP + HDBSCAN over the same
  vectors, what most people would reach for; HDBSCAN's outliers become
  singletons. Needs the optional ``[eval]`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cluster.types import Matrix


def centroid_single_pass(
    vectors: Matrix, timestamps: Sequence[float | None], tau: float, window_days: float = 1.0
) -> list[int]:
    window = window_days * 86400.0
    sums: list[np.ndarray] = []
    last: list[float | None] = []
    labels: list[int] = []
    for vector, stamp in zip(vectors, timestamps, strict=True):
        best, best_sim = -1, -2.0
        if sums:
            matrix = np.stack(sums)
            sims = (matrix @ vector) / np.maximum(np.linalg.norm(matrix, axis=1), 1e-12)
            for story in np.argsort(-sims, kind="stable"):
                seen = last[story]
                if stamp is None or seen is None or stamp - seen <= window:
                    best, best_sim = int(story), float(sims[story])
                    break
        if best >= 0 and best_sim >= tau:
            sums[best] = sums[best] + vector
            if stamp is not None:
                previous = last[best]
                last[best] = stamp if previous is None else max(previous, stamp)
            labels.append(best)
        else:
            sums.append(vector.astype(np.float64))
            last.append(stamp)
            labels.append(len(sums) - 1)
    return labels


def bertopic_available() -> bool:
    """Whether the [eval] extra is installed (checked without importing it:
    importing UMAP compiles numba code and takes seconds)."""
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in ("bertopic", "hdbscan", "umap"))


def bertopic(texts: Sequence[str], vectors: Matrix, min_cluster_size: int = 2,
             seed: int = 42) -> list[int]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UMAP warns that TensorFlow is absent
        from bertopic import BERTopic
        from hdbscan import HDBSCAN
        from umap import UMAP

        umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine",
                          random_state=seed)
        hdbscan_model = HDBSCAN(min_cluster_size=min_cluster_size, metric="euclidean",
                                cluster_selection_method="eom", prediction_data=False)
        model = BERTopic(umap_model=umap_model, hdbscan_model=hdbscan_model,
                         calculate_probabilities=False, verbose=False)
        topics, _ = model.fit_transform(list(texts), embeddings=np.asarray(vectors))
    next_label = max(topics) + 1 if topics else 0
    labels: list[int] = []
    for topic in topics:
        if topic == -1:  # outlier: a story of its own
            labels.append(next_label)
            next_label += 1
        else:
            labels.append(int(topic))
    return labels
