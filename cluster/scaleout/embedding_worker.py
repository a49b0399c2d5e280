"""An embedding worker: claims queued articles, embeds them with the model it
loaded once, and stores the vectors back in the queue. Any number run side by
side, on any machines that reach the store; ``run`` is what a Ray actor runs."""

from __future__ import annotations

import logging
import threading

from cluster.embedding.models import Embedder, embedding_text, text_fingerprint
from cluster.scaleout.queue import DEFAULT_LEASE_S, IngestQueue

LOG = logging.getLogger(__name__)

IDLE_WAIT_S = 0.2
"""How long an idle worker waits before it looks at the queue again."""


class EmbeddingWorker:
    def __init__(self, queue: IngestQueue, embedder: Embedder, lead_chars: int, name: str,
                 batch: int = 64, lease_s: float = DEFAULT_LEASE_S) -> None:
        self.queue = queue
        self.embedder = embedder
        self.lead_chars = lead_chars
        self.name = name
        self.batch = batch
        self.lease_s = lease_s
        self.embedded = 0
        """Rows this worker completed."""

    def embed_some(self) -> int:
        """Claim, embed and complete one batch; how many rows it claimed."""
        claimed = self.queue.claim(self.name, self.batch, self.lease_s)
        if not claimed:
            return 0
        texts = [embedding_text(a.title, a.text, self.lead_chars) for _, a in claimed]
        vectors = self.embedder.embed(texts)
        model = self.embedder.model_name
        self.embedded += self.queue.complete(self.name, [
            (seq, vector, text_fingerprint(text, model))
            for (seq, _), vector, text in zip(claimed, vectors, texts, strict=True)])
        return len(claimed)

    def run(self, stop: threading.Event) -> int:
        """Embed until ``stop`` is set; rows completed."""
        while not stop.is_set():
            try:
                if self.embed_some() == 0:
                    stop.wait(IDLE_WAIT_S)
            except Exception:  # the store restarting, a network blip: the claim expires
                LOG.exception("embedding worker %s: a batch failed; retrying", self.name)
                stop.wait(1.0)
        return self.embedded
