"""Time and peak memory of one split check (``propose_split``) on synthetic
stories of growing size, with the current code and, optionally, an older
``cluster/splitting.py`` (sixth 1 Dec 2026 session):

    git show 6439d24:cluster/splitting.py > /tmp/old_splitting.py
    .venv/bin/python docs/measurements/split_check_cost.py [/tmp/old_splitting.py]

Each story has random unit vectors and members of 150-250 TF-IDF terms drawn
from a vocabulary that grows with the story, as a real story's does. Times
are without tracing; peak memory is a second, traced call (tracemalloc slows
the Python parts, not the arrays it counts).
"""

from __future__ import annotations

import importlib.util
import sys
import time
import tracemalloc
from types import ModuleType

import numpy as np

import cluster.splitting as current

SIZES = ((30, 2_000, 150), (100, 6_000, 200), (400, 20_000, 250), (1_500, 40_000, 250))


def load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("old_splitting", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    versions: list[tuple[str, ModuleType]] = [("current", current)]
    if len(sys.argv) > 1:
        versions.insert(0, ("old", load(sys.argv[1])))
    rng = np.random.default_rng(0)
    print(f"{'members':>8} {'terms':>7} {'version':>8} {'seconds':>8} {'peak MB':>8}")
    for members, vocabulary, per_member in SIZES:
        vectors = rng.normal(size=(members, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        weights = [{f"t{int(t)}": float(rng.random())
                    for t in rng.integers(0, vocabulary, per_member)} for _ in range(members)]
        for name, module in versions:
            started = time.perf_counter()
            module.propose_split(vectors, weights, 0.5, 0.6)
            seconds = time.perf_counter() - started
            tracemalloc.start()
            module.propose_split(vectors, weights, 0.5, 0.6)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(f"{members:>8} {vocabulary:>7} {name:>8} {seconds:>8.3f} {peak / 1e6:>8.0f}")


if __name__ == "__main__":
    main()
