"""Shared start-up for the scripts: settings, logging, clean error exits."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("sentence_transformers", "transformers", "httpx", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run(main: Callable[[], T]) -> T:
    """Run a script body: library errors become one line and exit status 2;
    Ctrl-C exits 130 after the library has rolled back the open batch."""
    from cluster.errors import ClusterError

    quiet_libraries()
    try:
        return main()
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("\ninterrupted: finished batches are stored; re-run to resume", file=sys.stderr)
        raise SystemExit(130) from None
