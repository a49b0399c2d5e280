"""The service spread over machines: a durable ingest queue in the
PostgreSQL store, embedding workers that pull from it, the one writer that
clusters what they embedded, and the Ray actors that run both
(docs/SCALE_OUT.md). The single-machine service imports nothing here but
`single_writer.py`, which notes its openings of a partitioned store."""
