"""The service spread over machines: a durable ingest queue in the
PostgreSQL store, embedding workers that pull from it, the one writer that
clusters what they embedded, and the Ray actors that run both
(docs/SCALE_OUT.md). Nothing here is imported by the single-machine service."""
